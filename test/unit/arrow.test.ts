import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  Bool,
  Dictionary,
  Float64,
  Int32,
  List,
  Field,
  TimestampMillisecond,
  Utf8,
  tableFromArrays,
  tableToIPC,
  vectorFromArray,
  Table,
} from 'apache-arrow';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { snapshotPath, snapshotSource } from '../../lib/data/snapshot';
import { SourceError } from '../../lib/errors';
import { tempHome, type TestHome } from '../support/env';

/** Arrow IPC files (Feather v2) as sources: read as they are, and every wrong format said before any work. */
describe('Arrow IPC sources', () => {
  let t: TestHome;
  before(() => (t = tempHome()));
  after(() => t.cleanup());

  it('reads the bundled flights-200k.arrow, 200,000 rows in the types it declares', async () => {
    const ds = await snapshotSource(t.deps.store, { uri: 'vega-datasets:flights-200k.arrow' });
    assert.equal(ds.rows, 200_000);
    assert.deepEqual(
      ds.columns.map((c) => `${c.name}:${c.type}`),
      ['delay:BIGINT', 'distance:BIGINT', 'time:DOUBLE'],
    );
  });

  it('reads text, categories (dictionary), booleans, times and missing values, in both IPC file and stream form', async () => {
    const table = new Table({
      city: vectorFromArray(['Oslo', null, 'Lima'], new Utf8()),
      kind: vectorFromArray(['a', 'b', 'a'], new Dictionary(new Utf8(), new Int32())),
      n: vectorFromArray([1, 2, null], new Int32()),
      x: vectorFromArray([1.5, null, -2], new Float64()),
      ok: vectorFromArray([true, false, null], new Bool()),
      at: vectorFromArray([Date.UTC(2001, 0, 2, 3, 4, 5), null, Date.UTC(1999, 11, 31)], new TimestampMillisecond()),
    });
    for (const [name, form] of [
      ['rows.arrow', 'file'],
      ['rows.arrows', 'stream'],
    ] as const) {
      const file = path.join(t.home, name);
      fs.writeFileSync(file, tableToIPC(table, form));
      const ds = await snapshotSource(t.deps.store, { uri: file });
      const rows = await withDuckDB(async (con) =>
        (
          await con.runAndReadAll(
            `SELECT city, kind, n, x, ok, CAST("at" AS VARCHAR) FROM read_parquet(${sqlString(await snapshotPath(t.deps.store, ds))})`,
          )
        ).getRowsJS(),
      );
      assert.deepEqual(
        rows.map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v))),
        [
          ['Oslo', 'a', 1, 1.5, true, '2001-01-02 03:04:05'],
          [null, 'b', 2, null, false, null],
          ['Lima', 'a', null, -2, null, '1999-12-31 00:00:00'],
        ],
        form,
      );
    }
  });

  it('says what is wrong before any work: a forced wrong format, a Parquet named .arrow, an unreadable column type', async () => {
    const refused = async (source: { uri: string; format?: 'parquet' | 'csv' | 'json' | 'arrow' }, expect: RegExp) =>
      assert.rejects(
        snapshotSource(t.deps.store, source),
        (err: Error) => err instanceof SourceError && expect.test(err.message),
      );
    await refused(
      { uri: 'vega-datasets:flights-200k.arrow', format: 'parquet' },
      /flights-200k\.arrow is an Arrow IPC file, not parquet \(--format parquet\): give --format arrow, or leave --format out/,
    );
    const disguised = path.join(t.home, 'disguised.arrow');
    fs.copyFileSync(
      path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data', 'flights-3m.parquet'),
      disguised,
    );
    await refused(
      { uri: disguised },
      /is a Parquet file, not arrow \(as its extension \.arrow says\): give --format parquet/,
    );
    const text = path.join(t.home, 'text.parquet');
    fs.writeFileSync(text, 'a,b\n1,2\n');
    await refused({ uri: text }, /is not a Parquet file: its first bytes are not that format's; is it text/);
    const unknown = path.join(t.home, 'rows.data');
    fs.writeFileSync(unknown, 'a,b\n1,2\n');
    await refused(
      { uri: unknown },
      /cannot tell the format from the extension "\.data" or from its content; give --format parquet\|csv\|json\|arrow/,
    );
    const feather1 = path.join(t.home, 'old.feather');
    fs.writeFileSync(feather1, Buffer.concat([Buffer.from('FEA1'), Buffer.alloc(64)]));
    await refused({ uri: feather1 }, /a Feather v1 file .*save it again as Arrow IPC/);
    const lists = path.join(t.home, 'lists.arrow');
    const withList = tableFromArrays({ id: Int32Array.from([1, 2]) });
    const listed = new Table({
      id: withList.getChild('id')!,
      tags: vectorFromArray([['a'], ['b', 'c']], new List(new Field('item', new Utf8(), true))),
    });
    fs.writeFileSync(lists, tableToIPC(listed, 'file'));
    await refused({ uri: lists }, /column "tags" has the Arrow type List<Utf8>, which Lumen does not read/);
  });
});
