import assert from 'node:assert/strict';
import { withDuckDB } from '../../lib/data/duckdb';
import { selectColumn, type Table } from '../../lib/data/table';
import { encodeFeatures, encodeLabels, fitPreprocessor, splitRows, timePart } from '../../lib/features';
import { parseModelSpec, type ModelSpecInput } from '../../lib/spec';
import { deriveSeed, permutation, prng } from '../../lib/rng';

const ms = (iso: string): number => Date.parse(`${iso}Z`);

const spec: ModelSpecInput = {
  name: 'toy',
  task: 'binary',
  source: {
    columns: [
      { name: 'date', type: 'timestamp' },
      { name: 'delay', type: 'integer' },
      { name: 'distance', type: 'integer' },
      { name: 'origin', type: 'string' },
    ],
  },
  label: { kind: 'threshold', column: 'delay', op: '>', value: 15 },
  features: [
    { name: 'hour', column: 'date', transform: { kind: 'hourOfDay' } },
    { name: 'weekday', column: 'date', transform: { kind: 'dayOfWeek' } },
    { name: 'dist', column: 'distance', transform: { kind: 'numeric', log: true } },
    { name: 'origin', column: 'origin', transform: { kind: 'categorical', maxCategories: 2, minCount: 2 } },
  ],
};

function table(): Table {
  const dates = ['2001-01-01T00:01', '2001-01-06T23:59', '2001-01-07T12:00', '2001-01-08T07:30', '2001-01-09T18:15'];
  return {
    rows: 5,
    columns: new Map([
      ['timestamp:date', { kind: 'number', values: Float64Array.from(dates.map(ms)) }],
      ['number:delay', { kind: 'number', values: Float64Array.from([30, 0, 16, 15, NaN]) }],
      ['number:distance', { kind: 'number', values: Float64Array.from([100, 1000, NaN, 100, 1000]) }],
      ['string:origin', { kind: 'string', values: ['ATL', 'ATL', 'ORD', 'SFO', null] }],
    ]),
  };
}

describe('features', () => {
  it('reads hour, weekday (Monday = 0) and month from wall-clock timestamps', () => {
    // 2001-01-01 was a Monday
    assert.equal(timePart('hourOfDay', ms('2001-01-01T00:01')), 0);
    assert.equal(timePart('dayOfWeek', ms('2001-01-01T00:01')), 0);
    assert.equal(timePart('hourOfDay', ms('2001-01-06T23:59')), 23);
    assert.equal(timePart('dayOfWeek', ms('2001-01-06T23:59')), 5);
    assert.equal(timePart('dayOfWeek', ms('2001-01-07T12:00')), 6);
    assert.equal(timePart('month', ms('2001-06-30T23:59')), 5);
    assert.equal(timePart('hourOfDay', NaN), -1);
  });

  it('fits vocabularies and scalers on training rows only and encodes unknowns to their bucket', () => {
    const s = parseModelSpec(spec);
    const t = table();
    const pre = fitPreprocessor(s, t, Uint32Array.from([0, 1, 2, 3]));
    const origin = pre.features.find((f) => f.name === 'origin');
    assert.deepEqual(origin?.kind === 'categorical' && origin.vocabulary, ['ATL']); // ORD, SFO seen once < minCount 2
    // distance is missing in a training row: its input is followed by a "was missing" input
    assert.equal(pre.width, 24 + 7 + 2 + 2);
    const dist = pre.features.find((f) => f.name === 'dist');
    assert.ok(dist?.kind === 'numeric');
    const logs = [Math.log1p(100), Math.log1p(1000), Math.log1p(100)];
    const mean = logs.reduce((a, b) => a + b) / 3;
    assert.ok(Math.abs(dist.mean - mean) < 1e-12, 'mean of ln(1+x) over the non-missing training rows');

    const x = encodeFeatures(pre, t, [0, 2, 4]);
    const row = (r: number): number[] => Array.from(x.subarray(r * pre.width, (r + 1) * pre.width));
    assert.equal(row(0)[0], 1, 'hour 0 one-hot');
    assert.equal(row(0)[24 + 0], 1, 'Monday one-hot');
    assert.equal(row(1)[34], 1, 'ORD is unknown → last bucket');
    assert.equal(row(0)[33], 1, 'ATL is in the vocabulary');
    assert.equal(row(2)[34], 1, 'null origin → unknown bucket');
    assert.equal(row(1)[31], 0, 'missing distance → mean → 0 after standardising');
    assert.deepEqual([row(0)[32], row(1)[32], row(2)[32]], [0, 1, 0], 'the missing indicator marks the imputed row');
    assert.equal(row(0).reduce((a, b) => a + b, 0) - row(0)[31], 3, 'exactly one hot per one-hot feature');
    assert.deepEqual(pre.inputNames.slice(31, 33), ['dist', 'dist=<missing>']);

    // never: the imputed mean alone; always: the indicator even when nothing is missing
    const never = parseModelSpec({
      ...spec,
      features: spec.features.map((f) =>
        f.name === 'dist' ? { ...f, transform: { kind: 'numeric', log: true, missingIndicator: 'never' } } : f,
      ),
    });
    assert.equal(fitPreprocessor(never, t, Uint32Array.from([0, 1, 2, 3])).width, 24 + 7 + 1 + 2);
    assert.equal(fitPreprocessor(s, t, Uint32Array.from([0, 1, 3])).width, 24 + 7 + 1 + 2, 'auto: none missing');

    assert.deepEqual(Array.from(encodeLabels(pre, t, [0, 1, 2, 3, 4])), [1, 0, 1, 0, NaN]);
  });

  it('a number in pieces: edges at the training quantiles, each piece 0 below, 1 above and linear across', () => {
    const pieced = parseModelSpec({
      ...spec,
      features: [{ name: 'd', column: 'distance', transform: { kind: 'numeric', standardize: false, pieces: 4 } }],
    });
    const t = table();
    t.columns.set('number:distance', { kind: 'number', values: Float64Array.from([0, 10, 20, 30, 40, 25, NaN, 55]) });
    t.columns.set('number:delay', { kind: 'number', values: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
    const trainRows = Uint32Array.from([0, 1, 2, 3, 4, 6]);
    const pre = fitPreprocessor(pieced, { ...t, rows: 8 }, trainRows);
    const [d] = pre.features;
    assert.ok(d.kind === 'numeric');
    assert.deepEqual(d.edges, [0, 10, 20, 30, 40], 'five quantiles of 0…40 (the missing row not counted)');
    assert.deepEqual(pre.inputNames, ['d', 'd∈[0, 10]', 'd∈[10, 20]', 'd∈[20, 30]', 'd∈[30, 40]', 'd=<missing>']);
    const x = encodeFeatures(pre, { ...t, rows: 8 }, [5, 7, 0, 6]);
    const row = (r: number): number[] => Array.from(x.subarray(r * pre.width, (r + 1) * pre.width));
    assert.deepEqual(row(0), [25, 1, 1, 0.5, 0, 0], '25: two pieces full, the third half');
    assert.deepEqual(row(1), [55, 1, 1, 1, 1, 0], 'past the last edge: every piece full');
    assert.deepEqual(row(2), [0, 0, 0, 0, 0, 0], 'at the first edge: none');
    assert.deepEqual(row(3), [20, 1, 1, 0, 0, 1], 'missing: the pieces of the mean it takes, and the indicator');

    // values with fewer distinct values than pieces: equal edges merge
    t.columns.set('number:distance', { kind: 'number', values: Float64Array.from([1, 1, 1, 1, 2, 2, 2, 2]) });
    const merged = fitPreprocessor(pieced, { ...t, rows: 8 }, Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
    assert.deepEqual(merged.features[0].kind === 'numeric' && merged.features[0].edges, [1, 2]);
    assert.equal(merged.width, 2);
    // one value only: no pieces at all
    t.columns.set('number:distance', { kind: 'number', values: new Float64Array(8).fill(3) });
    const single = fitPreprocessor(pieced, { ...t, rows: 8 }, trainRows);
    assert.equal(single.features[0].kind === 'numeric' && single.features[0].edges, undefined);
    assert.equal(single.width, 1);
  });

  it('a time as a number: days since 1970, standardised on the training rows; missing is the mean (0)', () => {
    const timed = parseModelSpec({
      ...spec,
      features: [{ name: 'when', column: 'date', transform: { kind: 'timeValue' } }],
    });
    const t = table();
    t.columns.set('timestamp:date', {
      kind: 'number',
      values: Float64Array.from([
        ...['2001-01-01T00:00', '2001-01-03T00:00', '2001-01-05T00:00', '2001-01-09T00:00'].map(ms),
        NaN,
      ]),
    });
    const pre = fitPreprocessor(timed, t, Uint32Array.from([0, 1, 2]));
    const [when] = pre.features;
    assert.equal(when.kind, 'timeValue');
    assert.equal(pre.width, 1);
    const days = Date.UTC(2001, 0, 3) / 86_400_000;
    assert.ok(when.kind === 'timeValue' && Math.abs(when.mean - days) < 1e-9 && Math.abs(when.std - 2) < 1e-9);
    const x = encodeFeatures(pre, t, [0, 1, 2, 3, 4]);
    assert.deepEqual([...x], [-1, 0, 1, 3, 0], 'two days a standard deviation; a later day past the training range');
    assert.throws(
      () =>
        parseModelSpec({
          ...spec,
          features: [
            { name: 'when', column: 'date', transform: { kind: 'timeValue' } },
            { name: 'o', column: 'origin', transform: { kind: 'categorical' } },
            { name: 'x', transform: { kind: 'cross', of: ['when', 'o'] } },
          ],
        }),
      /"when" is a timeValue feature; a cross takes categorical and calendar features/,
    );
    assert.throws(
      () =>
        parseModelSpec({ ...spec, features: [{ name: 'd', column: 'distance', transform: { kind: 'timeValue' } }] }),
      /transform "timeValue" cannot apply to column "distance" of type integer/,
    );
  });

  it('calendar parts encoded as cyclical: sine and cosine of the angle, 23:00 next to 00:00, missing at the centre', () => {
    const cyclical = parseModelSpec({
      ...spec,
      features: spec.features.map((f) =>
        f.name === 'hour' || f.name === 'weekday'
          ? { ...f, transform: { kind: f.transform.kind as 'hourOfDay', encoding: 'cyclical' as const } }
          : f,
      ),
    });
    const t = table();
    t.columns.set('timestamp:date', {
      kind: 'number',
      values: Float64Array.from([
        ...['2001-01-01T00:01', '2001-01-06T23:59', '2001-01-07T12:00', '2001-01-08T06:30'].map(ms),
        NaN,
      ]),
    });
    const pre = fitPreprocessor(cyclical, t, Uint32Array.from([0, 1, 2, 3]));
    assert.equal(pre.width, 2 + 2 + 2 + 2, 'two inputs per cyclical part instead of 24 and 7');
    assert.deepEqual(pre.inputNames.slice(0, 4), ['hour.sin', 'hour.cos', 'weekday.sin', 'weekday.cos']);
    const x = encodeFeatures(pre, t, [0, 1, 2, 3, 4]);
    const at = (r: number, i: number): number => x[r * pre.width + i];
    const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-6;
    assert.ok(close(at(0, 0), 0) && close(at(0, 1), 1), 'hour 0: angle 0');
    assert.ok(close(at(2, 0), 0) && close(at(2, 1), -1), 'hour 12: half-way round');
    assert.ok(close(at(3, 0), 1) && close(at(3, 1), 0), 'hour 6: a quarter round');
    const distance = (a: number, b: number): number => Math.hypot(at(a, 0) - at(b, 0), at(a, 1) - at(b, 1));
    assert.ok(distance(0, 1) < 0.3, '23:00 is next to 00:00');
    assert.ok(distance(0, 2) > 1.9, '12:00 is across the clock');
    assert.ok(close(at(0, 2), 0) && close(at(0, 3), 1), 'Monday: angle 0');
    assert.deepEqual([at(4, 0), at(4, 1), at(4, 2), at(4, 3)], [0, 0, 0, 0], 'a missing time: all zeros');
  });

  it('categories read as vocabulary positions by DuckDB (batch scoring) encode exactly as strings do', async () => {
    const s = parseModelSpec(spec);
    const t = table();
    const pre = fitPreprocessor(s, t, Uint32Array.from([0, 1, 2, 3]));
    const origin = pre.features.find((f) => f.name === 'origin');
    assert.ok(origin?.kind === 'categorical');
    // the same five origins (one missing, two unknown, one with a quote) through DuckDB's lookup
    const codes = await withDuckDB(async (con) => {
      const result = await con.run(
        `SELECT ${selectColumn({ name: 'origin', as: 'code', vocabulary: [...origin.vocabulary, "O'HARE"] })}
           FROM (VALUES ('ATL', 1), ('ATL', 2), ('ORD', 3), ('SFO', 4), (NULL, 5)) v(origin, i) ORDER BY i`,
      );
      return (await result.getRowsJS()).map((r) => Number(r[0]));
    });
    assert.deepEqual(codes, [1, 1, 0, 0, 0]);
    const coded: Table = {
      rows: t.rows,
      columns: new Map([...t.columns].filter(([k]) => k !== 'string:origin')).set('code:origin', {
        kind: 'number',
        values: Float64Array.from(codes),
      }),
    };
    const rows = [0, 1, 2, 3, 4];
    assert.deepEqual(Array.from(encodeFeatures(pre, coded, rows)), Array.from(encodeFeatures(pre, t, rows)));
  });

  it('splits rows deterministically by a seeded hash, without the label-less ones', () => {
    const labelled = (i: number): boolean => i % 10 !== 9;
    const a = splitRows(10_000, labelled, { seed: 5, holdoutFraction: 0.2 });
    const b = splitRows(10_000, labelled, { seed: 5, holdoutFraction: 0.2 });
    assert.deepEqual(a, b);
    assert.equal(a.unlabelled, 1000);
    assert.equal(a.train.length + a.holdout.length, 9000);
    assert.ok(Math.abs(a.holdout.length / 9000 - 0.2) < 0.02, `holdout share ${a.holdout.length / 9000}`);
    const c = splitRows(10_000, labelled, { seed: 6, holdoutFraction: 0.2 });
    assert.notDeepEqual(Array.from(a.holdout.slice(0, 50)), Array.from(c.holdout.slice(0, 50)));
    const capped = splitRows(10_000, labelled, { seed: 5, holdoutFraction: 0.2, maxTrainingRows: 1000 });
    assert.equal(capped.train.length, 1000);
    assert.deepEqual(capped.holdout, a.holdout, 'capping training rows never changes the holdout');
  });

  it('seeded randomness is reproducible', () => {
    assert.deepEqual(permutation(100, 42), permutation(100, 42));
    assert.notDeepEqual(permutation(100, 42), permutation(100, 43));
    const r1 = prng(9);
    const r2 = prng(9);
    for (let i = 0; i < 10; i++) assert.equal(r1(), r2());
    assert.notEqual(deriveSeed(1, 'shuffle:0'), deriveSeed(1, 'shuffle:1'));
  });
});
