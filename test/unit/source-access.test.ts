import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { withSourceDuckDB } from '../../lib/data/duckdb';
import { snapshotSource } from '../../lib/data/snapshot';
import { bundledDataFolder, openSource, sourceAccess, type SourceAccess } from '../../lib/data/source';
import { SourceError } from '../../lib/errors';
import { tempHome, type TestHome } from '../support/env';

/** What a source may name, checked before anything opens it (issue #12, "what a source may read"). */
describe('source access: roots, schemes, links and DuckDB’s own sandbox', () => {
  let t: TestHome;
  let outside: TestHome;
  let access: SourceAccess;
  let inside: string;
  let secret: string;
  before(() => {
    t = tempHome();
    outside = tempHome('lumen-outside-');
    inside = path.join(t.home, 'data', 'ok.csv');
    fs.mkdirSync(path.dirname(inside), { recursive: true });
    fs.writeFileSync(inside, 'a,b\n1,2\n');
    secret = path.join(outside.home, 'secret.csv');
    fs.writeFileSync(secret, 'password\nhunter2\n');
    access = sourceAccess(t.home, { LUMEN_SOURCE_ROOTS: path.join(t.home, 'data') });
  });
  after(() => {
    t.cleanup();
    outside.cleanup();
  });

  const refused = (uri: string, expect: RegExp, rules: SourceAccess = access): void =>
    assert.throws(
      () => openSource({ uri }, rules),
      (err: unknown) => err instanceof SourceError && expect.test(err.message),
      uri,
    );

  it('roots come from LUMEN_SOURCE_ROOTS, else the working directory and the Lumen home', () => {
    assert.deepEqual(access.roots, [fs.realpathSync(path.join(t.home, 'data'))]);
    assert.deepEqual(access.schemes, ['file', 'vega-datasets']);
    const defaults = sourceAccess(t.home, {});
    assert.deepEqual(defaults.roots, [fs.realpathSync(process.cwd()), fs.realpathSync(t.home)]);
    assert.throws(
      () => sourceAccess(t.home, { LUMEN_SOURCE_ROOTS: '/no/such/folder' }),
      /LUMEN_SOURCE_ROOTS names \/no\/such\/folder, which does not exist/,
    );
  });

  it('a file inside a root opens, as a path or a file:// URI, resolved to its real path and format', () => {
    const opened = openSource({ uri: inside }, access);
    assert.equal(opened.file, fs.realpathSync(inside));
    assert.equal(opened.format, 'csv');
    assert.equal(openSource({ uri: `file://${inside}` }, access).file, opened.file);
  });

  it('refuses a file outside the roots, naming the roots and the setting', () => {
    refused(secret, /is refused: .*secret\.csv is outside the allowed source roots \(.*data; LUMEN_SOURCE_ROOTS\)/);
    refused('/etc/passwd', /\/etc\/passwd is outside the allowed source roots/);
  });

  it('refuses a path with "..", even one that would land inside a root', () => {
    refused(`${t.home}/data/../data/ok.csv`, /climbs out of its folder with "\.\."/);
    refused(`file://${t.home}/data/../data/ok.csv`, /climbs out of its folder/);
    refused(`file://${t.home}/data/%2E%2E/data/ok.csv`, /climbs out of its folder/);
    refused(`${path.join(t.home, 'data')}/../../${path.basename(outside.home)}/secret.csv`, /"\.\."/);
  });

  it('refuses a symbolic link inside a root that points out of it', () => {
    const link = path.join(t.home, 'data', 'innocent.csv');
    fs.symlinkSync(secret, link);
    refused(link, /innocent\.csv is refused: it is a symbolic link to .*secret\.csv, outside the allowed source roots/);
    // a link that stays inside is just a file
    const inner = path.join(t.home, 'data', 'alias.csv');
    fs.symlinkSync(inside, inner);
    assert.equal(openSource({ uri: inner }, access).file, fs.realpathSync(inside));
  });

  it('refuses URLs and schemes not allowed, and a bundled dataset named with a path', () => {
    // only what can work is suggested: no setting makes Lumen read a URL, so LUMEN_SOURCE_SCHEMES is not named
    for (const uri of ['https://example.com/flights.csv', 's3://bucket/flights.parquet']) {
      assert.throws(
        () => openSource({ uri }, access),
        (err: Error) =>
          /Lumen cannot read "(https|s3)" sources: it reads files/.test(err.message) &&
          !/LUMEN_SOURCE_SCHEMES/.test(err.message),
      );
    }
    assert.throws(
      () => sourceAccess(t.home, { LUMEN_SOURCE_SCHEMES: 'file,https' }),
      /LUMEN_SOURCE_SCHEMES names "https", which Lumen cannot read: it can allow file and vega-datasets only/,
    );
    refused('vega-datasets:../../package.json', /named by its file name alone/);
    refused(
      'vega-datasets:flights-3m.parquet',
      /the scheme "vega-datasets" is not allowed here \(allowed: file; LUMEN_SOURCE_SCHEMES\)/,
      {
        ...access,
        schemes: ['file'],
      },
    );
    assert.equal(
      openSource({ uri: 'vega-datasets:cars.json' }, access).file,
      path.join(bundledDataFolder(), 'cars.json'),
    );
  });

  it('a refused source fails ingest before DuckDB opens it: nothing is snapshotted', async () => {
    const link = path.join(t.home, 'data', 'innocent.csv');
    await assert.rejects(
      snapshotSource(t.deps.store, { uri: link }, access),
      (err: unknown) => err instanceof SourceError && /symbolic link/.test(err.message),
    );
    assert.equal(fs.existsSync(path.join(t.deps.store.root, 'snapshots')), false, 'no snapshot written');
    const ok = await snapshotSource(t.deps.store, { uri: inside }, access);
    assert.equal(ok.rows, 1);
  });

  it('DuckDB itself may open only the allowed folders, and its settings cannot be unlocked', async () => {
    const sandbox = { read: access.roots, write: t.deps.store.root };
    await withSourceDuckDB(sandbox, async (con) => {
      const rows = (await con.runAndReadAll(`SELECT b FROM read_csv('${inside}')`)).getRowsJS();
      assert.deepEqual(rows, [[2n]]);
      for (const sql of [
        `SELECT * FROM read_csv('${secret}')`,
        "SELECT * FROM read_text('/etc/passwd')",
        `SELECT * FROM read_csv('${path.join(t.home, 'data')}/../../${path.basename(outside.home)}/secret.csv')`,
        `COPY (SELECT 1) TO '${path.join(outside.home, 'out.parquet')}' (FORMAT parquet)`,
      ]) {
        await assert.rejects(con.run(sql), /Permission Error: Cannot access file/, sql);
      }
      await assert.rejects(con.run('SET enable_external_access = true'), /the configuration has been locked/);
      const limit = (await con.runAndReadAll("SELECT current_setting('memory_limit')")).getRowsJS()[0][0] as string;
      assert.match(limit, /(MiB|GiB)$/);
    });
  });
});
