import assert from 'node:assert/strict';
import { predictRows, predictRowsLayers, servingForward } from '../../lib/model/predict';
import { loadTf } from '../../lib/model/tf';
import { prng } from '../../lib/rng';

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
