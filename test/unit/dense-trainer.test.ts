import assert from 'node:assert/strict';
import type { LayersModel } from '@tensorflow/tfjs';
import { DenseTrainer } from '../../lib/model/dense-trainer';
import { loadTf, type Tf } from '../../lib/model/tf';
import { scheduledRate, trainLoop, type TrainingData } from '../../lib/model/trainer';
import { prng } from '../../lib/rng';

/**
 * The hand-written training step against tfjs-layers' trainOnBatch: same model, same batches, same initial
 * weights, two epochs. The documented tolerance: per-epoch losses within 1e-4 relative, final weights within 1e-3.
 */
describe('the dense training step', () => {
  const width = 12;
  const rows = 3000;

  function build(
    tf: Tf,
    hidden: 'relu' | 'tanh' | 'elu',
    head: 'sigmoid' | 'softmax' | 'linear',
    units: number,
    l2 = 0,
  ) {
    const kernelRegularizer = l2 > 0 ? tf.regularizers.l2({ l2 }) : undefined;
    const model = tf.sequential();
    model.add(
      tf.layers.dense({
        inputShape: [width],
        units: 16,
        activation: hidden,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }),
        kernelRegularizer,
      }),
    );
    model.add(
      tf.layers.dense({
        units: 8,
        activation: hidden,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }),
        kernelRegularizer,
      }),
    );
    model.add(
      tf.layers.dense({ units, activation: head, kernelInitializer: tf.initializers.glorotUniform({ seed: 13 }) }),
    );
    const loss = {
      sigmoid: 'binaryCrossentropy',
      softmax: 'sparseCategoricalCrossentropy',
      linear: 'meanSquaredError',
    }[head];
    model.compile({ optimizer: tf.train.adam(0.01), loss });
    return model;
  }

  function data(head: 'sigmoid' | 'softmax' | 'linear', classes: number): TrainingData {
    const rand = prng(5);
    // a third of the inputs zero, as one-hot columns mostly are
    const x = Float32Array.from({ length: rows * width }, () => (rand() < 0.33 ? 0 : rand() * 2 - 1));
    const y = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const s = x[r * width] + 0.5 * x[r * width + 1] - x[r * width + 2] + 0.3 * rand();
      y[r] =
        head === 'sigmoid'
          ? s > 0
            ? 1
            : 0
          : head === 'softmax'
            ? Math.min(classes - 1, Math.floor(((s + 2) * classes) / 4))
            : s;
      if (head === 'softmax') y[r] = Math.max(0, y[r]);
    }
    return { x, y, rows, width };
  }

  const weights = (m: LayersModel): Float32Array[] => m.getWeights().map((w) => w.dataSync() as Float32Array);

  for (const [hidden, head, units, l2] of [
    ['relu', 'sigmoid', 1, 0],
    ['tanh', 'softmax', 4, 0],
    ['elu', 'linear', 1, 0],
    ['relu', 'linear', 1, 0.01],
    ['tanh', 'softmax', 4, 0.003],
  ] as const) {
    const penalty = l2 > 0 ? `, an l2 penalty of ${l2} on the hidden kernels` : '';
    it(`${hidden} hidden layers, ${head} head${penalty}: equal to trainOnBatch to the documented tolerance`, async () => {
      const { tf } = await loadTf();
      const d = data(head, units);
      const reference = build(tf, hidden, head, units, l2);
      const fast = build(tf, hidden, head, units, l2);
      assert.ok(DenseTrainer.for(tf, fast), 'the dense step takes this model');
      const opts = { epochs: 2, batchSize: 64, seed: 3 };
      const before = tf.memory().numTensors;
      const a = await trainLoop(tf, reference, d, { ...opts, engine: 'layers' });
      const afterLayers = tf.memory().numTensors;
      const b = await trainLoop(tf, fast, d, { ...opts, engine: 'dense' });
      assert.equal(tf.memory().numTensors - afterLayers, afterLayers - before, 'it keeps what the layers path keeps');
      a.history.forEach((h, i) => {
        const rel = Math.abs(h.loss - b.history[i].loss) / Math.abs(h.loss);
        assert.ok(rel < 1e-4, `epoch ${i + 1} loss ${b.history[i].loss} vs ${h.loss}`);
      });
      assert.ok(a.history[1].loss < a.history[0].loss, 'it learns');
      const wa = weights(reference);
      const wb = weights(fast);
      let worst = 0;
      wa.forEach((w, i) => w.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - wb[i][j])))));
      assert.ok(worst < 1e-3, `weights differ by up to ${worst}`);
      // Adam's state, handed to the model's optimizer, is what trainOnBatch's optimizer holds
      const sa = await reference.optimizer.getWeights();
      const sb = await fast.optimizer.getWeights();
      // the same names, but for each model's own layer names
      const unnamed = (list: { name: string }[]): string[] => list.map((w) => w.name.replace(/^dense_Dense\d+/, 'L'));
      assert.deepEqual(unnamed(sb), unnamed(sa));
      assert.equal(sb[0].tensor.dataSync()[0], sa[0].tensor.dataSync()[0], 'the same step count');
      reference.dispose();
      fast.dispose();
    });
  }

  it('is not used for what it cannot train exactly (another optimizer, an l1 penalty)', async () => {
    const { tf } = await loadTf();
    const model = build(tf, 'relu', 'sigmoid', 1);
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'binaryCrossentropy' });
    assert.equal(DenseTrainer.for(tf, model), null);
    model.dispose();
    const l1 = tf.sequential();
    l1.add(
      tf.layers.dense({ inputShape: [width], units: 4, activation: 'relu', kernelRegularizer: tf.regularizers.l1() }),
    );
    l1.add(tf.layers.dense({ units: 1, activation: 'sigmoid' }));
    l1.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy' });
    assert.equal(DenseTrainer.for(tf, l1), null);
    l1.dispose();
  });

  it('an l2 penalty keeps the weights smaller than the same training without it', async () => {
    const { tf } = await loadTf();
    const d = data('linear', 1);
    const plain = build(tf, 'relu', 'linear', 1);
    const penalised = build(tf, 'relu', 'linear', 1, 0.05);
    const opts = { epochs: 3, batchSize: 64, seed: 3 };
    await trainLoop(tf, plain, d, opts);
    await trainLoop(tf, penalised, d, opts);
    const norm = (m: LayersModel): number =>
      m.layers
        .slice(0, 2)
        .reduce((sum, l) => sum + (l.getWeights()[0].dataSync() as Float32Array).reduce((a, w) => a + w * w, 0), 0);
    assert.ok(norm(penalised) < 0.8 * norm(plain), `Σw² ${norm(penalised)} with the penalty, ${norm(plain)} without`);
    plain.dispose();
    penalised.dispose();
  });

  it('a learning-rate schedule sets the rate of each epoch, as a pure function of the epoch', async () => {
    const exp = scheduledRate(0.01, 4, { kind: 'exponential', rate: 0.5 });
    assert.deepEqual([0, 1, 2, 3].map(exp), [0.01, 0.005, 0.0025, 0.00125]);
    const cos = scheduledRate(0.01, 5, { kind: 'cosine', minFactor: 0.1 });
    assert.equal(cos(0), 0.01);
    assert.ok(Math.abs(cos(4) - 0.001) < 1e-12, 'the last epoch runs at minFactor × the rate');
    assert.ok(Math.abs(cos(2) - 0.0055) < 1e-12, 'half-way: the mean of the two');
    assert.equal(scheduledRate(0.01, 5, undefined)(3), 0.01);
    const { tf } = await loadTf();
    const d = data('sigmoid', 1);
    const constant = build(tf, 'relu', 'sigmoid', 1);
    const decayed = build(tf, 'relu', 'sigmoid', 1);
    const opts = { epochs: 3, batchSize: 64, seed: 3 };
    const a = await trainLoop(tf, constant, d, opts);
    const seen: number[] = [];
    const b = await trainLoop(tf, decayed, d, {
      ...opts,
      learningRate: (e) => exp(e),
      onEpochEnd: async () => {
        seen.push((decayed.optimizer as unknown as { learningRate: number }).learningRate);
      },
    });
    assert.deepEqual(seen, [0.01, 0.005, 0.0025], 'the optimizer ran each epoch at its rate');
    assert.equal(a.history[0].loss, b.history[0].loss, 'the first epoch runs at the same rate');
    assert.notEqual(a.history[2].loss, b.history[2].loss, 'later ones do not');
    constant.dispose();
    decayed.dispose();
  });
});
