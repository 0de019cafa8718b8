import assert from 'node:assert/strict';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { epochMsSql, parseTimestamp } from '../../lib/data/timestamp';

/**
 * Served rows are read in JavaScript, batches in DuckDB: the same text must give the same instant both ways, or a
 * served prediction would differ from the batch one. DuckDB (the batch reader) is the reference, asked here.
 */
async function duckdb(text: string, format?: string): Promise<number | null> {
  const t = format
    ? `try_strptime(${sqlString(text)}, ${sqlString(format)})`
    : `TRY_CAST(${sqlString(text)} AS TIMESTAMP)`;
  return withDuckDB(async (con) => {
    const v = (await con.runAndReadAll(`SELECT ${epochMsSql(t)}`)).getRowsJS()[0][0];
    return v === null ? null : Number(v);
  });
}

describe('timestamps read from text, as DuckDB reads them', () => {
  const iso = [
    '2001-01-01',
    '2001-01-01 06:05',
    '2001-01-01 06:05:09',
    '2001-01-01T23:59:59',
    '2001-01-01T06:05:09.123',
    '2024-02-29',
    '2023-02-29',
    '2001-13-01',
    '2001-04-31',
    '2001-01-01 24:00:00',
    'Jun 12 1998',
    'not a date',
    '',
  ];
  for (const text of iso) {
    it(`ISO: "${text}"`, async () => {
      assert.equal(parseTimestamp(text), await duckdb(text));
    });
  }

  const formatted: [string, string][] = [
    ['Jun 12 1998', '%b %d %Y'],
    ['Dec 31 2046', '%b %d %Y'],
    ['jun 1 1998', '%b %d %Y'],
    ['Juni 12 1998', '%b %d %Y'],
    ['Feb 30 1998', '%b %d %Y'],
    ['12/06/1998', '%d/%m/%Y'],
    ['06/12/98', '%m/%d/%y'],
    ['01/02/68', '%m/%d/%y'],
    ['01/02/69', '%m/%d/%y'],
    ['12 June 1998 07:30 PM', '%d %B %Y %I:%M %p'],
    ['1998-06-12 07:30:15.250', '%Y-%m-%d %H:%M:%S.%f'],
    ['1998-06-12', '%b %d %Y'],
  ];
  for (const [text, format] of formatted) {
    it(`"${text}" as ${format}`, async () => {
      assert.equal(parseTimestamp(text, format), await duckdb(text, format));
    });
  }

  it('refuses a directive it does not know, instead of guessing', () => {
    assert.throws(() => parseTimestamp('123', '%j'), /the directive %j is not supported/);
  });
});
