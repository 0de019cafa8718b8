import type { LayersModel, Tensor, Tensor2D } from '@tensorflow/tfjs';
import type { Tf } from './tf';

/**
 * The forward pass of a dense network as one fused kernel per layer (matmul + bias + activation), where tfjs-layers
 * dispatches three or more: the per-kernel cost (~23 µs in tfjs-node) dominates small batches, which is what a
 * serving micro-batch is. Every prediction in Lumen — evaluation, canary, load check, serving, `lumen predict` —
 * goes through here, so they all compute the same way.
 */
interface DenseLayer {
  kernel: Tensor2D;
  bias: Tensor | null;
  activation: string;
}

/** A network Lumen builds: embedding tables (none for a plain stack), then dense layers. */
interface Plan {
  /** embedding_<j>'s table, rows × dim, for the index at `denseWidth + j` of an encoded row */
  embeddings: Tensor2D[];
  /** inputs of an encoded row before the embedded features' indices */
  denseWidth: number;
  layers: DenseLayer[];
}

const plans = new WeakMap<LayersModel, Plan | null>();

/** What tf.fused.matMul applies itself; the rest (softmax, tanh) is applied after. */
const FUSED = new Set(['linear', 'relu', 'elu', 'sigmoid', 'relu6']);

/** Layers that only route tensors in the networks Lumen builds. */
const ROUTING = new Set(['InputLayer', 'Flatten', 'Concatenate']);

function planOf(model: LayersModel): Plan | null {
  if (plans.has(model)) return plans.get(model)!;
  const embeddings: Tensor2D[] = [];
  const layers: DenseLayer[] = [];
  let plan: Plan | null = { embeddings, denseWidth: 0, layers };
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (ROUTING.has(kind)) continue;
    const config = layer.getConfig() as { activation?: string; useBias?: boolean };
    const weights = layer.getWeights();
    const j = /^embedding_(\d+)$/.exec(layer.name);
    if (kind === 'Embedding' && j && weights.length === 1 && weights[0].rank === 2) {
      embeddings[Number(j[1])] = weights[0] as Tensor2D;
      continue;
    }
    if (kind !== 'Dense' || weights.length < 1 || weights[0].rank !== 2) {
      plan = null; // not a network of this shape: the layers path predicts it
      break;
    }
    layers.push({
      kernel: weights[0] as Tensor2D,
      bias: config.useBias === false ? null : (weights[1] ?? null),
      activation: config.activation ?? 'linear',
    });
  }
  if (plan) {
    const joined = layers[0]?.kernel.shape[0] ?? 0;
    plan.denseWidth = joined - embeddings.reduce((sum, t) => sum + (t?.shape[1] ?? 0), 0);
    // every table in place, and the inputs the model declares add up to what the first layer takes
    const declared = model.inputs.reduce((sum, input) => sum + (input.shape[1] ?? 0), 0);
    if (
      layers.length === 0 ||
      embeddings.includes(undefined as never) ||
      declared !== plan.denseWidth + embeddings.length
    )
      plan = null;
  }
  plans.set(model, plan);
  return plan;
}

/** An encoded row block cut into the model's inputs (a network with embeddings takes one input per part). */
export function modelInputs(tf: Tf, model: LayersModel, x: Tensor2D): Tensor | Tensor[] {
  if (model.inputs.length === 1) return x;
  return tf.split(
    x,
    model.inputs.map((input) => input.shape[1] ?? 1),
    1,
  );
}

/** The first layer's input: the dense inputs joined with each embedded feature's vector. */
function joinEmbedded(tf: Tf, plan: Plan, x: Tensor2D): Tensor2D {
  const rows = x.shape[0];
  const k = plan.embeddings.length;
  const indices = tf.unstack(tf.cast(tf.slice(x, [0, plan.denseWidth], [rows, k]), 'int32'), 1);
  const parts: Tensor2D[] = plan.embeddings.map((table, j) => tf.gather(table, indices[j]));
  if (plan.denseWidth > 0) parts.unshift(tf.slice(x, [0, 0], [rows, plan.denseWidth]));
  return parts.length === 1 ? parts[0] : tf.concat(parts, 1);
}

function forward(tf: Tf, model: LayersModel, x: Tensor2D): Tensor {
  const plan = planOf(model);
  if (!plan) return model.predictOnBatch(modelInputs(tf, model, x)) as Tensor;
  let h: Tensor2D = plan.embeddings.length > 0 ? joinEmbedded(tf, plan, x) : x;
  for (const layer of plan.layers) {
    const fused = FUSED.has(layer.activation);
    h = tf.fused.matMul({
      a: h,
      b: layer.kernel,
      bias: layer.bias ?? undefined,
      activation: fused ? (layer.activation as 'linear' | 'relu' | 'elu' | 'sigmoid' | 'relu6') : 'linear',
    }) as Tensor2D;
    if (!fused) {
      if (layer.activation === 'softmax') h = tf.softmax(h);
      else if (layer.activation === 'tanh') h = tf.tanh(h);
      else throw new Error(`activation "${layer.activation}" has no fused forward pass`);
    }
  }
  return h;
}

/**
 * Predict in large batches (model.predict's default batch of 32 is ~10× slower) and copy results to one array:
 * rows × outputs, row-major.
 */
export function predictRows(
  tf: Tf,
  model: LayersModel,
  x: Float32Array,
  rows: number,
  width: number,
  batch = 8192,
): Float32Array {
  const outputs = model.outputs[0].shape[1] ?? 1;
  const out = new Float32Array(rows * outputs);
  for (let from = 0; from < rows; from += batch) {
    const m = Math.min(batch, rows - from);
    const values = tf.tidy(() => {
      const xs = tf.tensor2d(x.subarray(from * width, (from + m) * width), [m, width]);
      return forward(tf, model, xs).dataSync();
    });
    out.set(values, from * outputs);
  }
  return out;
}

/**
 * A forward pass for serving, where micro-batches are small. tfjs-node pays a fixed cost per call — its fused dense
 * kernel is itself four kernels (reshape, matmul, add, activation), about 300 µs for a three-layer network whatever
 * the batch — which was over half of the server's CPU under load. A dense network small enough is computed here in
 * plain arithmetic instead (float64 sums, rounded to float32 like tfjs' output, skipping zero inputs so a one-hot
 * row costs what its set columns cost), and larger batches go to tfjs. Both are held to tfjs-layers' predict to
 * 1e-6 by the tests, and the served warm-up compares them with the predictions recorded at evaluation.
 *
 * The weights are copied once: build this only for a model that will not be trained further.
 */
export interface ServingForward {
  (x: Float32Array, rows: number, width: number): Float32Array;
  /** how many rows at most are computed without tfjs (0: never) */
  readonly smallBatchRows: number;
}

/**
 * Multiply-adds a batch may take to be computed without tfjs: measured on this machine's 2 cores, a three-layer
 * flights network (154→64→32→1, ~12k multiply-adds a row, one-hot inputs) costs ~5 µs a row here against
 * ~300 µs + 3 µs a row in tfjs, so they meet near 130 rows (~1.5M multiply-adds); this stays below that, as a
 * dense input row costs more here than a one-hot one.
 */
const SMALL_BATCH_MULTIPLY_ADDS = 1_000_000;

interface PlainLayer {
  inputs: number;
  units: number;
  kernel: Float32Array; // inputs × units, row-major, as tfjs keeps it
  bias: Float32Array | null;
  activation: string;
}

const PLAIN = new Set(['linear', 'relu', 'elu', 'sigmoid', 'relu6', 'tanh', 'softmax']);

export function servingForward(tf: Tf, model: LayersModel): ServingForward {
  const plan = planOf(model);
  const layers: PlainLayer[] | null =
    plan && plan.layers.every((l) => PLAIN.has(l.activation))
      ? plan.layers.map((l) => ({
          inputs: l.kernel.shape[0],
          units: l.kernel.shape[1],
          kernel: Float32Array.from(l.kernel.dataSync()),
          bias: l.bias ? Float32Array.from(l.bias.dataSync()) : null,
          activation: l.activation,
        }))
      : null;
  const perRow = layers ? layers.reduce((sum, l) => sum + l.inputs * l.units, 0) : Infinity;
  const smallBatchRows = layers ? Math.floor(SMALL_BATCH_MULTIPLY_ADDS / perRow) : 0;
  const widest = layers ? Math.max(...layers.map((l) => l.units)) : 0;
  const a = new Float64Array(widest);
  const b = new Float64Array(widest);
  // embedded features: each row's first-layer input is assembled here from its dense inputs and table rows
  const tables =
    plan && layers
      ? plan.embeddings.map((t) => ({ rows: t.shape[0], dim: t.shape[1], values: Float32Array.from(t.dataSync()) }))
      : [];
  const denseWidth = plan?.denseWidth ?? 0;
  const joined = new Float64Array(layers && tables.length > 0 ? layers[0].inputs : 0);
  const expected = denseWidth + tables.length;
  const forward = (x: Float32Array, rows: number, width: number): Float32Array => {
    if (!layers || rows > smallBatchRows) return predictRows(tf, model, x, rows, width);
    if (width !== expected) throw new Error(`rows are ${width} wide; the model takes ${expected}`);
    const outputs = layers[layers.length - 1].units;
    const out = new Float32Array(rows * outputs);
    for (let r = 0; r < rows; r++) {
      let input: Float32Array | Float64Array = x.subarray(r * width, (r + 1) * width);
      if (tables.length > 0) input = joinRow(input, denseWidth, tables, joined);
      let h = a;
      for (const layer of layers) {
        denseRow(layer, input, h);
        input = h;
        h = h === a ? b : a;
      }
      for (let j = 0; j < outputs; j++) out[r * outputs + j] = input[j];
    }
    return out;
  };
  return Object.assign(forward, { smallBatchRows });
}

/** A row's dense inputs followed by the table row each embedded feature's index picks. */
function joinRow(
  row: Float32Array,
  denseWidth: number,
  tables: { rows: number; dim: number; values: Float32Array }[],
  out: Float64Array,
): Float64Array {
  for (let i = 0; i < denseWidth; i++) out[i] = row[i];
  let at = denseWidth;
  tables.forEach((table, j) => {
    const index = row[denseWidth + j];
    if (!Number.isInteger(index) || index < 0 || index >= table.rows) {
      throw new Error(`embedding ${j}: index ${index} is not one of its ${table.rows} rows`);
    }
    for (let d = 0; d < table.dim; d++) out[at + d] = table.values[index * table.dim + d];
    at += table.dim;
  });
  return out;
}

/** One dense layer for one row: out[0..units) = activation(bias + input · kernel). */
function denseRow(layer: PlainLayer, input: Float32Array | Float64Array, out: Float64Array): void {
  const { inputs, units, kernel, bias } = layer;
  for (let j = 0; j < units; j++) out[j] = bias ? bias[j] : 0;
  for (let i = 0; i < inputs; i++) {
    const v = input[i];
    if (v === 0) continue;
    const at = i * units;
    for (let j = 0; j < units; j++) out[j] += v * kernel[at + j];
  }
  switch (layer.activation) {
    case 'linear':
      break;
    case 'relu':
      for (let j = 0; j < units; j++) if (out[j] < 0) out[j] = 0;
      break;
    case 'relu6':
      for (let j = 0; j < units; j++) out[j] = Math.min(Math.max(out[j], 0), 6);
      break;
    case 'elu':
      for (let j = 0; j < units; j++) if (out[j] < 0) out[j] = Math.expm1(out[j]);
      break;
    case 'sigmoid':
      for (let j = 0; j < units; j++) out[j] = 1 / (1 + Math.exp(-out[j]));
      break;
    case 'tanh':
      for (let j = 0; j < units; j++) out[j] = Math.tanh(out[j]);
      break;
    case 'softmax': {
      let top = -Infinity;
      for (let j = 0; j < units; j++) top = Math.max(top, out[j]);
      let sum = 0;
      for (let j = 0; j < units; j++) sum += out[j] = Math.exp(out[j] - top);
      for (let j = 0; j < units; j++) out[j] /= sum;
      break;
    }
    default:
      throw new Error(`activation "${layer.activation}" has no plain forward pass`);
  }
}

/** The layers path (tfjs-layers' own predict), kept for the test that holds the fused pass to it. */
export function predictRowsLayers(
  tf: Tf,
  model: LayersModel,
  x: Float32Array,
  rows: number,
  width: number,
): Float32Array {
  return tf.tidy(
    () =>
      (
        model.predictOnBatch(modelInputs(tf, model, tf.tensor2d(x, [rows, width]))) as Tensor
      ).dataSync() as Float32Array,
  );
}
