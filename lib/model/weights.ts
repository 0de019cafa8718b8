import fs from 'node:fs';
import path from 'node:path';
import type { Tensor, io } from '@tensorflow/tfjs';
import type { NamedTensor } from '@tensorflow/tfjs-core/dist/tensor_types';
import type { Tf } from './tf';

/** A set of tensors written as `<name>.json` (shapes, dtypes, order) plus `<name>.bin` (raw data). */
export async function writeTensors(tf: Tf, dir: string, name: string, tensors: NamedTensor[]): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(specs));
  fs.writeFileSync(path.join(dir, `${name}.bin`), Buffer.from(joinWeightData(tf, data)));
}

export function readTensors(tf: Tf, dir: string, name: string): NamedTensor[] {
  const specs = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8')) as io.WeightsManifestEntry[];
  const buf = fs.readFileSync(path.join(dir, `${name}.bin`));
  const data = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const map = tf.io.decodeWeights(data, specs);
  return specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
}

export function joinWeightData(tf: Tf, data: io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

/** Model weights in layer order, named by position so they restore into an identically built network. */
export function modelTensors(weights: Tensor[]): NamedTensor[] {
  return weights.map((tensor, i) => ({ name: `w${i}`, tensor }));
}
