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

const plans = new WeakMap<LayersModel, DenseLayer[] | null>();

/** What tf.fused.matMul applies itself; the rest (softmax, tanh) is applied after. */
const FUSED = new Set(['linear', 'relu', 'elu', 'sigmoid', 'relu6']);

function planOf(model: LayersModel): DenseLayer[] | null {
  if (plans.has(model)) return plans.get(model)!;
  let plan: DenseLayer[] | null = [];
  for (const layer of model.layers) {
    const config = layer.getConfig() as { activation?: string; useBias?: boolean };
    const weights = layer.getWeights();
    if (layer.getClassName() !== 'Dense' || weights.length < 1 || weights[0].rank !== 2) {
      plan = null; // not a plain stack of dense layers: the layers path predicts it
      break;
    }
    plan.push({
      kernel: weights[0] as Tensor2D,
      bias: config.useBias === false ? null : (weights[1] ?? null),
      activation: config.activation ?? 'linear',
    });
  }
  plans.set(model, plan);
  return plan;
}

function forward(tf: Tf, model: LayersModel, x: Tensor2D): Tensor {
  const plan = planOf(model);
  if (!plan) return model.predictOnBatch(x) as Tensor;
  let h: Tensor2D = x;
  for (const layer of plan) {
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

/** The layers path (tfjs-layers' own predict), kept for the test that holds the fused pass to it. */
export function predictRowsLayers(
  tf: Tf,
  model: LayersModel,
  x: Float32Array,
  rows: number,
  width: number,
): Float32Array {
  return tf.tidy(() => (model.predictOnBatch(tf.tensor2d(x, [rows, width])) as Tensor).dataSync() as Float32Array);
}
