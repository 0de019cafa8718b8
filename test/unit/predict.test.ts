import assert from 'node:assert/strict';
import type { Table } from '../../lib/data/table';
import { compactLayout, encodeCompact, encodeFeatures, expandCompact, fitPreprocessor } from '../../lib/features';
import { buildNetwork } from '../../lib/model/network';
import { compactForward, predictRows, predictRowsLayers, servingForward } from '../../lib/model/predict';
import { loadTf } from '../../lib/model/tf';
import { prng } from '../../lib/rng';
import { parseModelSpec, type ModelSpec, type ModelSpecInput } from '../../lib/spec';

/**
 * The fused forward pass (one kernel per dense layer) must predict what tfjs-layers' own predict does, for every
 * head Lumen builds and every hidden activation a spec can ask for.
 */
describe('the fused forward pass', () => {
  for (const [head, units, activation] of [
    ['sigmoid', 1, 'relu'],
    ['softmax', 5, 'tanh'],
    ['linear', 1, 'elu'],
  ] as const) {
    it(`${activation} hidden layers, ${head} head: equal to the layers path to 1e-6`, async () => {
      const { tf } = await loadTf();
      const model = tf.sequential();
      model.add(
        tf.layers.dense({
          units: 16,
          activation,
          inputShape: [12],
          kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
          biasInitializer: tf.initializers.randomNormal({ seed: 4 }),
        }),
      );
      model.add(
        tf.layers.dense({ units: 8, activation, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
      );
      model.add(
        tf.layers.dense({ units, activation: head, kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }),
      );
      const rand = prng(7);
      const rows = 1000;
      // a third of the inputs zero, as one-hot columns mostly are
      const x = Float32Array.from({ length: rows * 12 }, () => (rand() < 0.33 ? 0 : rand() * 4 - 2));
      const before = tf.memory().numTensors;
      const fused = predictRows(tf, model, x, rows, 12, 256);
      // the serving pass, row by row and in small batches, without tfjs
      const serving = servingForward(tf, model);
      assert.ok(serving.smallBatchRows >= 64, `small batches go up to ${serving.smallBatchRows} rows`);
      const plain = new Float32Array(fused.length);
      const k = fused.length / rows;
      for (let from = 0; from < rows; from += 37) {
        const m = Math.min(37, rows - from);
        plain.set(serving(x.subarray(from * 12, (from + m) * 12), m, 12), from * k);
      }
      assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
      const layers = predictRowsLayers(tf, model, x, rows, 12);
      assert.equal(fused.length, layers.length);
      let worst = 0;
      let plainWorst = 0;
      for (let i = 0; i < fused.length; i++) {
        worst = Math.max(worst, Math.abs(fused[i] - layers[i]));
        plainWorst = Math.max(plainWorst, Math.abs(plain[i] - layers[i]));
      }
      assert.ok(worst <= 1e-6, `fused: largest difference ${worst}`);
      assert.ok(plainWorst <= 1e-6, `serving pass: largest difference ${plainWorst}`);
      // a batch above the small-batch size goes to tfjs and still agrees
      const big = serving(x, rows, 12);
      for (let i = 0; i < fused.length; i++) assert.ok(Math.abs(big[i] - layers[i]) <= 1e-6);
      model.dispose();
    });
  }
});

/**
 * Batch scoring feeds a plain dense network compact rows: dense inputs, and each one-hot group as one position whose
 * kernel row is gathered. The same sums as the full matmul in another order, so equal to 1e-6 — for every kind of
 * input a spec can declare, missing values and unknown categories included.
 */
describe('the compact first layer of batch scoring', () => {
  const columns = [
    { name: 'date', type: 'timestamp' as const },
    { name: 'delay', type: 'integer' as const },
    { name: 'distance', type: 'integer' as const },
    { name: 'origin', type: 'string' as const },
    { name: 'carrier', type: 'string' as const },
  ];
  const features = (originEncoding: 'oneHot' | 'embedding'): ModelSpecInput['features'] => [
    { name: 'hour', column: 'date', transform: { kind: 'hourOfDay' } },
    { name: 'weekday', column: 'date', transform: { kind: 'dayOfWeek', encoding: 'cyclical' } },
    { name: 'month', column: 'date', transform: { kind: 'month' } },
    { name: 'dist', column: 'distance', transform: { kind: 'numeric', log: true } },
    {
      name: 'origin',
      column: 'origin',
      transform: { kind: 'categorical', maxCategories: 20, minCount: 5, encoding: originEncoding },
    },
    { name: 'carrier', column: 'carrier', transform: { kind: 'categorical', maxCategories: 5, minCount: 5 } },
    { name: 'carrier_x_hour', transform: { kind: 'cross', of: ['carrier', 'hour'], maxCategories: 40, minCount: 3 } },
  ];
  const specOf = (originEncoding: 'oneHot' | 'embedding'): ModelSpec =>
    parseModelSpec({
      name: 'compact',
      task: 'binary',
      source: { columns },
      label: { kind: 'threshold', column: 'delay', op: '>', value: 15 },
      features: features(originEncoding),
      training: { hiddenUnits: [16, 8], seed: 11 },
    });

  /** rows with every kind of gap: missing times and distances, unknown and missing categories */
  function rowsOf(n: number, seed: number): Table {
    const rand = prng(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    const airports = Array.from({ length: 30 }, (_, i) => `A${i}`);
    return {
      rows: n,
      columns: new Map<string, Table['columns'] extends Map<string, infer V> ? V : never>([
        [
          'timestamp:date',
          {
            kind: 'number',
            values: Float64Array.from({ length: n }, () =>
              rand() < 0.02 ? NaN : Date.UTC(2001, 0, 1) + Math.floor(rand() * 365 * 24) * 3_600_000,
            ),
          },
        ],
        ['number:delay', { kind: 'number', values: Float64Array.from({ length: n }, () => rand() * 60 - 10) }],
        [
          'number:distance',
          {
            kind: 'number',
            values: Float64Array.from({ length: n }, () => (rand() < 0.05 ? NaN : 50 + rand() * 2500)),
          },
        ],
        [
          'string:origin',
          { kind: 'string', values: Array.from({ length: n }, () => (rand() < 0.03 ? null : pick(airports))) },
        ],
        [
          'string:carrier',
          { kind: 'string', values: Array.from({ length: n }, () => pick(['AA', 'UA', 'DL', 'WN', 'ZZ'])) },
        ],
      ]),
    };
  }

  it('predicts what the full one-hot matmul predicts, to 1e-6, without leaking tensors', async () => {
    const { tf } = await loadTf();
    const spec = specOf('oneHot');
    const train = rowsOf(3000, 1);
    const pre = fitPreprocessor(
      spec,
      train,
      Uint32Array.from({ length: 3000 }, (_, i) => i),
    );
    const model = buildNetwork(tf, spec, pre);
    const layout = compactLayout(pre);
    assert.ok(layout.groups.length >= 4, 'hour, month, origin, carrier and the cross are one-hot groups');
    assert.ok(layout.dense.length >= 4, 'weekday (sine, cosine) and distance (value, missing) are dense');

    const score = rowsOf(5000, 2); // other rows: airports and crosses the training rows never had
    const all = Uint32Array.from({ length: 5000 }, (_, i) => i);
    const full = encodeFeatures(pre, score, all);
    const compactRows = encodeCompact(pre, score, all);
    assert.deepEqual(expandCompact(layout, compactRows), full, 'the compact rows spell out to the same inputs');

    const before = tf.memory().numTensors;
    const compact = compactForward(tf, model, layout, 1024);
    assert.ok(compact, 'a plain dense network takes compact rows');
    const fast = compact(compactRows);
    compact.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    const reference = predictRowsLayers(tf, model, full, 5000, pre.width);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(fast[i] - reference[i]));
    assert.ok(worst <= 1e-6, `largest difference ${worst}`);
    assert.ok(new Set(fast).size > 100, 'the predictions differ from row to row');
    model.dispose();
  });

  it('leaves a network with embeddings to the full path', async () => {
    const { tf } = await loadTf();
    const spec = specOf('embedding');
    const train = rowsOf(2000, 3);
    const pre = fitPreprocessor(
      spec,
      train,
      Uint32Array.from({ length: 2000 }, (_, i) => i),
    );
    const model = buildNetwork(tf, spec, pre);
    assert.equal(compactForward(tf, model, compactLayout(pre)), null);
    model.dispose();
  });
});
