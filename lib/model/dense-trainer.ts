import type { AdamOptimizer, LayersModel, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs';
import { predictRows } from './predict';
import type { Tf } from './tf';

/**
 * One training step of a dense network with the fewest kernels: the forward pass, the gradients written out by
 * hand (no tape), and Adam over all parameters at once as one flat vector. tfjs-layers' `trainOnBatch` dispatches
 * about 259 kernels per step, most of them bookkeeping (identities, reshapes, casts, the tape's own ops), at
 * ~23 µs each in tfjs-node — more than the arithmetic of a flights batch. This one dispatches about 50.
 *
 * It computes what `trainOnBatch` computes: the same losses (binary and sparse categorical cross-entropy on the
 * sigmoid/softmax output, mean squared error), their gradients (p − y, scaled), and Adam's update with tfjs'
 * constants, rearranged (lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε·√(1−β₂ᵗ)), equal in exact arithmetic). The test holds
 * the two to a tolerance over whole epochs. Adam's state lives here while training and is handed back to the
 * model's optimizer (same names, same layout) before every checkpoint, and taken from it when a run resumes.
 */
type Head = 'sigmoid' | 'softmax' | 'linear';

interface Layer {
  kernel: Variable;
  bias: Variable;
  activation: string;
  inputs: number;
  units: number;
  /** the layer's kernel penalty l2 · Σw² (tfjs' L1L2 regularizer with no l1 part); 0: none */
  l2: number;
}

/** An embedding table: rows × dim, looked up by the index at slot `denseWidth + j` of an encoded row. */
interface Table {
  table: Variable;
  rows: number;
  dim: number;
}

const HIDDEN = new Set(['relu', 'tanh', 'elu', 'linear']);
const ROUTING = new Set(['InputLayer', 'Flatten', 'Concatenate']);

export class DenseTrainer {
  /** every trainable variable in the model's own order (the order Adam's state is kept in), and their sizes */
  private readonly variables: Variable[];
  private readonly sizes: number[];
  private m: Variable;
  private v: Variable;
  private t = 0;

  private constructor(
    private readonly tf: Tf,
    private readonly optimizer: AdamOptimizer,
    private readonly layers: Layer[],
    private readonly tables: Table[],
    private readonly denseWidth: number,
    private readonly head: Head,
    variables: Variable[],
  ) {
    this.variables = variables;
    this.sizes = variables.map((v) => v.size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.m = tf.tidy(() => tf.variable(tf.zeros([total]), false));
    this.v = tf.tidy(() => tf.variable(tf.zeros([total]), false));
  }

  /**
   * A trainer for a model it can train exactly (embedding tables, then a stack of dense layers with biases, Adam),
   * as `buildNetwork` makes them; null otherwise.
   */
  static for(tf: Tf, model: LayersModel): DenseTrainer | null {
    const optimizer = model.optimizer as AdamOptimizer | undefined;
    if (!optimizer || optimizer.getClassName() !== 'Adam') return null;
    const layers: Layer[] = [];
    const tables: Table[] = [];
    for (const layer of model.layers) {
      const kind = layer.getClassName();
      if (ROUTING.has(kind)) continue;
      const weights = layer.trainableWeights;
      const j = /^embedding_(\d+)$/.exec(layer.name);
      if (kind === 'Embedding' && j && weights.length === 1 && layers.length === 0) {
        const table = weights[0].read() as Variable;
        tables[Number(j[1])] = { table, rows: table.shape[0], dim: table.shape[1]! };
        continue;
      }
      const config = layer.getConfig() as {
        activation?: string;
        useBias?: boolean;
        kernelRegularizer?: { className: string; config: { l1?: number; l2?: number } } | null;
        biasRegularizer?: unknown;
        activityRegularizer?: unknown;
      };
      if (kind !== 'Dense' || weights.length !== 2 || config.useBias === false) return null;
      if (config.biasRegularizer || config.activityRegularizer) return null;
      const regularizer = config.kernelRegularizer;
      if (regularizer && (regularizer.className !== 'L1L2' || (regularizer.config.l1 ?? 0) !== 0)) return null;
      const kernel = weights[0].read() as Variable;
      if (kernel.rank !== 2) return null;
      layers.push({
        kernel,
        bias: weights[1].read() as Variable,
        activation: config.activation ?? 'linear',
        inputs: kernel.shape[0],
        units: kernel.shape[1]!,
        l2: regularizer?.config.l2 ?? 0,
      });
    }
    if (layers.length === 0 || tables.includes(undefined as never)) return null;
    const head = layers.at(-1)?.activation;
    if (head !== 'sigmoid' && head !== 'softmax' && head !== 'linear') return null;
    if (!layers.slice(0, -1).every((l) => HIDDEN.has(l.activation))) return null;
    const lossOk = {
      sigmoid: 'binaryCrossentropy',
      softmax: 'sparseCategoricalCrossentropy',
      linear: 'meanSquaredError',
    }[head];
    if (model.loss !== lossOk) return null;
    const denseWidth = layers[0].inputs - tables.reduce((sum, t) => sum + t.dim, 0);
    const variables = model.trainableWeights.map((w) => w.read() as Variable);
    const mine = new Set([...tables.map((t) => t.table), ...layers.flatMap((l) => [l.kernel, l.bias])]);
    if (variables.length !== mine.size || !variables.every((v) => mine.has(v))) return null;
    return new DenseTrainer(tf, optimizer, layers, tables, denseWidth, head, variables);
  }

  /**
   * Take Adam's state from the model's optimizer (a fresh one, or one a checkpoint restored). tfjs keeps it by
   * position — the first moments of every variable in layer order, then the second ones — under the names the
   * saving model's variables had, which a model loaded later does not share; so by position, shapes checked.
   */
  async importState(): Promise<void> {
    const weights = await this.optimizer.getWeights();
    this.t = (await weights[0].tensor.data())[0];
    weights[0].tensor.dispose();
    const moments = weights.slice(1);
    if (moments.length === 0) return;
    const variables = this.variables;
    if (moments.length !== 2 * variables.length) {
      throw new Error(
        `the optimizer state holds ${moments.length} moments for ${variables.length} variables: it belongs to another model`,
      );
    }
    moments.forEach((w, i) => {
      const variable = variables[i % variables.length];
      if (w.tensor.shape.join('×') !== variable.shape.join('×')) {
        throw new Error(
          `the optimizer state's ${w.name} is ${w.tensor.shape.join('×')}, ${variable.name} is ${variable.shape.join('×')}: it belongs to another model`,
        );
      }
    });
    const flat = (from: number): Tensor =>
      this.tf.concat(moments.slice(from, from + variables.length).map((w) => w.tensor.reshape([-1])));
    this.tf.tidy(() => {
      this.m.assign(flat(0));
      this.v.assign(flat(variables.length));
    });
  }

  /** Hand Adam's state to the model's optimizer, under the names tfjs gives it (before a checkpoint is taken). */
  async exportState(): Promise<void> {
    const tf = this.tf;
    const previous = await this.optimizer.getWeights();
    const names = (suffix: string): string[] => this.variables.map((v) => `${v.name}/${suffix}`);
    const shaped = (flat: Variable): Tensor[] =>
      tf.split(flat, this.sizes).map((part, i) => part.reshape(this.variables[i].shape));
    const tensors = tf.tidy(() => [tf.scalar(this.t, 'int32'), ...shaped(this.m), ...shaped(this.v)]);
    const labels = ['iter', ...names('m'), ...names('v')];
    await this.optimizer.setWeights(tensors.map((tensor, i) => ({ name: labels[i], tensor })));
    // setWeights keeps copies as new variables: these, and the ones they replace, are done with
    tf.dispose([...tensors, ...previous.map((w) => w.tensor)]);
  }

  /**
   * One step on a batch (rows × width inputs, one target per row: 0/1, class index, or value); returns the sum of
   * the per-row losses.
   */
  step(x: Float32Array, y: Float32Array, rows: number, width: number): number {
    if (width !== this.denseWidth + this.tables.length) {
      throw new Error(`rows are ${width} wide; the model takes ${this.denseWidth + this.tables.length}`);
    }
    const tf = this.tf;
    const { beta1, beta2, epsilon, learningRate } = this.optimizer as unknown as {
      beta1: number;
      beta2: number;
      epsilon: number;
      learningRate: number;
    };
    this.t++;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    let lossSum = 0;
    // embedded features: the indices leave the row here, on the host, one array per table
    const indices = this.tables.map((_, j) => {
      const out = new Int32Array(rows);
      for (let r = 0; r < rows; r++) out[r] = x[r * width + this.denseWidth + j];
      return out;
    });
    let dense = x;
    if (this.tables.length > 0) {
      dense = new Float32Array(rows * this.denseWidth);
      for (let r = 0; r < rows; r++) dense.set(x.subarray(r * width, r * width + this.denseWidth), r * this.denseWidth);
    }
    tf.tidy(() => {
      const ys = tf.tensor2d(y, [rows, 1]);
      const index = indices.map((a) => tf.tensor1d(a, 'int32'));
      const joined = this.tables.map((t, j) => tf.gather(t.table, index[j]) as Tensor2D);
      if (this.denseWidth > 0) joined.unshift(tf.tensor2d(dense, [rows, this.denseWidth]));
      const xs = joined.length === 1 ? joined[0] : tf.concat(joined, 1);
      // forward, keeping each layer's input
      const inputs: Tensor2D[] = [];
      let h: Tensor2D = xs;
      for (const l of this.layers) {
        inputs.push(h);
        h = activate(tf, tf.add(tf.matMul(h, l.kernel), l.bias), l.activation);
      }
      const p = h;
      const out = p.dataSync() as Float32Array;
      const classes = this.layers[this.layers.length - 1].units;
      lossSum = lossOf(this.head, out, y, rows, classes);
      // the kernels' penalty, as tfjs adds it to the batch's mean loss (so, per row, once per row of the sum)
      const penalised = this.layers.filter((l) => l.l2 > 0);
      if (penalised.length > 0) {
        const penalty = tf.addN(penalised.map((l) => tf.mul(tf.sum(tf.square(l.kernel)), l.l2)));
        lossSum += rows * penalty.dataSync()[0];
      }
      // d loss / d (last pre-activation), averaged over the batch
      let dz: Tensor2D =
        this.head === 'softmax'
          ? tf.div(tf.sub(p, tf.oneHot(tf.cast(tf.reshape(ys, [rows]), 'int32'), classes)), rows)
          : tf.mul(tf.sub(p, ys), this.head === 'linear' ? 2 / rows : 1 / rows);
      const grads = new Map<Variable, Tensor>();
      for (let i = this.layers.length - 1; i >= 0; i--) {
        const l = this.layers[i];
        const dKernel = tf.matMul(inputs[i], dz, true, false);
        // d(l2 · Σw²)/dw = 2 · l2 · w
        const withPenalty = l.l2 > 0 ? tf.add(dKernel, tf.mul(l.kernel, 2 * l.l2)) : dKernel;
        grads.set(l.kernel, tf.reshape(withPenalty, [-1]));
        grads.set(l.bias, tf.sum(dz, 0));
        if (i > 0)
          dz = tf.mul(tf.matMul(dz, l.kernel, false, true), derivative(tf, inputs[i], this.layers[i - 1].activation));
      }
      if (this.tables.length > 0) {
        // back through the first layer to the looked-up vectors only, then summed into the rows they came from
        const first = this.layers[0];
        const embedded = first.inputs - this.denseWidth;
        const w = tf.slice(first.kernel, [this.denseWidth, 0], [embedded, first.units]);
        const dVectors = tf.split(
          tf.matMul(dz, w, false, true),
          this.tables.map((t) => t.dim),
          1,
        );
        this.tables.forEach((t, j) =>
          grads.set(t.table, tf.reshape(tf.unsortedSegmentSum(dVectors[j], index[j], t.rows), [-1])),
        );
      }
      const g = tf.concat(this.variables.map((v) => grads.get(v)!));
      const m = tf.add(tf.mul(this.m, beta1), tf.mul(g, 1 - beta1));
      const v = tf.add(tf.mul(this.v, beta2), tf.mul(tf.square(g), 1 - beta2));
      const update = tf.mul(
        tf.div(m, tf.add(tf.sqrt(v), epsilon * Math.sqrt(c2))),
        (learningRate * Math.sqrt(c2)) / c1,
      );
      this.m.assign(m);
      this.v.assign(v);
      const parts = tf.split(update, this.sizes);
      this.variables.forEach((v, i) => v.assign(tf.sub(v, tf.reshape(parts[i], v.shape))));
    });
    return lossSum;
  }

  dispose(): void {
    this.m.dispose();
    this.v.dispose();
  }
}

function activate(tf: Tf, z: Tensor2D, activation: string): Tensor2D {
  switch (activation) {
    case 'relu':
      return tf.relu(z);
    case 'tanh':
      return tf.tanh(z);
    case 'elu':
      return tf.elu(z);
    case 'sigmoid':
      return tf.sigmoid(z);
    case 'softmax':
      return tf.softmax(z);
    case 'linear':
      return z;
    default:
      throw new Error(`activation "${activation}" has no hand-written gradient`);
  }
}

/** The activation's derivative, from its output a. */
function derivative(tf: Tf, a: Tensor2D, activation: string): Tensor | number {
  switch (activation) {
    case 'relu':
      // a ≥ 0, so its sign is 1 where z > 0 and 0 elsewhere (tf.step is several kernels in tfjs-node)
      return tf.sign(a);
    case 'tanh':
      return tf.sub(1, tf.square(a));
    case 'elu':
      // a > 0: 1; otherwise a = eᶻ − 1, whose derivative eᶻ is a + 1
      return tf.add(tf.minimum(a, 0), 1);
    case 'linear':
      return 1;
    default:
      throw new Error(`activation "${activation}" has no hand-written gradient`);
  }
}

/** tfjs' epsilon, with which its losses clip probabilities */
const EPS = 1e-7;

/** A model's mean loss over rows it is not trained on (early stopping), defined as in training. */
export function meanLoss(
  tf: Tf,
  model: LayersModel,
  x: Float32Array,
  y: Float32Array,
  rows: number,
  width: number,
): number {
  const head = (model.layers[model.layers.length - 1].getConfig() as { activation?: string }).activation;
  if (head !== 'sigmoid' && head !== 'softmax' && head !== 'linear') throw new Error(`no loss for a ${head} head`);
  const out = predictRows(tf, model, x, rows, width);
  return lossOf(head, out, y, rows, out.length / rows) / rows;
}

/** The batch's loss summed over rows, as tfjs-layers defines it, from the outputs on the host. */
function lossOf(head: Head, out: Float32Array, y: Float32Array, rows: number, classes: number): number {
  let sum = 0;
  if (head === 'sigmoid') {
    for (let r = 0; r < rows; r++) {
      const p = Math.min(Math.max(out[r], EPS), 1 - EPS);
      sum -= y[r] * Math.log(p) + (1 - y[r]) * Math.log(1 - p);
    }
  } else if (head === 'softmax') {
    for (let r = 0; r < rows; r++) sum -= Math.log(Math.min(Math.max(out[r * classes + y[r]], EPS), 1 - EPS));
  } else {
    for (let r = 0; r < rows; r++) sum += (out[r] - y[r]) ** 2;
  }
  return sum;
}
