import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { categoricalDrift, numericDrift } from '../../lib/stats/drift';
import { ksStatistic, ksTwoSample } from '../../lib/stats/ks';
import { kolmogorovSf, smirnovSf } from '../../lib/stats/kolmogorov';
import { sortFloat64 } from '../../lib/stats/sort';
import { chiSquareSf } from '../../lib/stats/special';

/**
 * Expected values come from test/reference/drift_reference.py: scipy 1.17.1 (ks_2samp, kstwo.sf, smirnov,
 * chi2.sf) and Evidently 0.7.23 (its psi, jensenshannon, wasserstein and chisquare stattests), numpy 2.4.6.
 */
interface GeneratorSpec {
  n: number;
  seed: number;
  scale: number;
  shift: number;
  round?: boolean;
}
interface Sample {
  values?: (number | string)[];
  generate?: GeneratorSpec;
}
interface Case {
  name: string;
  kind: 'numeric' | 'categorical';
  reference: Sample;
  current: Sample;
  expected: Record<string, number>;
}
const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'reference', 'drift-vectors.json'), 'utf8')) as {
  generatedBy: Record<string, string>;
  cases: Case[];
  kstwo: { n: number; x: number; sf: number }[];
  smirnov: { n: number; x: number; sf: number }[];
  chi2: { x: number; df: number; sf: number }[];
};

/** The generator of drift_reference.py, with the same floating-point operations in the same order. */
function uniform(n: number, a: number, b: number): Float64Array {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = ((Math.imul(k, a) + b) >>> 0) / 4294967296;
  return out;
}
function generate(spec: GeneratorSpec): Float64Array {
  const u1 = uniform(spec.n, 2654435761, spec.seed);
  const u2 = uniform(spec.n, 2246822519, spec.seed * 3 + 1);
  const u3 = uniform(spec.n, 3266489917, spec.seed * 7 + 2);
  const out = new Float64Array(spec.n);
  for (let i = 0; i < spec.n; i++) {
    const v = (u1[i] + u2[i] + u3[i] - 1.5) * spec.scale + spec.shift;
    out[i] = spec.round ? Math.floor(v) : v;
  }
  return out;
}
const numbers = (s: Sample): Float64Array =>
  sortFloat64(s.generate ? generate(s.generate) : Float64Array.from(s.values as number[]));
const counts = (s: Sample): Map<string, number> => {
  const m = new Map<string, number>();
  for (const v of s.values as string[]) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
};

function close(actual: number, expected: number, what: string): void {
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: got ${actual}, expected ${expected} (Δ ${actual - expected})`,
  );
}

describe(`drift statistics match scipy ${vectors.generatedBy.scipy} / Evidently ${vectors.generatedBy.evidently} to 1e-9`, () => {
  for (const c of vectors.cases) {
    it(c.name, () => {
      if (c.kind === 'numeric') {
        const d = numericDrift(numbers(c.reference), numbers(c.current));
        close(d.ks.statistic, c.expected.ks_statistic, 'KS statistic');
        close(d.ks.pValue, c.expected.ks_pvalue, `KS p-value (${d.ks.method})`);
        close(d.psi, c.expected.psi, 'PSI');
        close(d.jensenShannon, c.expected.jensenshannon, 'Jensen–Shannon');
        close(d.wasserstein, c.expected.wasserstein_norm, 'Wasserstein (normed)');
      } else {
        const d = categoricalDrift(counts(c.reference), counts(c.current));
        close(d.chiSquare.pValue, c.expected.chisquare_pvalue, 'chi-square p-value');
        close(d.psi, c.expected.psi, 'PSI');
        close(d.jensenShannon, c.expected.jensenshannon, 'Jensen–Shannon');
      }
    });
  }

  it('the two-sided one-sample KS survival function, in every regime', () => {
    for (const k of vectors.kstwo) close(kolmogorovSf(k.n, k.x), k.sf, `kstwo.sf(${k.x}, ${k.n})`);
  });

  it("Smirnov's one-sided distribution", () => {
    for (const s of vectors.smirnov) close(smirnovSf(s.n, s.x), s.sf, `smirnov(${s.n}, ${s.x})`);
  });

  it('the chi-square survival function', () => {
    for (const c of vectors.chi2) close(chiSquareSf(c.x, c.df), c.sf, `chi2.sf(${c.x}, ${c.df})`);
  });

  it('radix sort orders like a comparison sort, negatives and zeros included', () => {
    const xs = Float64Array.from({ length: 5000 }, (_, i) => Math.sin(i * 12.9898) * 1e3 * (i % 7 === 0 ? -1 : 1));
    xs[10] = -0;
    xs[11] = 0;
    xs[12] = -Infinity;
    xs[13] = Infinity;
    assert.deepEqual(
      Array.from(sortFloat64(xs)),
      Array.from(xs.slice().sort()).map((x) => (x === 0 ? 0 : x)),
    );
  });

  // These used to loop forever (a NaN never equals itself, so the merge sweep never advanced) or return a wrong D.
  describe('bad input is refused or handled like scipy, never looped on', () => {
    it('NaN is refused with its position', () => {
      assert.throws(() => ksStatistic([1, NaN, 2, 3], [1, 2, 3, 4]), /sample a\[1\] is NaN/);
      assert.throws(() => ksTwoSample([1, 2, 3, 4], [1, 2, NaN, 4]), /sample b\[2\] is NaN/);
      assert.throws(
        () => numericDrift(Float64Array.from([1, 2, 3, 4]), Float64Array.from([1, NaN, 3, 4])),
        /current\[1\] is NaN/,
      );
      assert.throws(
        () => numericDrift(Float64Array.from([1, 2, Infinity, 4]), Float64Array.from([1, 2, 3, 4])),
        /reference\[2\] is Infinity/,
      );
    });

    it('unsorted samples give the same answer as sorted ones (scipy sorts its inputs)', () => {
      const a = [5, 1, 4, 2, 3, 9, 0.5];
      const b = [2.5, 7, 1, 8, 3.5];
      const sortedA = [...a].sort((x, y) => x - y);
      const sortedB = [...b].sort((x, y) => x - y);
      // scipy 1.17.1: stats.ks_2samp([5, 1, 4, 2, 3, 9, 0.5], [2.5, 7, 1, 8, 3.5]).statistic = 0.2571428571428571
      // (scipy answers NaN for a NaN input; Lumen refuses it instead: a drift verdict must never rest on NaN)
      close(ksStatistic(a, b), 0.2571428571428571, 'KS statistic of unsorted samples');
      assert.equal(ksStatistic(a, b), ksStatistic(sortedA, sortedB));
      const unsorted = numericDrift(Float64Array.from(a), Float64Array.from(b));
      const sorted = numericDrift(Float64Array.from(sortedA), Float64Array.from(sortedB));
      assert.deepEqual(unsorted, sorted);
    });
  });
});
