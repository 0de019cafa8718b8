import assert from 'node:assert/strict';
import type { Table } from '../../lib/data/table';
import {
  CROSS_SEPARATOR,
  derivedEmbeddingDim,
  embeddingsOf,
  encodeFeatures,
  encodeLabels,
  fitPreprocessor,
  type Preprocessor,
} from '../../lib/features';
import { crossIndexer, crossKeys } from '../../lib/features/cross';
import { DenseTrainer } from '../../lib/model/dense-trainer';
import { buildNetwork } from '../../lib/model/network';
import { predictRows, predictRowsLayers, servingForward } from '../../lib/model/predict';
import { loadTf } from '../../lib/model/tf';
import { optimizerState, restoreOptimizerState, trainLoop, type TrainingData } from '../../lib/model/trainer';
import { prng } from '../../lib/rng';
import { SpecError } from '../../lib/errors';
import { parseModelSpec, type ModelSpecInput } from '../../lib/spec';

const HOUR = 3_600_000;

/** Airports and weekdays whose combination decides the label: only a model that sees the pair can learn it. */
const spec: ModelSpecInput = {
  name: 'toy-embed',
  task: 'binary',
  source: {
    columns: [
      { name: 'date', type: 'timestamp' },
      { name: 'late', type: 'integer' },
      { name: 'distance', type: 'integer' },
      { name: 'origin', type: 'string' },
    ],
  },
  label: { kind: 'threshold', column: 'late', op: '>', value: 0 },
  features: [
    { name: 'weekday', column: 'date', transform: { kind: 'dayOfWeek' } },
    { name: 'dist', column: 'distance', transform: { kind: 'numeric' } },
    { name: 'origin', column: 'origin', transform: { kind: 'categorical', encoding: 'embedding', embeddingDim: 3 } },
    { name: 'origin_day', transform: { kind: 'cross', of: ['origin', 'weekday'], encoding: 'embedding' } },
  ],
  training: { hiddenUnits: [8], seed: 7 },
};

function table(rows: number, seed = 1): Table {
  const rand = prng(seed);
  const airports = Array.from({ length: 12 }, (_, i) => `A${i}`);
  const origin: (string | null)[] = [];
  const date = new Float64Array(rows);
  const late = new Float64Array(rows);
  const distance = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const a = Math.floor(rand() * airports.length);
    const day = Math.floor(rand() * 7);
    origin.push(r % 97 === 0 ? null : airports[a]);
    // 2001-01-01 was a Monday
    date[r] = Date.UTC(2001, 0, 1 + day) + Math.floor(rand() * 24) * HOUR;
    distance[r] = 100 + Math.floor(rand() * 2000);
    late[r] = (a + day) % 3 === 0 ? (rand() < 0.9 ? 1 : 0) : rand() < 0.1 ? 1 : 0;
  }
  return {
    rows,
    columns: new Map([
      ['timestamp:date', { kind: 'number', values: date }],
      ['number:late', { kind: 'number', values: late }],
      ['number:distance', { kind: 'number', values: distance }],
      ['string:origin', { kind: 'string', values: origin }],
    ]),
  };
}

const all = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);

/** Every row of a table, encoded for training. */
function encoded(pre: Preprocessor, t: Table): TrainingData {
  const rows = all(t.rows);
  return { x: encodeFeatures(pre, t, rows), y: encodeLabels(pre, t, rows), rows: t.rows, width: pre.width };
}

describe('embeddings and feature crosses', () => {
  it('a cross names no column and crosses declared categorical or calendar features; embeddingDim needs embedding', () => {
    const bad = (features: unknown[], expect: RegExp): void =>
      assert.throws(
        () => parseModelSpec({ ...spec, features }),
        (err: unknown) => err instanceof SpecError && expect.test(err.message),
      );
    const [weekday, dist, origin] = spec.features;
    bad(
      [weekday, origin, { name: 'x', transform: { kind: 'cross', of: ['origin', 'nope'] } }],
      /of\.1: "nope" is not a feature/,
    );
    bad(
      [weekday, dist, { name: 'x', transform: { kind: 'cross', of: ['weekday', 'dist'] } }],
      /"dist" is a numeric feature/,
    );
    bad(
      [weekday, origin, { name: 'x', column: 'origin', transform: { kind: 'cross', of: ['origin', 'weekday'] } }],
      /features\.2\.column: a cross reads the columns/,
    );
    bad(
      [weekday, origin, { name: 'x', transform: { kind: 'cross', of: ['origin', 'origin'] } }],
      /crosses a feature twice/,
    );
    bad(
      [weekday, { name: 'o', column: 'origin', transform: { kind: 'categorical', embeddingDim: 4 } }],
      /embeddingDim applies to encoding "embedding" only/,
    );
    bad([{ name: 'o', transform: { kind: 'categorical' } }], /features\.0\.column: a feature needs a source column/);
  });

  it('learns a cross vocabulary from the training rows and puts embedded indices after every other input', () => {
    const s = parseModelSpec(spec);
    const t = table(2000);
    const pre = fitPreprocessor(s, t, all(1500));
    const cross = pre.features.find((f) => f.name === 'origin_day');
    assert.ok(cross?.kind === 'cross');
    assert.deepEqual(
      cross.parts.map((p) => `${p.column}:${p.kind}`),
      ['origin:categorical', 'date:dayOfWeek'],
    );
    assert.equal(cross.vocabulary.length, 12 * 7, 'every airport on every weekday');
    assert.ok(
      cross.vocabulary.every((v) => /^A\d+ (mon|tue|wed|thu|fri|sat|sun)$/.test(v.replace(CROSS_SEPARATOR, ' '))),
    );
    assert.equal(cross.embeddingDim, derivedEmbeddingDim(85), 'derived from its size');
    assert.equal(derivedEmbeddingDim(85), 6);
    // 7 weekday inputs, 2 for distance (no missing values: 1), then the two indices
    assert.equal(pre.width, 7 + 1 + 2);
    assert.deepEqual(pre.inputNames.slice(-2), ['origin#', 'origin_day#']);
    assert.deepEqual(
      embeddingsOf(pre).map((e) => [e.feature, e.slot, e.rows, e.dim]),
      [
        ['origin', 8, 13, 3],
        ['origin_day', 9, 85, 6],
      ],
    );
    const x = encodeFeatures(pre, t, all(t.rows));
    const originCol = t.columns.get('string:origin');
    assert.ok(originCol?.kind === 'string');
    const dates = t.columns.get('timestamp:date')!.values as Float64Array;
    const origin = pre.features.find((f) => f.name === 'origin');
    assert.ok(origin?.kind === 'categorical');
    for (let r = 0; r < 300; r++) {
      const v: string | null = originCol.values[r];
      const day = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'][(new Date(dates[r]).getUTCDay() + 6) % 7];
      const o = x[r * pre.width + 8];
      const c = x[r * pre.width + 9];
      if (v === null) {
        assert.equal(o, 12, 'a missing origin takes the unknown row');
        assert.equal(c, 84, 'and so does its cross');
      } else {
        assert.equal(origin.vocabulary[o], v);
        assert.equal(cross.vocabulary[c], `${v}${CROSS_SEPARATOR}${day}`);
      }
    }
  });

  it('a cross is looked up by numbers exactly as by its text key, unseen and missing parts included', () => {
    // fitted on a few rows with a high minCount: many combinations stay out of the vocabulary
    const s = parseModelSpec({
      ...spec,
      features: [
        ...spec.features.slice(0, 3),
        { name: 'origin_day', transform: { kind: 'cross', of: ['origin', 'weekday'], minCount: 8 } },
      ],
    });
    const t = table(3000, 9);
    const pre = fitPreprocessor(s, t, all(400));
    const cross = pre.features.find((f) => f.kind === 'cross');
    assert.ok(cross?.kind === 'cross');
    assert.ok(cross.vocabulary.length > 5 && cross.vocabulary.length < 84, `${cross.vocabulary.length} kept`);
    const byText = crossKeys(cross.parts, t);
    const byNumber = crossIndexer(cross, t);
    const position = new Map(cross.vocabulary.map((v, i) => [v, i]));
    let unknown = 0;
    for (let r = 0; r < t.rows; r++) {
      const key = byText(r);
      const expected: number = key === null ? cross.vocabulary.length : (position.get(key) ?? cross.vocabulary.length);
      if (expected === cross.vocabulary.length) unknown++;
      assert.equal(byNumber(r), expected, `row ${r}: ${key}`);
    }
    assert.ok(unknown > 100, `${unknown} rows in the unknown bucket`);
  });

  it('the dense step trains an embedded network as trainOnBatch does, and it learns the interaction', async () => {
    const { tf } = await loadTf();
    const s = parseModelSpec(spec);
    const t = table(4000);
    const pre = fitPreprocessor(s, t, all(t.rows));
    const d = encoded(pre, t);
    const reference = buildNetwork(tf, s, pre);
    const fast = buildNetwork(tf, s, pre);
    assert.ok(DenseTrainer.for(tf, fast), 'the dense step takes an embedded network');
    const opts = { epochs: 3, batchSize: 64, seed: 3 };
    const a = await trainLoop(tf, reference, d, { ...opts, engine: 'layers' });
    const b = await trainLoop(tf, fast, d, { ...opts, engine: 'dense' });
    a.history.forEach((h, i) => {
      const rel = Math.abs(h.loss - b.history[i].loss) / h.loss;
      assert.ok(rel < 1e-4, `epoch ${i + 1} loss ${b.history[i].loss} vs ${h.loss}`);
    });
    const wa = reference.getWeights().map((w) => w.dataSync());
    const wb = fast.getWeights().map((w) => w.dataSync());
    let worst = 0;
    wa.forEach((w, i) => w.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - wb[i][j])))));
    assert.ok(worst < 1e-3, `weights differ by up to ${worst}`);
    const sa = await reference.optimizer.getWeights();
    const sb = await fast.optimizer.getWeights();
    assert.deepEqual(
      sb.map((w) => w.tensor.shape),
      sa.map((w) => w.tensor.shape),
      'Adam state in the same order and shapes',
    );
    reference.dispose();
    fast.dispose();
    // a label decided by (airport + weekday) mod 3: learnable only through the pair
    const faster = parseModelSpec({ ...spec, training: { ...spec.training, learningRate: 0.01 } });
    const learner = buildNetwork(tf, faster, pre);
    const learnt = await trainLoop(tf, learner, d, { ...opts, epochs: 4 });
    const last = learnt.history[3].loss;
    assert.ok(last < 0.4 && last < learnt.history[0].loss, `it learns the interaction: loss ${last}`);
    learner.dispose();
  });

  it('a run resumed from the saved weights and Adam state ends where an uninterrupted one does', async () => {
    const { tf } = await loadTf();
    const s = parseModelSpec(spec);
    const t = table(3000, 2);
    const pre = fitPreprocessor(s, t, all(t.rows));
    const d = encoded(pre, t);
    const opts = { epochs: 2, batchSize: 128, seed: 9 };
    const straight = buildNetwork(tf, s, pre);
    const whole = await trainLoop(tf, straight, d, opts);
    const first = buildNetwork(tf, s, pre);
    const half = await trainLoop(tf, first, d, { ...opts, epochs: 1 });
    const resumed = buildNetwork(tf, s, pre);
    resumed.setWeights(first.getWeights());
    await restoreOptimizerState(resumed, await optimizerState(first));
    const rest = await trainLoop(tf, resumed, d, { ...opts, start: half });
    assert.equal(rest.history[1].loss, whole.history[1].loss, 'the second epoch is the same epoch');
    const wa = straight.getWeights().map((w) => w.dataSync());
    const wb = resumed.getWeights().map((w) => w.dataSync());
    wa.forEach((w, i) => assert.deepEqual(wb[i], w, `weight ${i}`));
    [straight, first, resumed].forEach((m) => m.dispose());
  });

  it('every prediction path computes the same outputs for an embedded network', async () => {
    const { tf } = await loadTf();
    const s = parseModelSpec({ ...spec, training: { hiddenUnits: [16, 8], seed: 3 } });
    const t = table(1000, 4);
    const pre = fitPreprocessor(s, t, all(t.rows));
    const model = buildNetwork(tf, s, pre);
    await trainLoop(tf, model, encoded(pre, t), { epochs: 1, batchSize: 64, seed: 1 });
    const rows = 40;
    const x = encodeFeatures(pre, t, all(rows));
    const layers = predictRowsLayers(tf, model, x, rows, pre.width);
    const fused = predictRows(tf, model, x, rows, pre.width);
    const served = servingForward(tf, model);
    assert.ok(served.smallBatchRows >= rows, 'computed without tfjs');
    const plain = served(x, rows, pre.width);
    for (let r = 0; r < rows; r++) {
      assert.ok(Math.abs(fused[r] - layers[r]) < 1e-6, `row ${r}: fused ${fused[r]} vs layers ${layers[r]}`);
      assert.ok(Math.abs(plain[r] - layers[r]) < 1e-6, `row ${r}: plain ${plain[r]} vs layers ${layers[r]}`);
    }
    const broken = x.slice(0, pre.width);
    broken[pre.width - 1] = 1000;
    assert.throws(() => served(broken, 1, pre.width), /embedding 1: index 1000 is not one of its \d+ rows/);
    model.dispose();
  });
});
