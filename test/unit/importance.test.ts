import assert from 'node:assert/strict';
import type { LayersModel } from '@tensorflow/tfjs';
import { compareImportance, permutationImportance, type Importance } from '../../lib/explain/importance';
import { importanceLines } from '../../lib/explain/importance-text';
import { encodeCodes } from '../../lib/features';
import { fixtureCodes, fixtureNetwork, shapFixture } from '../support/shap-fixture';
import { offsetsOf } from '../../lib/features/types';
import { predictRows } from '../../lib/model/predict';
import { loadTf, type Tf } from '../../lib/model/tf';

/**
 * Permutation importance over the spec's features, on the trained penguins network of the Shapley reference
 * (test/reference/shap-fixture.json) and its 30 rows, labelled with the network's own answers (so the rows as
 * they are score 100% accuracy, and every loss is the feature's doing).
 */
const fixture = shapFixture;
const pre = fixture.preprocessor;
const codes = fixtureCodes(fixture.background.codes.map((c, f) => [...c, ...fixture.explained.codes[f]]));
const rows = codes[0].length;
const classes = fixture.layers[fixture.layers.length - 1].bias.length;

describe('permutation importance over the spec features', () => {
  let tf: Tf;
  before(async () => {
    ({ tf } = await loadTf());
  });

  const answers = (m: LayersModel, x: Float32Array, n: number): number[] => {
    const out = predictRows(tf, m, x, n, pre.width);
    return Array.from({ length: n }, (_, r) => {
      let best = 0;
      for (let k = 1; k < classes; k++) if (out[r * classes + k] > out[r * classes + best]) best = k;
      return best;
    });
  };
  const importanceOf = (m: LayersModel, seed: number, higherIsBetter = true) => {
    const truth = answers(m, encodeCodes(pre, codes, rows), rows);
    const accuracy = (x: Float32Array, n: number) => answers(m, x, n).filter((a, r) => a === truth[r]).length / n;
    return permutationImportance({
      pre,
      codes,
      rows,
      measure: higherIsBetter ? accuracy : (x, n) => 1 - accuracy(x, n),
      metric: { name: higherIsBetter ? 'accuracy' : 'error', higherIsBetter },
      repeats: 8,
      seed,
    });
  };

  it('a feature the network reads loses accuracy when shuffled; one it ignores loses exactly nothing', async () => {
    const sex = pre.features.findIndex((f) => f.name === 'sex');
    const start = offsetsOf(pre.features)[sex];
    const width = pre.inputNames.filter((n) => n.startsWith('sex=')).length;
    const blind = fixture.layers.map((l, i) =>
      i === 0
        ? { ...l, kernel: l.kernel.map((row, k) => (k >= start && k < start + width ? row.map(() => 0) : row)) }
        : l,
    );
    const got = await importanceOf(fixtureNetwork(tf, blind), 3);
    assert.equal(got.baseline, 1);
    assert.equal(got.rows, rows);
    const bySex = got.features[sex];
    assert.deepEqual([bySex.mean, bySex.low, bySex.high], [0, 0, 0]);
    assert.ok(
      got.features.some((f) => f.mean > 0.1),
      JSON.stringify(got.features.map((f) => [f.feature, f.mean])),
    );
    for (const f of got.features) assert.ok(f.low <= f.mean && f.mean <= f.high);
  });

  it('is seeded: the same seed gives the same values; a lower-is-better metric reads the same way round', async () => {
    const m = fixtureNetwork(tf);
    const a = await importanceOf(m, 5);
    assert.deepEqual(await importanceOf(m, 5), a);
    assert.notDeepEqual(
      (await importanceOf(m, 6)).features.map((f) => f.mean),
      a.features.map((f) => f.mean),
    );
    // the error rises by what accuracy falls: the same importances
    const asError = await importanceOf(m, 5, false);
    asError.features.forEach((f, i) => assert.ok(Math.abs(f.mean - a.features[i].mean) < 1e-12));
    await assert.rejects(
      () =>
        permutationImportance({
          pre,
          codes,
          rows,
          measure: () => 1,
          metric: { name: 'x', higherIsBetter: true },
          repeats: 1,
          seed: 0,
        }),
      /at least 2 repeats/,
    );
  });
});

describe('importance beside the champion', () => {
  const measured = (features: [string, number, number][]): Importance => ({
    metric: 'auc',
    baseline: 0.8,
    repeats: 5,
    seed: 7,
    rows: 400,
    features: features.map(([feature, mean, half]) => ({
      feature,
      columns: [feature],
      mean,
      low: mean - half,
      high: mean + half,
    })),
  });

  it('ranks by reliance, says the change per feature, which changes exceed the noise, and what is no longer read', () => {
    const candidate = measured([
      ['distance', 0.05, 0.01],
      ['hour', 0.12, 0.01],
      ['origin', 0.02, 0.03],
    ]);
    const champion = measured([
      ['hour', 0.04, 0.01],
      ['origin', 0.03, 0.02],
      ['weekday', 0.01, 0.005],
    ]);
    const c = compareImportance(candidate, { version: 3, importance: champion });
    assert.equal(c.championVersion, 3);
    assert.deepEqual(
      c.features.map((f) => [f.feature, f.rank, f.champion?.rank ?? null]),
      [
        ['hour', 1, 1],
        ['distance', 2, null],
        ['origin', 3, 2],
      ],
    );
    const hour = c.features[0];
    assert.ok(Math.abs(hour.change! - 0.08) < 1e-12);
    assert.equal(hour.shifted, true, '[0.11, 0.13] against [0.03, 0.05]: beyond the repeats');
    assert.equal(c.features[2].shifted, false, 'overlapping intervals are noise');
    assert.equal(c.features[1].change, null, 'a feature the champion does not read has no change');
    assert.deepEqual(c.dropped, [{ feature: 'weekday', mean: 0.01, rank: 3 }]);

    const lines = importanceLines(c);
    assert.match(lines[0], /^auc lost when a feature is shuffled, 5 repeats on 400 holdout rows \(beside champion v3/);
    assert.match(lines[1], /^ 1 hour +0\.1200 \[0\.1100, 0\.1300\] +v3 0\.0400 \(#1\) +\+0\.0800 ↑$/);
    assert.match(lines[2], /distance .* new feature$/);
    assert.match(lines[4], /weekday +not read any more \(v3: 0\.0100, #3\)/);

    const alone = compareImportance(candidate, null);
    assert.equal(alone.championVersion, null);
    assert.ok(alone.features.every((f) => f.champion === null && f.change === null && !f.shifted));
    assert.doesNotMatch(importanceLines(alone).join('\n'), /champion|new feature/);
  });
});
