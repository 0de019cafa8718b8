import assert from 'node:assert/strict';
import { predictRows, predictRowsLayers } from '../../lib/model/predict';
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
      const x = Float32Array.from({ length: rows * 12 }, () => rand() * 4 - 2);
      const before = tf.memory().numTensors;
      const fused = predictRows(tf, model, x, rows, 12, 256);
      assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
      const layers = predictRowsLayers(tf, model, x, rows, 12);
      assert.equal(fused.length, layers.length);
      let worst = 0;
      for (let i = 0; i < fused.length; i++) worst = Math.max(worst, Math.abs(fused[i] - layers[i]));
      assert.ok(worst <= 1e-6, `largest difference ${worst}`);
      model.dispose();
    });
  }
});
