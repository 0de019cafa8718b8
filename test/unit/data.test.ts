import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { snapshotSource } from '../../lib/data/snapshot';
import { monthWindow, sourceFingerprint } from '../../lib/data/source';
import { loadTable } from '../../lib/data/table';
import { validateBasic } from '../../lib/data/validate';
import { DataValidationError, SourceError } from '../../lib/errors';
import { loadModelSpec } from '../../lib/spec';
import { repoRoot, tempHome, vegaPath, type TestHome } from '../support/env';

const weatherSpec = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
const flightsSpec = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));

describe('ingest and basic validation (DuckDB, real files)', () => {
  let t: TestHome;
  before(() => (t = tempHome()));
  after(() => t.cleanup());

  function write(name: string, body: string | Buffer): string {
    const file = path.join(t.home, name);
    fs.writeFileSync(file, body);
    return file;
  }

  it('snapshots a CSV to content-addressed Parquet; the same content gives the same digest', async () => {
    const a = await snapshotSource(t.deps.store, { uri: 'vega-datasets:seattle-weather.csv' });
    assert.equal(a.rows, 1461);
    assert.deepEqual(
      a.columns.map((c) => c.name),
      ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather'],
    );
    const copy = write('weather-copy.csv', fs.readFileSync(vegaPath('seattle-weather.csv')));
    const b = await snapshotSource(t.deps.store, { uri: copy });
    assert.equal(b.sha256, a.sha256, 'same bytes from another path: same snapshot');
    assert.equal(b.sourceFingerprint, a.sourceFingerprint);
    await t.deps.store.verify(a);
  });

  it('a CSV with a BOM and CRLF line ends snapshots identically to the clean file', async () => {
    const clean = fs.readFileSync(vegaPath('seattle-weather.csv'), 'utf8');
    const dirty = write('weather-bom-crlf.csv', `\ufeff${clean.replace(/\n/g, '\r\n')}`);
    const a = await snapshotSource(t.deps.store, { uri: 'vega-datasets:seattle-weather.csv' });
    const b = await snapshotSource(t.deps.store, { uri: dirty });
    assert.equal(b.sha256, a.sha256);
  });

  it('cuts a month out of the 3M-row flights file', async () => {
    const jan = await snapshotSource(t.deps.store, {
      uri: 'vega-datasets:flights-3m.parquet',
      window: monthWindow('date', '2001-01'),
    });
    assert.equal(jan.rows, 508_239);
    const table = await loadTable(jan, [{ name: 'date', as: 'timestamp' }]);
    const dates = (table.columns.get('timestamp:date') as { values: Float64Array }).values;
    let min = Infinity;
    let max = -Infinity;
    for (const d of dates) {
      min = Math.min(min, d);
      max = Math.max(max, d);
    }
    assert.ok(min >= Date.parse('2001-01-01T00:00:00Z') && max < Date.parse('2001-02-01T00:00:00Z'));
    const report = await validateBasic(jan, flightsSpec);
    assert.equal(report.outcome, 'pass');
  });

  it('the fingerprint changes with the window, not with the path', async () => {
    const jan = await sourceFingerprint({
      uri: 'vega-datasets:flights-3m.parquet',
      window: monthWindow('date', '2001-01'),
    });
    const feb = await sourceFingerprint({
      uri: 'vega-datasets:flights-3m.parquet',
      window: monthWindow('date', '2001-02'),
    });
    assert.notEqual(jan, feb);
  });

  it('a truncated Parquet file is a SourceError naming the file', async () => {
    const bytes = fs.readFileSync(vegaPath('flights-3m.parquet'));
    const truncated = write('truncated.parquet', bytes.subarray(0, 1 << 20));
    await assert.rejects(
      snapshotSource(t.deps.store, { uri: truncated }),
      (e: unknown) =>
        e instanceof SourceError && e.message.includes(truncated) && /cannot read parquet/.test(e.message),
    );
  });

  it('a missing file is a SourceError naming it', async () => {
    await assert.rejects(
      snapshotSource(t.deps.store, { uri: '/nonexistent/data.csv' }),
      /source file not found: \/nonexistent\/data.csv/,
    );
  });

  it('validation names the dataset and every failing column', async () => {
    const csv = fs.readFileSync(vegaPath('seattle-weather.csv'), 'utf8').split('\n');
    // drop "wind", and make temp_max text
    const broken = csv
      .map((line, i) => {
        const cells = line.split(',');
        if (cells.length < 6) return line;
        if (i > 0) cells[2] = `t${cells[2]}`;
        return [cells[0], cells[1], cells[2], cells[3], cells[5]].join(',');
      })
      .join('\n');
    const file = write('weather-broken.csv', broken);
    const ds = await snapshotSource(t.deps.store, { uri: file });
    await assert.rejects(validateBasic(ds, weatherSpec), (e: unknown) => {
      assert.ok(e instanceof DataValidationError);
      assert.match(e.message, /weather-broken\.csv/);
      assert.match(e.message, /column "wind" \(float\) is missing/);
      assert.match(e.message, /column "temp_max" should be float but is VARCHAR/);
      return true;
    });
  });

  it('an empty batch fails validation; it never passes', async () => {
    const ds = await snapshotSource(t.deps.store, {
      uri: 'vega-datasets:flights-3m.parquet',
      window: monthWindow('date', '2002-01'),
    });
    assert.equal(ds.rows, 0);
    await assert.rejects(validateBasic(ds, flightsSpec), /dataset is empty \(0 rows\)/);
  });

  it('a label column with no values fails; some missing labels only warn', async () => {
    const rows = [
      'date,precipitation,temp_max,temp_min,wind,weather',
      '2012-01-01,0.0,12.8,5.0,4.7,',
      '2012-01-02,10.9,10.6,2.8,4.5,',
    ];
    const none = await snapshotSource(t.deps.store, { uri: write('no-label.csv', rows.join('\n')) });
    await assert.rejects(validateBasic(none, weatherSpec), /label column "weather" has no values/);
    const some = await snapshotSource(t.deps.store, {
      uri: write('some-label.csv', [...rows, '2012-01-03,0.8,11.7,7.2,2.3,rain'].join('\n')),
    });
    const report = await validateBasic(some, weatherSpec);
    assert.equal(report.outcome, 'warn');
    assert.match(report.checks.find((c) => c.name === 'label')!.detail, /null in 2 of 3 rows/);
  });
});
