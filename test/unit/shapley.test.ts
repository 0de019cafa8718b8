import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import { fixtureCodes, fixtureNetwork, shapFixture } from '../support/shap-fixture';
import { shapley, type Game } from '../../lib/explain/shapley';
import { offsetsOf } from '../../lib/features/types';
import { predictRows } from '../../lib/model/predict';
import { loadTf, type Tf } from '../../lib/model/tf';

/**
 * Attributions over features, held to the Python `shap` package (0.51.0, ExactExplainer; the versions are in
 * test/reference/shap-vectors.json) on the same trained penguins network and background
 * (test/reference/shap_fixture.ts, shap_reference.py).
 */
interface Reference {
  rows: { values: number[][]; base: number[]; output: number[] }[];
}

const dir = path.join(__dirname, '..', 'reference');
const fixture = shapFixture;
const reference = JSON.parse(fs.readFileSync(path.join(dir, 'shap-vectors.json'), 'utf8')) as Reference;
const pre = fixture.preprocessor;
const F = pre.features.length;
const background = fixtureCodes(fixture.background.codes);
const explained = fixtureCodes(fixture.explained.codes);
/** the explained row r's codes, one per feature */
const rowOf = (r: number): Float64Array => Float64Array.from(explained, (c) => c[r]);

describe('explanations: Shapley values over the spec features', () => {
  let tf: Tf;
  let model: LayersModel;
  const classes = fixture.layers[fixture.layers.length - 1].bias.length;
  const gameFor = (cls: number, m: LayersModel = model): Game => ({
    pre,
    background,
    score: (x, rows) => {
      const out = predictRows(tf, m, x, rows, pre.width);
      return Float64Array.from({ length: rows }, (_, r) => out[r * classes + cls]);
    },
  });

  before(async () => {
    ({ tf } = await loadTf());
    model = fixtureNetwork(tf);
  });

  it('agree with shap.ExactExplainer on every row and class: values within 2e-6, the same ranking', () => {
    for (let r = 0; r < reference.rows.length; r++) {
      const expected = reference.rows[r];
      for (let cls = 0; cls < classes; cls++) {
        const got = shapley(gameFor(cls), rowOf(r));
        assert.equal(got.method, 'exact');
        assert.ok(Math.abs(got.base - expected.base[cls]) < 2e-6, `row ${r} class ${cls} base`);
        assert.ok(Math.abs(got.output - expected.output[cls]) < 2e-6, `row ${r} class ${cls} output`);
        got.features.forEach((f, i) => {
          const want = expected.values[cls][i];
          assert.ok(Math.abs(f.value - want) < 2e-6, `row ${r} class ${cls} ${f.feature}: ${f.value} vs shap ${want}`);
        });
        const rank = (xs: number[]) => xs.map((_, i) => i).sort((a, b) => Math.abs(xs[b]) - Math.abs(xs[a]));
        const ours = got.features.map((f) => f.value);
        // features whose values shap separates by more than the tolerance come in the same order
        const theirs = expected.values[cls];
        const order = rank(theirs);
        for (let k = 1; k < order.length; k++) {
          if (Math.abs(theirs[order[k - 1]]) - Math.abs(theirs[order[k]]) < 1e-5) continue;
          assert.ok(Math.abs(ours[order[k - 1]]) > Math.abs(ours[order[k]]), `row ${r} class ${cls}: rank ${k}`);
        }
      }
    }
  });

  it('add up to the output minus the background average (efficiency), exact and sampled', () => {
    for (let r = 0; r < explained[0].length; r++) {
      const exact = shapley(gameFor(0), rowOf(r));
      const sum = exact.features.reduce((s, f) => s + f.value, 0);
      assert.ok(
        Math.abs(exact.base + sum - exact.output) < 1e-9,
        `row ${r}: ${exact.base} + ${sum} vs ${exact.output}`,
      );
      const sampled = shapley(gameFor(0), rowOf(r), { exactUpTo: 0, orders: 64, seed: 5 });
      assert.equal(sampled.method, 'sampled');
      assert.equal(sampled.orders, 64);
      const sampledSum = sampled.features.reduce((s, f) => s + f.value, 0);
      assert.ok(Math.abs(sampled.base + sampledSum - sampled.output) < 1e-9, `row ${r}: sampled`);
      // and come near the exact values
      sampled.features.forEach((f, i) =>
        assert.ok(Math.abs(f.value - exact.features[i].value) < 0.02, `row ${r} ${f.feature}: sampled ${f.value}`),
      );
    }
  });

  it('give a feature the network does not read nothing, and name the spec features with their columns', () => {
    const ignored = pre.features.findIndex((f) => f.name === 'sex');
    const start = offsetsOf(pre.features)[ignored];
    const width = pre.inputNames.filter((n) => n.startsWith('sex=')).length;
    assert.ok(width > 0);
    const blind = fixture.layers.map((l, i) =>
      i === 0
        ? { ...l, kernel: l.kernel.map((row, k) => (k >= start && k < start + width ? row.map(() => 0) : row)) }
        : l,
    );
    const got = shapley(gameFor(0, fixtureNetwork(tf, blind)), rowOf(0));
    assert.equal(got.features[ignored].value, 0);
    assert.deepEqual(
      got.features.map((f) => [f.feature, f.columns]),
      pre.features.map((f) => [f.name, [(f as { column: string }).column]]),
    );
    assert.throws(() => shapley(gameFor(0), new Float64Array(F - 1)), /a row of 5 feature codes; the model has 6/);
  });

  it('same seed, same sampled values; another seed, other values', () => {
    const a = shapley(gameFor(1), rowOf(2), { exactUpTo: 0, orders: 8, seed: 1 });
    const b = shapley(gameFor(1), rowOf(2), { exactUpTo: 0, orders: 8, seed: 1 });
    const c = shapley(gameFor(1), rowOf(2), { exactUpTo: 0, orders: 8, seed: 2 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(
      a.features.map((f) => f.value),
      c.features.map((f) => f.value),
    );
  });
});
