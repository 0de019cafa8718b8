import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { breaks } from '../../lib/serving/rows';
import { contractRowRules, type RowRule } from '../../lib/validation/row-rules';
import { problemsSql } from '../../lib/validation/rows';
import type { SourceColumn } from '../../lib/validation/contract';
import { tempHome, type TestHome } from '../support/env';

/**
 * The row rules have two evaluators: DuckDB SQL over a batch file and JavaScript over a served request. Each value
 * here goes through both — alone in a JSON-lines file (so DuckDB types the column by it: BIGINT, BOOLEAN, STRUCT,
 * a list…) and mixed with the others (a JSON column) — and both must find the same (column, code) problems.
 */
describe('row rules: the SQL and JavaScript evaluators give the same verdict', () => {
  let t: TestHome;
  before(() => (t = tempHome()));
  after(() => t.cleanup());

  const columns: SourceColumn[] = [
    { name: 'city', type: 'string', required: false },
    { name: 'size', type: 'float', required: false, min: 0 },
    { name: 'when', type: 'timestamp', required: false },
  ] as SourceColumn[];
  const rules: RowRule[] = contractRowRules(columns, { kind: 'value', column: 'target' } as never, {
    now: '2030-01-01T00:00:00Z',
    serving: true,
  });
  const values: Record<string, unknown[]> = {
    city: ['ATL', '', 3, 2.5, -7, true, false, { a: 1 }, [1, 2], ['x'], null],
    size: [3, 2.5, '4', 'far', -1, true, { a: 1 }, [1], null],
    when: ['2001-01-02 10:00:00', '2001-01-02T10:00:00', 'yesterday', true, { a: 1 }, null],
  };

  const jsVerdict = (column: string, value: unknown): string[] =>
    rules.filter((r) => r.column === column && breaks(r, value)).map((r) => r.code);

  async function sqlVerdicts(column: string, vals: unknown[], file: string): Promise<string[][]> {
    fs.writeFileSync(file, vals.map((v) => JSON.stringify({ [column]: v, row: 0 })).join('\n') + '\n');
    return withDuckDB(async (con) => {
      const scan = `read_json_auto(${sqlString(file)})`;
      const types = new Map(
        (await con.runAndReadAll(`DESCRIBE SELECT * FROM ${scan}`))
          .getRowObjectsJson()
          .map((r) => [r.column_name as string, r.column_type as string]),
      );
      const sql = `SELECT list_transform(${problemsSql(
        rules.filter((r) => r.column === column),
        types,
      )}, p -> p.code) FROM ${scan}`;
      return (await con.runAndReadAll(sql)).getRowsJS().map((r) => (r[0] as string[]).slice().sort());
    });
  }

  for (const [column, vals] of Object.entries(values)) {
    it(`"${column}" (${columns.find((c) => c.name === column)!.type}): each value alone and all mixed`, async () => {
      const expected = vals.map((v) => jsVerdict(column, v).sort());
      const alone: string[][] = [];
      for (const [i, v] of vals.entries()) {
        alone.push((await sqlVerdicts(column, [v], path.join(t.home, `${column}-${i}.jsonl`)))[0]);
      }
      const mixed = await sqlVerdicts(column, vals, path.join(t.home, `${column}-mixed.jsonl`));
      const show = (v: string[][]) => vals.map((x, i) => `${JSON.stringify(x)} → [${v[i].join(',')}]`).join('; ');
      assert.deepEqual(alone, expected, `alone:\n sql ${show(alone)}\n js  ${show(expected)}`);
      assert.deepEqual(mixed, expected, `mixed:\n sql ${show(mixed)}\n js  ${show(expected)}`);
    });
  }

  it('a text column takes a string or a number; a boolean, an object or a list is a type error', () => {
    const text = rules.find((r) => r.column === 'city' && r.code === 'type')!;
    assert.deepEqual(
      values.city.map((v) => breaks(text, v)),
      [false, false, false, false, false, true, true, true, true, true, false],
    );
  });
});
