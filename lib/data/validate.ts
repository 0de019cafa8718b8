import { DataValidationError } from '../errors';
import type { ColumnType, ModelSpec } from '../spec';
import { sqlIdent, sqlString, withDuckDB } from './duckdb';
import { DatasetRef, snapshotPath } from './snapshot';

/** One named check and its outcome, kept for lineage whether it passed or not. */
export interface Check {
  name: string;
  outcome: 'pass' | 'warn' | 'fail';
  detail: string;
}

export interface ValidationReport {
  dataset: string;
  rows: number;
  outcome: 'pass' | 'warn' | 'fail';
  checks: Check[];
}

const TYPE_FAMILIES: Record<ColumnType, RegExp> = {
  timestamp: /^(TIMESTAMP|DATE)/,
  float: /^(DOUBLE|FLOAT|REAL|DECIMAL|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)/,
  integer: /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/,
  string: /^VARCHAR/,
  boolean: /^BOOLEAN$/,
};

/** Whether a DuckDB column type can be read as the declared type without losing meaning. */
export function typeCompatible(declared: ColumnType, actual: string): boolean {
  return TYPE_FAMILIES[declared].test(actual.toUpperCase());
}

/**
 * Basic contract check of a snapshot against its model spec: declared columns present with compatible types,
 * a usable label, at least one row. Every failed check is listed in the error, which names the dataset and
 * the column, so one run tells a person everything that is wrong.
 */
export async function validateBasic(dataset: DatasetRef, spec: ModelSpec): Promise<ValidationReport> {
  const name = `${dataset.source.uri} (snapshot ${dataset.sha256.slice(0, 12)})`;
  const checks: Check[] = [];
  const actual = new Map(dataset.columns.map((c) => [c.name, c.type]));

  checks.push(
    dataset.rows > 0
      ? { name: 'rows', outcome: 'pass', detail: `${dataset.rows} rows` }
      : { name: 'rows', outcome: 'fail', detail: 'dataset is empty (0 rows)' },
  );
  for (const column of spec.source.columns) {
    const type = actual.get(column.name);
    if (type === undefined) {
      checks.push({
        name: `column:${column.name}`,
        outcome: column.required ? 'fail' : 'warn',
        detail: `column "${column.name}" (${column.type}) is missing`,
      });
    } else if (!typeCompatible(column.type, type)) {
      checks.push({
        name: `column:${column.name}`,
        outcome: 'fail',
        detail: `column "${column.name}" should be ${column.type} but is ${type}`,
      });
    } else {
      checks.push({ name: `column:${column.name}`, outcome: 'pass', detail: `${type} as ${column.type}` });
    }
  }

  const label = spec.label.column;
  if (dataset.rows > 0 && actual.has(label)) {
    const counts = await withDuckDB(async (con) => {
      const r = await con.runAndReadAll(
        `SELECT count(*)::DOUBLE, count(${sqlIdent(label)})::DOUBLE FROM read_parquet(${sqlString(snapshotPath(dataset))})`,
      );
      const [total, present] = r.getRows()[0] as [number, number];
      return { total, present };
    });
    const missing = counts.total - counts.present;
    checks.push(
      counts.present === 0
        ? { name: 'label', outcome: 'fail', detail: `label column "${label}" has no values (all ${missing} rows null)` }
        : missing > 0
          ? {
              name: 'label',
              outcome: 'warn',
              detail: `label column "${label}" is null in ${missing} of ${counts.total} rows; those rows are not trained on`,
            }
          : { name: 'label', outcome: 'pass', detail: `label "${label}" present in every row` },
    );
  }

  const outcome = checks.some((c) => c.outcome === 'fail')
    ? 'fail'
    : checks.some((c) => c.outcome === 'warn')
      ? 'warn'
      : 'pass';
  const report: ValidationReport = { dataset: dataset.sha256, rows: dataset.rows, outcome, checks };
  if (outcome === 'fail') {
    const failures = checks.filter((c) => c.outcome === 'fail').map((c) => c.detail);
    throw new DataValidationError(`dataset ${name} failed validation: ${failures.join('; ')}`, { report });
  }
  return report;
}
