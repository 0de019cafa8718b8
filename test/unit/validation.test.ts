import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { snapshotSource, type DatasetRef } from '../../lib/data/snapshot';
import { loadTable } from '../../lib/data/table';
import { SourceError } from '../../lib/errors';
import { hashJson } from '../../lib/hash';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../../lib/spec';
import { inferContract, proposeSpec } from '../../lib/validation/infer';
import { profileDataset } from '../../lib/validation/profile';
import { validateBatch, type ReferenceData, type ValidationResult } from '../../lib/validation/report';
import { repoRoot, tempHome, vegaPath, type TestHome } from '../support/env';

/**
 * The bad-input corpus: each batch is a real week of January 2001 flights (the reference is the week before),
 * damaged in one specific way. Every one must fail, and the failure must name the file, the column and why.
 */
describe('data contract: a corpus of bad batches', () => {
  let t: TestHome;
  let reference: ReferenceData;
  const spec: ModelSpec = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
  const flights = `read_parquet(${sqlString(vegaPath('flights-3m.parquet'))})`;
  const week2 = `SELECT * FROM ${flights} WHERE date >= '2001-01-08' AND date < '2001-01-15'`;

  /** Write a damaged batch with DuckDB and snapshot it, as ingest would. */
  async function batch(name: string, select: string, format: 'csv' | 'parquet' = 'csv'): Promise<DatasetRef> {
    const file = path.join(t.home, `${name}.${format}`);
    await withDuckDB((con) =>
      con.run(`COPY (${select}) TO ${sqlString(file)} (FORMAT ${format}${format === 'csv' ? ', HEADER' : ''})`),
    );
    return snapshotSource(t.deps.store, { uri: file });
  }

  async function validate(ds: DatasetRef, s: ModelSpec = spec): Promise<ValidationResult> {
    return validateBatch(t.deps.store, s, ds, reference);
  }

  function expectFailure(result: ValidationResult, file: string, column: string, reason: RegExp): void {
    const { report } = result;
    assert.equal(report.outcome, 'fail', report.summary);
    assert.ok(report.summary.includes(file), `summary names the file ${file}: ${report.summary}`);
    const failing = report.checks.filter((c) => c.outcome === 'fail');
    assert.ok(
      failing.some((c) => c.detail.includes(`"${column}"`) && reason.test(c.detail)),
      `a failing check names column "${column}" and matches ${reason}:\n${failing.map((c) => c.detail).join('\n')}`,
    );
  }

  before(async () => {
    t = tempHome();
    const week1 = await snapshotSource(t.deps.store, {
      uri: 'vega-datasets:flights-3m.parquet',
      window: { column: 'date', start: '2001-01-01', end: '2001-01-08' },
    });
    reference = { dataset: week1, profile: await profileDataset(t.deps.store, week1), kind: 'champion' };
  });
  after(() => t.cleanup());

  it('a healthy week passes against the week before (seasonal noise is not drift)', async () => {
    const result = await validate(await batch('good', week2, 'parquet'));
    assert.notEqual(result.report.outcome, 'fail', result.report.summary);
    assert.equal(result.report.rows.badRows, 0);
    assert.deepEqual(
      result.report.drift?.columns.map((d) => `${d.column}:${d.outcome}`),
      [
        'date:pass',
        'date (day of week):pass',
        'date (hour of day):pass',
        'delay:pass',
        'distance:pass',
        'origin:pass',
        'destination:pass',
      ],
      'drift measured on every column, the time column by its range and calendar',
    );
    assert.equal(result.trainingDataset.sha256, result.report.dataset.sha256, 'a clean batch trains as it is');
  });

  it('wrong types: distance as text is not a number, in every row', async () => {
    const ds = await batch(
      'wrong-types',
      `SELECT * REPLACE (CAST(distance AS VARCHAR) || ' mi' AS distance) FROM (${week2})`,
    );
    const result = await validate(ds);
    expectFailure(result, 'wrong-types.csv', 'distance', /bad rows — e\.g\. row 1: distance: "\d+ mi" is not a number/);
    assert.equal(result.report.trainable, false, 'nothing is left to train on');
  });

  it('missing label column', async () => {
    const result = await validate(await batch('no-label', `SELECT * EXCLUDE (delay) FROM (${week2})`));
    expectFailure(result, 'no-label.csv', 'delay', /column "delay" \(integer\) is missing/);
    assert.equal(result.report.trainable, false);
  });

  it('an all-null column', async () => {
    const result = await validate(
      await batch('null-origin', `SELECT * REPLACE (NULL::VARCHAR AS origin) FROM (${week2})`, 'parquet'),
    );
    expectFailure(result, 'null-origin.parquet', 'origin', /missing in 100\.00% of rows \(all null\)/);
    assert.equal(result.report.trainable, false);
  });

  it('NaN and ±Inf in 30% of rows: too many bad rows, the rest could train (quarantine)', async () => {
    const ds = await batch(
      'non-finite',
      `SELECT * REPLACE (CASE WHEN hash(date, origin, destination) % 10 < 2 THEN 'NaN'::DOUBLE
                              WHEN hash(date, origin, destination) % 10 = 2 THEN (CASE WHEN delay % 2 = 0 THEN 'inf' ELSE '-inf' END)::DOUBLE
                              ELSE distance END AS distance) FROM (${week2})`,
    );
    const result = await validate(ds);
    expectFailure(result, 'non-finite.csv', 'distance', /bad rows/);
    const nonFinite = result.report.checks.find((c) => c.name === 'non-finite' && c.column === 'distance');
    assert.ok(nonFinite && /NaN, \d+ \+Inf and \d+ -Inf/.test(nonFinite.detail), nonFinite?.detail);
    assert.ok(result.report.rows.byReason['distance:nan'] > 0 && result.report.rows.byReason['distance:infinite'] > 0);
    assert.equal(result.report.trainable, true, 'the finite rows could train if a person releases the batch');
  });

  it('distance converted to kilometres (×1.609): out of range and drifted', async () => {
    const result = await validate(
      await batch('kilometres', `SELECT * REPLACE (round(distance * 1.609) AS distance) FROM (${week2})`),
    );
    expectFailure(result, 'kilometres.csv', 'distance', /drifted: wasserstein 0\.[5-9]\d*/);
    // the longest flights now exceed the declared maximum: those rows are bad rows too
    assert.match(
      result.report.checks.find((c) => c.name === 'bad-rows')!.detail,
      /distance: \d+(\.\d+)? is above the maximum 5000/,
    );
  });

  it('a category explosion: thousands of never-seen airports', async () => {
    const ds = await batch(
      'new-airports',
      `SELECT * REPLACE (CASE WHEN hash(date, destination) % 3 = 0 THEN 'X' || (hash(date) % 5000)::VARCHAR ELSE origin END AS origin)
         FROM (${week2})`,
    );
    const result = await validate(ds);
    expectFailure(result, 'new-airports.csv', 'origin', /of values never seen in the reference \(e\.g\. "X\d+"/);
    const profile = result.profile.columns.find((c) => c.name === 'origin');
    assert.ok(profile?.kind === 'categorical' && profile.distinct > 1000, 'thousands of distinct origins profiled');
  });

  it('a batch that shrank says it shrank (it used to print "×1.11")', async () => {
    const half = await batch('half-week', `SELECT * FROM (${week2}) WHERE date < '2001-01-11'`, 'parquet');
    const result = await validate(half);
    const check = result.report.checks.find((c) => c.name === 'row-count');
    assert.match(
      check!.detail,
      /^\d+ rows against \d+ in the reference \(shrank to 0\.\d\d× the reference; warn beyond ×2 either way, fail beyond ×10\)$/,
    );
  });

  it('duplicated rows', async () => {
    const result = await validate(
      await batch('duplicated', `SELECT * FROM (${week2}) UNION ALL SELECT * FROM (${week2})`, 'parquet'),
    );
    assert.equal(result.report.outcome, 'fail');
    assert.ok(result.report.summary.includes('duplicated.parquet'));
    const dup = result.report.checks.find((c) => c.name === 'duplicates');
    assert.equal(dup?.outcome, 'fail');
    assert.match(dup.detail, /\d+ duplicated rows \(5\d\.\d+%\)/);
  });

  it('a renamed column', async () => {
    const result = await validate(await batch('renamed', `SELECT * RENAME (destination AS dest) FROM (${week2})`));
    expectFailure(
      result,
      'renamed.csv',
      'destination',
      /column "destination" \(string\) is missing \(the batch has unexpected columns "dest" — renamed\?\)/,
    );
  });

  it('an empty batch fails; it never passes', async () => {
    const result = await validate(await batch('empty', `SELECT * FROM (${week2}) WHERE false`, 'parquet'));
    assert.equal(result.report.outcome, 'fail');
    assert.match(result.report.summary, /empty\.parquet.*the batch is empty \(0 rows\)/);
    assert.equal(result.report.trainable, false);
  });

  it('an empty file (0 bytes) fails: empty, and every contract column missing', async () => {
    const file = path.join(t.home, 'zero-bytes.csv');
    fs.writeFileSync(file, '');
    const result = await validate(await snapshotSource(t.deps.store, { uri: file }));
    expectFailure(result, 'zero-bytes.csv', 'delay', /column "delay" \(integer\) is missing/);
    assert.match(result.report.summary, /the batch is empty \(0 rows\)/);
    assert.equal(result.report.trainable, false);
  });

  it('a truncated Parquet file is a SourceError naming it', async () => {
    const file = path.join(t.home, 'cut.parquet');
    fs.writeFileSync(file, fs.readFileSync(vegaPath('flights-3m.parquet')).subarray(0, 4096));
    await assert.rejects(
      snapshotSource(t.deps.store, { uri: file }),
      (e: unknown) => e instanceof SourceError && e.message.includes('cut.parquet'),
    );
  });

  it('a few bad rows are set aside: all of them to quarantine, the rest trains', async () => {
    const ds = await batch(
      'few-bad',
      `SELECT * REPLACE (CASE WHEN hash(date, origin, destination) % 400 = 0 THEN -5 ELSE distance END AS distance) FROM (${week2})`,
      'parquet',
    );
    const result = await validate(ds);
    const { rows } = result.report;
    assert.ok(rows.badRows > 0 && rows.badRows / ds.rows <= spec.validation.maxBadRowShare, `${rows.badRows} bad rows`);
    assert.equal(result.report.outcome, 'warn');
    assert.equal(result.report.checks.find((c) => c.name === 'bad-rows')?.outcome, 'warn');
    assert.equal(rows.samples.length, Math.min(rows.badRows, spec.validation.reportBadRows));
    assert.match(rows.samples[0].reason, /^distance: -5(\.0)? is below the minimum 1$/);
    assert.ok(result.quarantine, 'quarantine file written');
    const quarantined = await withDuckDB(async (con) =>
      (
        await con.runAndReadAll(
          `SELECT count(*), min(distance), max(distance) FROM read_parquet(${sqlString(result.quarantine!.uri.replace('file://', ''))})`,
        )
      ).getRowsJS(),
    );
    assert.deepEqual(
      quarantined[0].map(Number),
      [rows.badRows, -5, -5],
      'every bad row, and only bad rows, quarantined',
    );
    assert.equal(result.trainingDataset.rows, ds.rows - rows.badRows);
    assert.equal(result.trainingDataset.derivedFrom?.sha256, ds.sha256);
    const clean = await loadTable(t.deps.store, result.trainingDataset, [{ name: 'distance', as: 'number' }]);
    const distances = (clean.columns.get('number:distance') as { values: Float64Array }).values;
    assert.ok(
      distances.every((d) => d >= 1),
      'the training rows are all good',
    );
  });

  it('writes a JSON report, a readable HTML page with charts of drifted columns, and the profile', async () => {
    const result = await validate(
      await batch('kilometres-2', `SELECT * REPLACE (round(distance * 1.609) AS distance) FROM (${week2})`),
    );
    const html = fs.readFileSync(await t.deps.store.verify(result.htmlArtifact), 'utf8');
    assert.match(html, /<svg[^>]*aria-label="distance/);
    assert.match(html, /drifted: wasserstein/);
    const json = JSON.parse(fs.readFileSync(await t.deps.store.verify(result.reportArtifact), 'utf8')) as {
      outcome: string;
    };
    assert.equal(json.outcome, 'fail');
    await t.deps.store.verify(result.profileArtifact);
  });

  // Before timestamps were checked, a batch with every date shifted by 30 years passed every check and was promoted.
  it('every date shifted 30 years back: far outside the reference time range', async () => {
    const result = await validate(
      await batch('thirty-years-back', `SELECT * REPLACE (date - INTERVAL 30 YEAR AS date) FROM (${week2})`, 'parquet'),
    );
    expectFailure(
      result,
      'thirty-years-back.parquet',
      'date',
      /median time lies 109\d\d days outside the reference's time range/,
    );
  });

  it('times shifted by 8 hours (a time zone mixed up): the hour-of-day mix moved', async () => {
    const result = await validate(
      await batch('eight-hours', `SELECT * REPLACE (date + INTERVAL 8 HOUR AS date) FROM (${week2})`, 'parquet'),
    );
    expectFailure(result, 'eight-hours.parquet', 'date (hour of day)', /drifted: jensenshannon 0\.[3-9]/);
    const gap = result.report.drift?.columns.find((d) => d.column === 'date');
    assert.equal(gap?.outcome, 'pass', 'eight hours is no gap in time');
  });

  it('every date shifted 30 years ahead: every row is in the future', async () => {
    const result = await validateBatch(
      t.deps.store,
      spec,
      await batch(
        'thirty-years-ahead',
        `SELECT * REPLACE (date + INTERVAL 30 YEAR AS date) FROM (${week2})`,
        'parquet',
      ),
      reference,
      new Date('2026-11-26T00:00:00Z'),
    );
    expectFailure(result, 'thirty-years-ahead.parquet', 'date', /rows .* break the contract/);
    assert.match(
      result.report.rows.samples[0].reason,
      /^date: 2031-01-08 .* is in the future \(validated at 2026-11-26T00:00:00\.000Z\)$/,
    );
    assert.equal(result.report.rows.byReason['date:future'], result.report.rows.checkedRows);
  });

  it('dates outside the bounds a contract declares are bad rows', async () => {
    const bounded = parseModelSpec({
      ...spec,
      source: {
        ...spec.source,
        columns: spec.source.columns.map((c) =>
          c.name === 'date' ? { ...c, earliest: '2001-01-10', latest: '2001-01-12T23:59:59' } : c,
        ),
      },
    });
    const result = await validate(await batch('bounded', week2, 'parquet'), bounded);
    const reasons = Object.keys(result.report.rows.byReason);
    assert.deepEqual(reasons.sort(), ['date:max', 'date:min']);
    assert.ok(
      result.report.rows.samples.some((r) =>
        /^date: 2001-01-08 .* is before the earliest allowed 2001-01-10$/.test(r.reason),
      ),
    );
    assert.throws(
      () =>
        parseModelSpec({
          ...spec,
          source: {
            ...spec.source,
            columns: spec.source.columns.map((c) => (c.name === 'distance' ? { ...c, earliest: '2001-01-01' } : c)),
          },
        }),
      /earliest applies to timestamp columns, "distance" is integer/,
    );
  });

  it('a declared month with no rows in the file says what the file holds', async () => {
    const file = path.join(t.home, 'march-1971.parquet');
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT * REPLACE (date - INTERVAL 30 YEAR AS date) FROM ${flights} WHERE date >= '2001-03-01' AND date < '2001-03-08') TO ${sqlString(file)} (FORMAT parquet)`,
      ),
    );
    await assert.rejects(
      snapshotSource(t.deps.store, { uri: file, window: { column: 'date', start: '2001-03-01', end: '2001-04-01' } }),
      (e: unknown) =>
        e instanceof SourceError &&
        /no rows of .*march-1971\.parquet fall in the declared window date 2001-03-01 … 2001-04-01: its "date" values run from 1971-03-01 .* to 1971-03-07/.test(
          e.message,
        ),
    );
  });

  it('the contract hash changes with the contract, not with unrelated settings', () => {
    const a = parseModelSpec({ ...spec, training: { ...spec.training, epochs: 9 } });
    const b = parseModelSpec({ ...spec, validation: { ...spec.validation, maxBadRowShare: 0.5 } });
    const hash = (s: ModelSpec): string =>
      hashJson({ columns: s.source.columns, label: s.label.column, policy: s.validation });
    assert.equal(hash(a), hash(spec));
    assert.notEqual(hash(b), hash(spec));
  });
});

describe('schema inference', () => {
  it('proposes types, presence, bounds and learned domains from a first dataset', async () => {
    const t = tempHome();
    try {
      const ds = await snapshotSource(t.deps.store, { uri: 'vega-datasets:seattle-weather.csv' });
      const { columns } = await inferContract(t.deps.store, ds);
      const byName = new Map(columns.map((c) => [c.name, c]));
      assert.equal(byName.get('date')?.type, 'timestamp');
      assert.equal(byName.get('precipitation')?.type, 'float');
      assert.equal(byName.get('precipitation')?.min, 0, 'never negative: the bound stays at 0');
      assert.ok((byName.get('temp_max')?.max ?? 0) > 35.6, 'the maximum is widened beyond the observed 35.6');
      assert.equal(byName.get('weather')?.domain, 'learned');
      assert.ok(columns.every((c) => c.required));
      // the proposal is a valid contract: it parses as the source of a spec
      parseModelSpec({
        name: 'inferred',
        task: 'multiclass',
        source: { columns },
        label: { kind: 'classes', column: 'weather' },
        features: [{ name: 'wind', column: 'wind', transform: { kind: 'numeric' } }],
      });
    } finally {
      t.cleanup();
    }
  });

  it('proposes a whole spec that parses as it is, for sources with spaced names and text dates', async () => {
    const t = tempHome();
    try {
      const penguins = await snapshotSource(t.deps.store, { uri: 'vega-datasets:penguins.json' });
      const p = await proposeSpec(t.deps.store, penguins, { label: 'Species', sourceName: 'penguins.json' });
      assert.equal(p.spec.name, 'penguins');
      assert.equal(p.spec.task, 'multiclass');
      assert.deepEqual(
        p.spec.features.map((f) => `${f.name}<-${f.column}:${f.transform.kind}`),
        [
          'island<-Island:categorical',
          'beak_length_mm<-Beak Length (mm):numeric',
          'beak_depth_mm<-Beak Depth (mm):numeric',
          'flipper_length_mm<-Flipper Length (mm):numeric',
          'body_mass_g<-Body Mass (g):numeric',
          'sex<-Sex:categorical',
        ],
      );

      const movies = await snapshotSource(t.deps.store, { uri: 'vega-datasets:movies.json' });
      const m = await proposeSpec(t.deps.store, movies, {
        label: 'IMDB Rating',
        name: 'Movies IMDB',
        sourceName: 'movies.json',
      });
      assert.equal(m.spec.name, 'movies-imdb');
      assert.equal(m.spec.task, 'regression');
      const release = m.spec.source.columns.find((c) => c.name === 'Release Date');
      assert.deepEqual([release?.type, release?.format], ['timestamp', '%b %d %Y']);
      assert.equal(m.spec.source.timeColumn, 'Release Date');
      assert.ok(
        m.notes.some((n) => /"Title" looks like an identifier/.test(n)),
        m.notes.join('\n'),
      );
      assert.ok(!m.spec.features.some((f) => f.column === 'Title'));
      // the proposal round-trips through JSON, as a person would save it
      parseModelSpec(JSON.parse(JSON.stringify(m.spec)));
      await assert.rejects(
        proposeSpec(t.deps.store, movies, { label: 'Rating', sourceName: 'movies.json' }),
        /--label "Rating" is not a column of movies\.json \(columns: "Title", /,
      );
    } finally {
      t.cleanup();
    }
  });
});
