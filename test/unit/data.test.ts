import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { snapshotSource } from '../../lib/data/snapshot';
import { monthWindow, sourceFingerprint } from '../../lib/data/source';
import { loadTable } from '../../lib/data/table';
import { SourceError } from '../../lib/errors';
import { tempHome, vegaPath, type TestHome } from '../support/env';

describe('ingest (DuckDB, real files)', () => {
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
    const table = await loadTable(t.deps.store, jan, [{ name: 'date', as: 'timestamp' }]);
    const dates = (table.columns.get('timestamp:date') as { values: Float64Array }).values;
    let min = Infinity;
    let max = -Infinity;
    for (const d of dates) {
      min = Math.min(min, d);
      max = Math.max(max, d);
    }
    assert.ok(min >= Date.parse('2001-01-01T00:00:00Z') && max < Date.parse('2001-02-01T00:00:00Z'));
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
        e instanceof SourceError &&
        e.message.includes(path.basename(truncated)) &&
        /is a Parquet file cut short: .*not Parquet's footer/.test(e.message),
    );
  });

  it('a missing file is a SourceError naming it', async () => {
    await assert.rejects(
      snapshotSource(t.deps.store, { uri: '/nonexistent/data.csv' }),
      /source file not found: \/nonexistent\/data.csv/,
    );
  });
});
