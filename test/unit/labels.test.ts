import assert from 'node:assert/strict';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import type { Table } from '../../lib/data/table';
import { encodeLabels, type Preprocessor } from '../../lib/features';
import { labelContract, labelProblem, labelReading, labelSql, labelTarget } from '../../lib/labels';
import { parseModelSpec, type LabelRule, type ModelSpecInput } from '../../lib/spec';

const base: ModelSpecInput = {
  name: 'labels-test',
  task: 'multiclass',
  source: {
    columns: [
      { name: 'x', type: 'float' },
      { name: 'kind', type: 'string', domain: ['a', 'b', 'c'] },
      { name: 'delay', type: 'float' },
    ],
  },
  label: { kind: 'classes', column: 'kind' },
  features: [{ name: 'x', column: 'x', transform: { kind: 'numeric' } }],
};

describe('labels sent as feedback, judged by the rule the version was trained with', () => {
  it('multiclass: one of the classes the version learned (or declared); anything else is named', () => {
    const learned = labelContract(parseModelSpec(base), ['a', 'b']);
    assert.equal(labelProblem(learned, 'a'), null);
    assert.equal(labelProblem(learned, 'z'), '"z" is not one of the classes (the classes: "a", "b")');
    assert.match(labelProblem(learned, ['a'])!, /\["a"\] is not a label: a label is one value/);
    const declared = labelContract(
      parseModelSpec({ ...base, label: { kind: 'classes', column: 'kind', classes: ['a', 'c'] } }),
      ['a', 'b'],
    );
    assert.equal(labelProblem(declared, 'b'), '"b" is not one of the classes (the classes: "a", "c")');
  });

  it('threshold and regression: a number, or text that spells one; an empty string is not 0', () => {
    const binary = labelContract(
      parseModelSpec({ ...base, task: 'binary', label: { kind: 'threshold', column: 'delay', op: '>', value: 15 } }),
      null,
    );
    assert.equal(labelProblem(binary, 20), null);
    assert.equal(labelProblem(binary, ' 20 '), null);
    assert.equal(labelProblem(binary, 'late'), '"late" is not a number ("delay" is a number; positive when > 15)');
    assert.equal(labelProblem(binary, ''), '"" is not a number ("delay" is a number; positive when > 15)');
    assert.equal(labelProblem(binary, true), 'true is not a number ("delay" is a number; positive when > 15)');
    assert.equal(labelTarget(binary, ''), null, 'Number("") is 0: an empty label once counted as on time');
    assert.equal(labelTarget(binary, '20'), 1);
    const regression = labelContract(
      parseModelSpec({ ...base, task: 'regression', label: { kind: 'value', column: 'delay' } }),
      null,
    );
    assert.equal(labelProblem(regression, 3.5), null);
    assert.equal(labelProblem(regression, 'NaN'), '"NaN" is not a number ("delay" is a number)');
    assert.equal(
      labelProblem(regression, '1e999'),
      '"1e999" is not a number ("delay" is a number)',
      'too large to be one',
    );
  });

  it('oneOf: a value of the label column (its domain, when declared)', () => {
    const spec = parseModelSpec({ ...base, task: 'binary', label: { kind: 'oneOf', column: 'kind', positive: ['a'] } });
    const contract = labelContract(spec, null);
    assert.equal(labelProblem(contract, 'b'), null);
    assert.equal(labelProblem(contract, 'q'), '"q" is not one of the values of "kind" (its values: "a", "b", "c")');
    assert.equal(labelTarget(contract, 'a'), 1);
    assert.equal(labelTarget(contract, 'b'), 0);
    // a learned domain: the values the version's training batch held; a typo is refused, not read as negative
    const learned = parseModelSpec({
      ...base,
      task: 'binary',
      source: {
        columns: [
          { name: 'x', type: 'float' },
          { name: 'dead', type: 'string', domain: 'learned' },
        ],
      },
      label: { kind: 'oneOf', column: 'dead', positive: ['dead'] },
    });
    assert.equal(labelProblem(labelContract(learned, null), 'daed'), null, 'without the values seen: unknown');
    const seen = labelContract(learned, null, ['alive', 'dead']);
    assert.equal(labelProblem(seen, 'alive'), null);
    assert.equal(labelProblem(seen, 'daed'), '"daed" is not one of the values of "dead" (its values: "alive", "dead")');
  });
});

/**
 * One rule, three readers: training (`encodeLabels` over a loaded table), feedback (`labelTarget` on the label as sent)
 * and SQL (`labelSql`, the leakage measure, in DuckDB) give every value the same meaning.
 */
describe('the label rule read by training, feedback and SQL alike', () => {
  const cases: {
    what: string;
    rule: LabelRule;
    type: 'float' | 'integer' | 'string' | 'boolean';
    values: (number | string | null)[];
    /** what each value means: 0/1, a class, a number; null: no label */
    expected: (number | string | null)[];
  }[] = [
    {
      what: 'a threshold on a number',
      rule: { kind: 'threshold', column: 'y', op: '>', value: 15 },
      type: 'float',
      values: [20, 15, 15.5, -3, null],
      expected: [1, 0, 1, 0, null],
    },
    {
      what: 'oneOf on a number column: 1.0 is the positive "1"',
      rule: { kind: 'oneOf', column: 'y', positive: ['1', 7] },
      type: 'float',
      values: [1, 1.0, 0, 7, 2.5, null],
      expected: [1, 1, 0, 1, 0, null],
    },
    {
      what: 'oneOf on a boolean column: true is 1, as training loads it',
      rule: { kind: 'oneOf', column: 'y', positive: [true] },
      type: 'boolean',
      values: [true, false, null] as never,
      expected: [1, 0, null],
    },
    {
      what: 'oneOf on a text column',
      rule: { kind: 'oneOf', column: 'y', positive: ['dead'] },
      type: 'string',
      values: ['dead', 'alive', 'Dead', null],
      expected: [1, 0, 0, null],
    },
    {
      what: 'classes',
      rule: { kind: 'classes', column: 'y', minClassRows: 1 },
      type: 'string',
      values: ['a', 'b', null],
      expected: ['a', 'b', null],
    },
    {
      what: 'a value',
      rule: { kind: 'value', column: 'y' },
      type: 'float',
      values: [3.25, -1, null],
      expected: [3.25, -1, null],
    },
  ];

  for (const c of cases) {
    it(c.what, async () => {
      const reading = labelReading({ label: c.rule, source: { columns: [{ name: 'y', type: c.type }] } } as never);
      // training: the column loaded as the reading says, encoded by the fitted label
      const table: Table =
        reading.as === 'string'
          ? {
              rows: c.values.length,
              columns: new Map([
                ['string:y', { kind: 'string', values: c.values.map((v) => (v === null ? null : String(v))) }],
              ]),
            }
          : {
              rows: c.values.length,
              columns: new Map([
                [
                  'number:y',
                  { kind: 'number', values: Float64Array.from(c.values, (v) => (v === null ? NaN : Number(v))) },
                ],
              ]),
            };
      const label: Preprocessor['label'] =
        c.rule.kind === 'classes'
          ? { task: 'multiclass', column: 'y', classes: ['a', 'b'] }
          : c.rule.kind === 'value'
            ? { task: 'regression', column: 'y', mean: 0, std: 1 }
            : { task: 'binary', rule: c.rule, as: reading.as };
      const encoded = Array.from(
        encodeLabels(
          { label } as Preprocessor,
          table,
          c.values.map((_, i) => i),
        ),
      );
      const trained = encoded.map((v) => (Number.isNaN(v) ? null : label.task === 'multiclass' ? label.classes[v] : v));
      assert.deepEqual(trained, c.expected, 'training');
      // feedback: the label as a client sends it, as JSON
      assert.deepEqual(
        c.values.map((v) => labelTarget(reading, v)),
        c.expected,
        'feedback',
      );
      // SQL over a column of the declared type
      const sqlType = { string: 'VARCHAR', integer: 'BIGINT', float: 'DOUBLE', boolean: 'BOOLEAN' }[c.type];
      const fromSql = await withDuckDB(async (con) => {
        const literal = (v: number | string | null): string =>
          v === null ? 'NULL' : typeof v === 'string' ? sqlString(v) : String(v);
        await con.run(
          `CREATE TEMP TABLE t AS SELECT * FROM (VALUES ${c.values.map((v, i) => `(${i}, CAST(${literal(v)} AS ${sqlType}))`).join(', ')}) AS v(i, y)`,
        );
        const { sql, kind } = labelSql(
          reading,
          'y',
          sqlType === 'VARCHAR' ? 'TRY_CAST(y AS DOUBLE)' : 'CAST(y AS DOUBLE)',
        );
        const rows = (await con.runAndReadAll(`SELECT ${sql} FROM t ORDER BY i`)).getRowsJS();
        return rows.map(([v]) =>
          v === null ? null : kind === 'class' && c.rule.kind === 'classes' ? (v as string) : Number(v),
        );
      });
      assert.deepEqual(fromSql, c.expected, 'SQL');
    });
  }

  it('feedback on a number column: "1.0" and 1 are the same label, a word is not a number', () => {
    const spec = parseModelSpec({
      ...base,
      task: 'binary',
      source: {
        columns: [
          { name: 'x', type: 'float' },
          { name: 'hit', type: 'integer' },
        ],
      },
      label: { kind: 'oneOf', column: 'hit', positive: [1] },
    });
    const contract = labelContract(spec, null, ['0', '1']);
    assert.equal(labelTarget(contract, '1.0'), 1);
    assert.equal(labelTarget(contract, 1), 1);
    assert.equal(labelTarget(contract, '0'), 0);
    assert.equal(labelProblem(contract, '1.0'), null);
    assert.equal(
      labelProblem(contract, 'yes'),
      '"yes" is not a value of "hit", a number column (its values: "0", "1")',
    );
    // a boolean label column: true, "true" and 1 are the positive label; the values seen are "false" and "true"
    const flag = labelContract(
      parseModelSpec({
        ...base,
        task: 'binary',
        source: {
          columns: [
            { name: 'x', type: 'float' },
            { name: 'flag', type: 'boolean' },
          ],
        },
        label: { kind: 'oneOf', column: 'flag', positive: [true] },
      }),
      null,
      ['false', 'true'],
    );
    assert.deepEqual(
      [true, 'true', 1, false, 'false', 0].map((l) => labelTarget(flag, l)),
      [1, 1, 1, 0, 0, 0],
    );
    assert.equal(labelProblem(flag, true), null);
    assert.equal(
      labelProblem(flag, 'maybe'),
      '"maybe" is not a value of "flag", a number column (its values: "false", "true")',
    );
    assert.equal(labelProblem(contract, 3), '3 is not one of the values of "hit" (its values: "0", "1")');
  });
});
