import { chiSquareSf } from './special';
import { ksTwoSample, type KsResult } from './ks';
import { sortFloat64 } from './sort';

/**
 * Distribution-shift statistics between a reference and a current sample, defined exactly as Evidently 0.7
 * (PSI, Jensen–Shannon distance, normed Wasserstein, chi-square p-value) and scipy 1.17 (ks_2samp) define them,
 * so that a threshold tuned with those tools means the same here. Inputs are sorted finite values (numeric)
 * or value counts (categorical).
 */

export interface NumericDrift {
  ks: KsResult;
  psi: number;
  jensenShannon: number;
  /** Wasserstein-1 distance divided by max(std(reference), 0.001) */
  wasserstein: number;
}

export interface CategoricalDrift {
  chiSquare: { statistic: number; pValue: number; df: number };
  psi: number;
  jensenShannon: number;
}

/** Above this many distinct reference values a numeric column is binned; at or below, each value is its own bin. */
const MAX_VALUES_AS_CATEGORIES = 20;

export function numericDrift(referenceValues: Float64Array, currentValues: Float64Array): NumericDrift {
  if (referenceValues.length === 0 || currentValues.length === 0) throw new Error('drift needs non-empty samples');
  const reference = ascendingFinite(referenceValues, 'reference');
  const current = ascendingFinite(currentValues, 'current');
  const [r, c] = binnedShares(reference, current);
  const { ksD, wasserstein } = sweep(reference, current);
  return {
    ks: ksTwoSample(reference, current, ksD),
    psi: psiOf(fillZeros(r), fillZeros(c)),
    jensenShannon: jensenShannonDistance(r, c),
    wasserstein: wasserstein / Math.max(std(reference), 0.001),
  };
}

export function categoricalDrift(reference: Map<string, number>, current: Map<string, number>): CategoricalDrift {
  const keys = [...new Set([...reference.keys(), ...current.keys()])];
  const nRef = sum([...reference.values()]);
  const nCur = sum([...current.values()]);
  if (nRef === 0 || nCur === 0) throw new Error('drift needs non-empty samples');
  const r = Float64Array.from(keys, (k) => (reference.get(k) ?? 0) / nRef);
  const c = Float64Array.from(keys, (k) => (current.get(k) ?? 0) / nCur);
  // scipy.stats.chisquare(f_obs = current counts, f_exp = reference counts scaled to the current total)
  const scale = nCur / nRef;
  let statistic = 0;
  for (const k of keys) {
    const expected = (reference.get(k) ?? 0) * scale;
    const observed = current.get(k) ?? 0;
    statistic += ((observed - expected) * (observed - expected)) / expected;
  }
  if (Number.isNaN(statistic)) statistic = Infinity; // 0/0 only arises next to an x/0 term
  const df = keys.length - 1;
  return {
    chiSquare: { statistic, pValue: df > 0 ? chiSquareSf(statistic, df) : 1, df },
    psi: psiOf(fillZeros(r), fillZeros(c)),
    jensenShannon: jensenShannonDistance(r, c),
  };
}

/**
 * The values as an ascending array: the same array when it already is one (the common, cached case: one pass to
 * check), a sorted copy otherwise (as scipy sorts its inputs). NaN and ±Inf have no place in a distance between
 * distributions — a NaN would also stall the merge sweep — so they are refused with their position.
 */
export function ascendingFinite(values: Float64Array, name: string): Float64Array {
  let sorted = true;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isFinite(x)) {
      throw new RangeError(
        `drift needs finite values: ${name}[${i}] is ${x} (drop missing and non-finite values before measuring drift)`,
      );
    }
    if (i > 0 && x < values[i - 1]) sorted = false;
  }
  return sorted ? values : sortFloat64(values);
}

/**
 * Shares per bin. Many distinct values: numpy's "sturges" edges over both samples together (equal-width bins,
 * half-open except the last), counted like np.histogram with explicit edges. Few distinct values: one bin per value.
 */
export function binnedShares(reference: Float64Array, current: Float64Array): [Float64Array, Float64Array] {
  if (distinctCount(reference) <= MAX_VALUES_AS_CATEGORIES) {
    const counts = (xs: Float64Array): Map<string, number> => {
      const m = new Map<string, number>();
      for (const x of xs) m.set(String(x), (m.get(String(x)) ?? 0) + 1);
      return m;
    };
    const rc = counts(reference);
    const cc = counts(current);
    const keys = [...new Set([...rc.keys(), ...cc.keys()])];
    return [
      Float64Array.from(keys, (k) => (rc.get(k) ?? 0) / reference.length),
      Float64Array.from(keys, (k) => (cc.get(k) ?? 0) / current.length),
    ];
  }
  const edges = sturgesEdges(reference, current);
  return [histogramShares(reference, edges), histogramShares(current, edges)];
}

/** np.histogram_bin_edges(concat(a, b), bins="sturges") for sorted a and b. */
export function sturgesEdges(a: Float64Array, b: Float64Array): Float64Array {
  const lo = Math.min(a[0], b[0]);
  const hi = Math.max(a[a.length - 1], b[b.length - 1]);
  const size = a.length + b.length;
  const ptp = hi - lo;
  let first = lo;
  let last = hi;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const width = ptp / (Math.log2(size) + 1);
  const bins = width ? Math.ceil((last - first) / width) : 1;
  // np.linspace: i·step + start, last edge set to stop exactly
  const step = (last - first) / bins;
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = i * step + first;
  edges[bins] = last;
  return edges;
}

/** Counts per bin [e_i, e_{i+1}) (last bin closed) of sorted values, divided by the sample size. */
export function histogramShares(sorted: Float64Array, edges: Float64Array): Float64Array {
  const bins = edges.length - 1;
  const shares = new Float64Array(bins);
  let bin = 0;
  const lo = edges[0];
  const hi = edges[bins];
  for (let i = 0; i < sorted.length; i++) {
    const x = sorted[i];
    if (x < lo || x > hi) continue;
    while (bin < bins - 1 && x >= edges[bin + 1]) bin++;
    shares[bin]++;
  }
  for (let i = 0; i < bins; i++) shares[i] /= sorted.length;
  return shares;
}

/** Evidently's zero replacement: empty bins get min(non-zero share)/10⁶ if that is ≤ 10⁻⁴, else 10⁻⁴. */
function fillZeros(shares: Float64Array): Float64Array {
  let min = Infinity;
  for (const s of shares) if (s !== 0 && s < min) min = s;
  const fill = min <= 0.0001 ? min / 1e6 : 0.0001;
  return shares.map((s) => (s === 0 ? fill : s));
}

export function psiOf(r: Float64Array, c: Float64Array): number {
  let total = 0;
  for (let i = 0; i < r.length; i++) total += (r[i] - c[i]) * Math.log(r[i] / c[i]);
  return total;
}

/** scipy.spatial.distance.jensenshannon with natural logarithms: √(½ KL(p‖m) + ½ KL(q‖m)), m = (p + q)/2. */
export function jensenShannonDistance(p: Float64Array, q: Float64Array): number {
  const ps = sum(p);
  const qs = sum(q);
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / ps;
    const qi = q[i] / qs;
    const m = (pi + qi) / 2;
    if (pi > 0) left += pi * Math.log(pi / m);
    if (qi > 0) right += qi * Math.log(qi / m);
  }
  return Math.sqrt((left + right) / 2);
}

/**
 * One pass over the merged sorted samples for both sup |F_u − F_v| (the KS statistic) and ∫ |F_u − F_v|
 * (scipy.stats.wasserstein_distance). All terms of the integral are non-negative, so plain summation is accurate
 * to n·ε relative (2·10⁻¹⁰ for two million values) without compensation.
 */
function sweep(u: Float64Array, v: Float64Array): { ksD: number; wasserstein: number } {
  const nu = u.length;
  const nv = v.length;
  let i = 0;
  let j = 0;
  let d = 0;
  let total = 0;
  let gap = 0;
  let prev = u[0] < v[0] ? u[0] : v[0];
  while (i < nu || j < nv) {
    const x = j >= nv || (i < nu && u[i] <= v[j]) ? u[i] : v[j];
    total += gap * (x - prev);
    prev = x;
    while (i < nu && u[i] === x) i++;
    while (j < nv && v[j] === x) j++;
    gap = Math.abs(i / nu - j / nv);
    if (gap > d) d = gap;
  }
  return { ksD: d, wasserstein: total };
}

/** Population standard deviation (numpy's default, ddof = 0), two-pass. */
export function std(xs: Float64Array): number {
  const n = xs.length;
  const mean = sum(xs) / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const e = xs[i] - mean;
    ss += e * e;
  }
  return Math.sqrt(ss / n);
}

function distinctCount(sorted: Float64Array): number {
  let count = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) count++;
  return count;
}

/** Neumaier-compensated sum, so long sums of shares do not drift from numpy's pairwise sum. */
function sum(xs: Float64Array | number[]): number {
  let total = 0;
  let c = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const t = total + x;
    c += Math.abs(total) >= Math.abs(x) ? total - t + x : x - t + total;
    total = t;
  }
  return total + c;
}
