import fs from 'node:fs';
import path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import type { Preprocessor } from '../../lib/features';
import type { Tf } from '../../lib/model/tf';

/** The trained penguins network, background and rows of test/reference/shap-fixture.json (shap_fixture.ts). */
export interface ShapFixture {
  preprocessor: Preprocessor;
  layers: { kernel: number[][]; bias: number[]; activation: string }[];
  background: { codes: (number | null)[][] };
  explained: { codes: (number | null)[][] };
}

export const shapFixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'reference', 'shap-fixture.json'), 'utf8'),
) as ShapFixture;

/** Feature codes from JSON, where a missing value is null. */
export function fixtureCodes(columns: (number | null)[][]): Float64Array[] {
  return columns.map((c) => Float64Array.from(c, (v) => (v === null ? NaN : v)));
}

/** The fixture's network (or one with other layers: a kernel zeroed, say) as a tfjs model. */
export function fixtureNetwork(tf: Tf, layers: ShapFixture['layers'] = shapFixture.layers): LayersModel {
  const model = tf.sequential();
  layers.forEach((l, i) =>
    model.add(
      tf.layers.dense({
        units: l.bias.length,
        activation: l.activation as 'relu',
        ...(i === 0 ? { inputShape: [shapFixture.preprocessor.width] } : {}),
      }),
    ),
  );
  model.setWeights(layers.flatMap((l) => [tf.tensor2d(l.kernel), tf.tensor1d(l.bias)]));
  return model;
}
