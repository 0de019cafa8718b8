import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sqlIdent, sqlString, withDuckDB } from '../../lib/data/duckdb';
import { snapshotSource } from '../../lib/data/snapshot';
import { loadTable } from '../../lib/data/table';
import { columnRequests, encodeFeatures, type Preprocessor } from '../../lib/features';
import { inputFieldSql } from '../../lib/monitor/health';
import { prng } from '../../lib/rng';
import { scoreFile } from '../../lib/serving/batch';
import { ServedVersion, scoreOf } from '../../lib/serving/version';
import { parseModelSpec, type ModelSpec } from '../../lib/spec';
import { tempHome, type TestHome } from '../support/env';
import { trainAndRegister } from '../support/serving';

/**
 * Training/serving skew: the same rows reach a model by four roads — a batch file read for training, a file scored
 * by `lumen predict`, a JSON request to `serve`, and the prediction log's JSON read back by the monitor (drift, and
 * retraining on served rows). Every road must give the same encoded inputs and the same outputs, for every kind of
 * transform, with missing values and a category never seen in training among them.
 */
const spec: ModelSpec = parseModelSpec({
  name: 'skew',
  task: 'binary',
  source: {
    columns: [
      { name: 'at', type: 'timestamp' },
      { name: 'amount', type: 'float', min: 0, required: false },
      { name: 'count', type: 'integer', required: false },
      { name: 'shop', type: 'string', required: false },
      { name: 'channel', type: 'string' },
      { name: 'late', type: 'integer' },
    ],
  },
  label: { kind: 'threshold', column: 'late', op: '>', value: 0 },
  features: [
    { name: 'amount', column: 'amount', transform: { kind: 'numeric', log: true, pieces: 6 } },
    { name: 'count', column: 'count', transform: { kind: 'numeric', missingIndicator: 'always' } },
    { name: 'shop', column: 'shop', transform: { kind: 'categorical', minCount: 5 } },
    { name: 'channel', column: 'channel', transform: { kind: 'categorical', encoding: 'embedding', embeddingDim: 3 } },
    { name: 'hour', column: 'at', transform: { kind: 'hourOfDay', encoding: 'cyclical' } },
    { name: 'weekday', column: 'at', transform: { kind: 'dayOfWeek' } },
    { name: 'month', column: 'at', transform: { kind: 'month' } },
    { name: 'when', column: 'at', transform: { kind: 'timeValue' } },
    { name: 'shop_day', transform: { kind: 'cross', of: ['shop', 'weekday'] } },
  ],
  training: { hiddenUnits: [16], epochs: 3, batchSize: 64, seed: 5, l2: 0.001 },
});

type Row = Record<string, string | number | null>;

function rows(n: number, seed: number, unseen: boolean): Row[] {
  const rand = prng(seed);
  const shops = ['north', 'south', 'east', 'west', 'centre'];
  return Array.from({ length: n }, (_, i) => {
    const day = 1 + Math.floor(rand() * 60);
    const hour = Math.floor(rand() * 24);
    const at = new Date(Date.UTC(2024, 0, day, hour, Math.floor(rand() * 60)));
    const amount = i % 17 === 3 ? null : Math.round(Math.exp(rand() * 8) * 100) / 100;
    const shop = unseen && i % 11 === 0 ? 'harbour' : i % 23 === 5 ? null : shops[Math.floor(rand() * shops.length)];
    return {
      at: at.toISOString().slice(0, 19).replace('T', ' '),
      amount,
      count: i % 13 === 7 ? null : Math.floor(rand() * 40),
      shop,
      channel: ['web', 'store', 'phone'][Math.floor(rand() * 3)],
      late: (amount ?? 50) > 200 !== hour > 12 ? 1 : 0,
    };
  });
}

/** Rows as a CSV file: empty cells for missing values. */
function csv(file: string, data: Row[]): void {
  const columns = Object.keys(data[0]);
  const cell = (v: string | number | null): string => (v === null ? '' : String(v));
  fs.writeFileSync(file, [columns.join(','), ...data.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n'));
}

const all = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);

describe('skew: the same rows by every road give the same inputs and outputs', () => {
  let t: TestHome;
  let served: ServedVersion;
  let pre: Preprocessor;
  let file: string;
  const scoring = rows(300, 9, true);

  before(async () => {
    t = tempHome('lumen-skew-');
    const training = path.join(t.home, 'training.csv');
    csv(training, rows(3000, 3, false));
    const version = await trainAndRegister(t.deps, spec, { uri: training }, { champion: true, workflowId: 'skew' });
    served = await ServedVersion.load(t.deps.store, version);
    pre = served.preprocessor;
    file = path.join(t.home, 'scoring.csv');
    csv(file, scoring);
    // the batch road: lumen predict on the file
    await scoreFile(t.deps.store, version, { uri: file }, path.join(t.home, 'scored.parquet'));
  });

  after(() => {
    served?.dispose();
    t?.cleanup();
  });

  /** The request road: JSON rows as a client sends them, read and laid out by the served version. */
  function servedInputs(): { x: Float32Array; outputs: number[] } {
    const request = JSON.parse(JSON.stringify(scoring.map(({ late: _, ...r }) => r))) as Record<string, unknown>[];
    const { problems, rows: read } = served.rows.read(request);
    assert.deepEqual(problems, [], 'every row keeps the contract');
    const { table } = served.rows.layout(read);
    return {
      x: encodeFeatures(pre, table, all(table.rows)),
      outputs: served.predict(table).map((o) => scoreOf(o).score),
    };
  }

  /** Two encodings of the same rows are equal, input for input; else the first that differs, by name and row. */
  function sameInputs(a: Float32Array, b: Float32Array): void {
    assert.equal(a.length, b.length);
    const differs = a.findIndex((v, i) => v !== b[i]);
    assert.equal(
      differs,
      -1,
      `input ${differs % pre.width} (${pre.inputNames[differs % pre.width]}) of row ${Math.floor(differs / pre.width)}`,
    );
  }

  it('the pieces, embeddings, crosses and calendar parts are all in the model', () => {
    const kinds = new Set(pre.features.map((f) => f.kind));
    for (const k of ['numeric', 'categorical', 'cross', 'hourOfDay', 'dayOfWeek', 'month', 'timeValue']) {
      assert.ok(kinds.has(k as never), k);
    }
    const amount = pre.features.find((f) => f.name === 'amount');
    assert.ok(amount?.kind === 'numeric' && amount.edges && amount.edges.length > 2, 'pieces fitted');
  });

  it('a file read for training and a served request encode to the same inputs', async () => {
    const dataset = await snapshotSource(t.deps.store, { uri: file });
    const table = await loadTable(t.deps.store, dataset, columnRequests(spec));
    const trained = encodeFeatures(pre, table, all(table.rows));
    const { x } = servedInputs();
    sameInputs(trained, x);
  });

  it('the prediction log read back by the monitor encodes to the same inputs', async () => {
    // the log keeps each request row as JSON; the monitor types its fields by the contract (inputFieldSql)
    const monitored = path.join(t.home, 'from-log.parquet');
    await withDuckDB(async (con) => {
      await con.run('CREATE TEMP TABLE log (i INTEGER, input VARCHAR)');
      const values = scoring.map((r, i) => `(${i}, ${sqlString(JSON.stringify(r))})`).join(', ');
      await con.run(`INSERT INTO log VALUES ${values}`);
      const select = spec.source.columns.map((c) => `${inputFieldSql(c)} AS ${sqlIdent(c.name)}`).join(', ');
      await con.run(`COPY (SELECT ${select} FROM log ORDER BY i) TO ${sqlString(monitored)} (FORMAT parquet)`);
    });
    const dataset = await snapshotSource(t.deps.store, { uri: monitored });
    const table = await loadTable(t.deps.store, dataset, columnRequests(spec));
    const fromLog = encodeFeatures(pre, table, all(table.rows));
    const { x } = servedInputs();
    sameInputs(fromLog, x);
  });

  it('lumen predict on the file and serve on the same rows answer alike, to 1e-6', async () => {
    const batch = await withDuckDB(async (con) =>
      (
        await con.runAndReadAll(
          `SELECT probability FROM read_parquet(${sqlString(path.join(t.home, 'scored.parquet'))})`,
        )
      )
        .getRowsJS()
        .map((r) => Number(r[0])),
    );
    const { outputs } = servedInputs();
    assert.equal(batch.length, outputs.length);
    let worst = 0;
    batch.forEach((b, i) => (worst = Math.max(worst, Math.abs(b - outputs[i]))));
    assert.ok(worst <= 1e-6, `largest difference ${worst}`);
    assert.ok(new Set(outputs.map((o) => o.toFixed(3))).size > 10, 'the outputs differ from row to row');
  });
});
