/**
 * The model, background and rows that test/unit/shapley.test.ts explains and test/reference/shap_reference.py hands
 * to the Python `shap` package. Run once, by hand, when the fixture should change:
 *
 *     npx tsx test/reference/shap_fixture.ts > test/reference/shap-fixture.json
 *     npx prettier --write test/reference/shap-fixture.json
 *
 * The penguins spec of examples/ (six features: island, four measurements, sex), fitted and trained on every row
 * for 30 epochs (seeded), then a background of 24 rows and 6 rows to explain, drawn with seed 7. Besides what
 * Lumen reads (the preprocessor, the weights, the feature codes), the file holds each feature's encoded inputs
 * for every background and explained row, so the Python side needs no copy of Lumen's encoding.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ColumnData, Table } from '../../lib/data/table';
import { encodeCodes, encodeFeatures, encodeLabels, featureCodes, fitPreprocessor } from '../../lib/features';
import { offsetsOf, widthOf } from '../../lib/features/types';
import { buildNetwork } from '../../lib/model/network';
import { loadTf } from '../../lib/model/tf';
import { permutation } from '../../lib/rng';
import { loadModelSpec } from '../../lib/spec';

const BACKGROUND = 24;
const EXPLAINED = 6;

async function main(): Promise<void> {
  const root = path.join(__dirname, '..', '..');
  const spec = loadModelSpec(path.join(root, 'examples', 'models', 'penguins-species.json'));
  const records = JSON.parse(
    fs.readFileSync(path.join(root, 'node_modules', 'vega-datasets', 'data', 'penguins.json'), 'utf8'),
  ) as Record<string, string | number | null>[];
  const rows = records.filter((r) => typeof r.Species === 'string');
  const text = (name: string) => ({
    kind: 'string' as const,
    values: rows.map((r) => (r[name] as string | null) ?? null),
  });
  const number = (name: string) => ({
    kind: 'number' as const,
    values: Float64Array.from(rows.map((r) => (typeof r[name] === 'number' ? r[name] : NaN))),
  });
  const table: Table = {
    rows: rows.length,
    columns: new Map<string, ColumnData>([
      ['string:Species', text('Species')],
      ['string:Island', text('Island')],
      ['string:Sex', text('Sex')],
      ['number:Beak Length (mm)', number('Beak Length (mm)')],
      ['number:Beak Depth (mm)', number('Beak Depth (mm)')],
      ['number:Flipper Length (mm)', number('Flipper Length (mm)')],
      ['number:Body Mass (g)', number('Body Mass (g)')],
    ]),
  };
  const all = Uint32Array.from({ length: rows.length }, (_, i) => i);
  const pre = fitPreprocessor(spec, table, all);
  const { tf } = await loadTf();
  const model = buildNetwork(tf, spec, pre);
  const x = encodeFeatures(pre, table, all);
  const y = encodeLabels(pre, table, all);
  await model.fit(tf.tensor2d(x, [rows.length, pre.width]), tf.tensor1d(y), {
    epochs: 30,
    batchSize: 32,
    shuffle: false,
    verbose: 0,
  });

  const order = permutation(rows.length, 7);
  const pick = (from: number, n: number) => Uint32Array.from(order.slice(from, from + n));
  const backgroundRows = pick(0, BACKGROUND);
  const explainedRows = pick(BACKGROUND, EXPLAINED);
  const codes = (which: Uint32Array) => featureCodes(pre, table, which).map((c) => Array.from(c, nullNaN));
  const offsets = offsetsOf(pre.features);
  // each feature's block of the encoded row
  const blocks = (which: Uint32Array) => {
    const encoded = encodeCodes(pre, featureCodes(pre, table, which), which.length);
    return Array.from(which, (_, r) =>
      pre.features.map((f, i) =>
        Array.from(encoded.subarray(r * pre.width + offsets[i], r * pre.width + offsets[i] + widthOf(f))),
      ),
    );
  };
  const layers = model.layers.map((layer) => {
    const [kernel, bias] = layer.getWeights();
    return {
      kernel: kernel.arraySync() as number[][],
      bias: Array.from(bias.dataSync()),
      activation: (layer.getConfig() as { activation: string }).activation,
    };
  });
  process.stdout.write(
    `${JSON.stringify({
      about:
        'test/reference/shap_fixture.ts: penguins, 30 epochs, background 24 and 6 explained rows drawn with seed 7',
      preprocessor: pre,
      layers,
      background: { codes: codes(backgroundRows), blocks: blocks(backgroundRows) },
      explained: { codes: codes(explainedRows), blocks: blocks(explainedRows) },
    })}\n`,
  );
}

/** JSON has no NaN: a missing numeric value is written as null. */
function nullNaN(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
