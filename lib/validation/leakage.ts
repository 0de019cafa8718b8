import type { DuckDBConnection } from '@duckdb/node-api';
import type { ArtifactStore } from '../artifacts';
import { sqlIdent, sqlString, withDuckDB } from '../data/duckdb';
import { snapshotPath, type DatasetRef } from '../data/snapshot';
import { columnRequests } from '../features';
import { epochMsSql, timestampSql } from '../data/timestamp';
import { labelReading, labelSql, type LabelReading } from '../labels';
import type { ModelSpec } from '../spec';
import type { SourceColumn } from './contract';
import { familyOf } from './profile';

/**
 * Leakage: a column that gives the answer away. The usual cause is a column recorded after the outcome (the cost of
 * the damage, when the label is the damage), which a model learns to read and which is not there when the model
 * predicts. Each column's single-column predictive power on the label is measured on its own, as data-quality
 * suites measure "feature–label correlation": the column is cut into bins (20 quantile bins of a number or a time,
 * one per category, one for missing), the label's distribution (or mean) per bin is learned on half of the rows and
 * scored on the other half against the label's overall distribution:
 *
 *   power = 1 − cross-entropy(label | bin) / cross-entropy(label)   (classes)
 *   power = 1 − squared error(bin mean) / squared error(mean)       (a number: a held-out R²)
 *
 * 0 is no better than ignoring the column, 1 is the answer itself. Learning on one half and scoring on the other
 * keeps an identifier (a distinct value per row) at 0, where it would look perfect on the rows it was learned on.
 */

export interface ColumnPower {
  column: string;
  power: number;
}

export interface LeakagePolicy {
  /** a column this powerful alone is a likely leak, whatever the others do */
  power: number;
  /** columns at least `floor` powerful, above a gap of this ratio in the sorted powers, are likely leaks */
  ratio: number;
  floor: number;
}

export const DEFAULT_LEAKAGE: LeakagePolicy = { power: 0.95, ratio: 3, floor: 0.6 };

export interface LikelyLeak {
  column: string;
  power: number;
  /** the most powerful other column's power, when there is one */
  nextBest: number | null;
  why: string;
}

/** rows measured at most (a seeded sample beyond): the estimate needs thousands, not millions */
const SAMPLE_ROWS = 200_000;
const NUMERIC_BINS = 20;
/** pseudo-rows of the overall distribution mixed into each bin's, so a bin of one row says little */
const SMOOTHING = 2;

/** The label column in SQL, read by the rule as training reads it (lib/labels.ts). */
function labelExpression(label: MeasuredLabel): { sql: string; kind: 'class' | 'number' } {
  const c = sqlIdent(label.reading.rule.column);
  const x = familyOf(label.type) === 'numeric' ? `CAST(${c} AS DOUBLE)` : `TRY_CAST(${c} AS DOUBLE)`;
  return labelSql(label.reading, c, x);
}

/** The label: its rule and reading (lib/labels.ts), and the DuckDB type found. */
export interface MeasuredLabel {
  reading: LabelReading;
  type: string;
}

export interface MeasuredColumn {
  name: string;
  /** the DuckDB type found */
  type: string;
  /** a date written as text, in this format (the contract's) */
  timestampFormat?: string;
  /** declared a timestamp */
  timestamp?: boolean;
}

/**
 * The single-column power of each column on the label, over a table expression (a snapshot's read_parquet). Rows
 * without a label are left out; the halves (and the sample of a large file) are fixed by a hash of each row's number
 * in the file, so the measure is deterministic.
 */
export async function columnPowers(
  con: DuckDBConnection,
  /** a Parquet file (a snapshot): its row numbers fix the halves and the sample, whatever DuckDB's threads do */
  file: string,
  label: MeasuredLabel,
  columns: MeasuredColumn[],
  seed = 1,
): Promise<ColumnPower[]> {
  const y = labelExpression(label);
  const measured = columns.filter((c) => c.name !== label.reading.rule.column);
  if (measured.length === 0) return [];
  const values = measured.map((c, i) => {
    const col = sqlIdent(c.name);
    const time = c.timestamp || familyOf(c.type) === 'timestamp';
    const value =
      familyOf(c.type) === 'numeric'
        ? `CAST(${col} AS DOUBLE)`
        : time
          ? epochMsSql(timestampSql(c.name, c.timestampFormat, c.type))
          : `CAST(${col} AS VARCHAR)`;
    return { ...c, alias: `v${i}`, numeric: familyOf(c.type) === 'numeric' || time, value };
  });
  const scan = `read_parquet(${sqlString(file)}, file_row_number = true)`;
  const rows = Number(
    (await con.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(file)})`)).getRowsJS()[0][0],
  );
  // at most SAMPLE_ROWS, chosen by a hash of each row's number (a reservoir sample repeats only on one thread)
  const sampled =
    rows > SAMPLE_ROWS
      ? ` AND hash(file_row_number, ${seed + 7919}) % 1000003 < ${Math.ceil((1000003 * SAMPLE_ROWS) / rows)}`
      : '';
  await con.run(
    `CREATE OR REPLACE TEMP TABLE __power AS
       SELECT ${y.sql} AS y, hash(file_row_number, ${seed}) % 2 = 0 AS fit, ${values.map((v) => `${v.value} AS ${v.alias}`).join(', ')}
         FROM ${scan} WHERE ${y.sql} IS NOT NULL${sampled}`,
  );
  try {
    const powers: ColumnPower[] = [];
    for (const v of values) {
      let bin: string;
      if (v.numeric) {
        const cuts = Array.from({ length: NUMERIC_BINS - 1 }, (_, i) => (i + 1) / NUMERIC_BINS);
        const [bounds] = (
          await con.runAndReadAll(
            `SELECT quantile_cont(${v.alias}, [${cuts.join(', ')}]) FROM __power WHERE fit AND isfinite(${v.alias})`,
          )
        ).getRowsJS()[0] as [number[] | null];
        const list = bounds?.length
          ? `[${bounds.map((b) => (Number.isFinite(b) ? b : 0)).join(', ')}]::DOUBLE[]`
          : '[]::DOUBLE[]';
        bin = `CASE WHEN NOT isfinite(${v.alias}) OR ${v.alias} IS NULL THEN '∅' ELSE CAST(len(list_filter(${list}, b -> b < ${v.alias})) AS VARCHAR) END`;
      } else {
        bin = `coalesce(${v.alias}, '∅')`;
      }
      const sql =
        y.kind === 'class'
          ? `WITH t AS (SELECT ${bin} AS b, y, fit FROM __power),
                  n AS (SELECT count(*) AS n FROM t WHERE fit),
                  prior AS (SELECT y, (count(*) + 0.5) / ((SELECT n FROM n) + 1.0) AS p FROM t WHERE fit GROUP BY y),
                  cell AS (SELECT b, y, count(*) AS k FROM t WHERE fit GROUP BY b, y),
                  bins AS (SELECT b, count(*) AS nb FROM t WHERE fit GROUP BY b),
                  test AS (SELECT t.b, t.y, coalesce(prior.p, 0.5 / ((SELECT n FROM n) + 1.0)) AS p
                             FROM t LEFT JOIN prior USING (y) WHERE NOT t.fit)
             SELECT avg(-ln((coalesce(cell.k, 0) + ${SMOOTHING} * test.p) / (coalesce(bins.nb, 0) + ${SMOOTHING}))),
                    avg(-ln(test.p))
               FROM test LEFT JOIN cell USING (b, y) LEFT JOIN bins USING (b)`
          : `WITH t AS (SELECT ${bin} AS b, y, fit FROM __power),
                  mu AS (SELECT avg(y) AS m FROM t WHERE fit),
                  bins AS (SELECT b, count(*) AS nb, avg(y) AS mb FROM t WHERE fit GROUP BY b),
                  test AS (SELECT t.b, t.y FROM t WHERE NOT t.fit)
             SELECT sum(power(test.y - (coalesce(bins.nb * bins.mb, 0) + ${SMOOTHING} * (SELECT m FROM mu)) / (coalesce(bins.nb, 0) + ${SMOOTHING}), 2)),
                    sum(power(test.y - (SELECT m FROM mu), 2))
               FROM test LEFT JOIN bins USING (b)`;
      const [err, base] = (await con.runAndReadAll(sql)).getRowsJS()[0].map((x) => (x === null ? NaN : Number(x)));
      const power = base > 0 && Number.isFinite(err) ? Math.max(0, 1 - err / base) : 0;
      powers.push({ column: v.name, power: Math.round(power * 10_000) / 10_000 });
    }
    return powers;
  } finally {
    await con.run('DROP TABLE IF EXISTS __power');
  }
}

/**
 * The columns that likely leak the label, said with their numbers: one whose power alone is near-perfect, or one of
 * the few standing far above the rest — at least `floor`, above the widest gap in the sorted powers when that gap is
 * `ratio` or more (several useful columns of similar power, as in cars or penguins, have no such gap).
 */
export function likelyLeaks(powers: ColumnPower[], policy: LeakagePolicy = DEFAULT_LEAKAGE): LikelyLeak[] {
  const sorted = [...powers].sort((a, b) => b.power - a.power);
  const floored = sorted.map((p) => Math.max(p.power, 0.01));
  let gap = -1;
  let widest = 0;
  for (let i = 0; i + 1 < sorted.length; i++) {
    if (floored[i] / floored[i + 1] > widest) [widest, gap] = [floored[i] / floored[i + 1], i];
  }
  const show = (x: number): string => x.toFixed(3);
  const leaks: LikelyLeak[] = [];
  sorted.forEach((p, i) => {
    const others = sorted.filter((q) => q !== p);
    const nextBest = others.length ? others[0].power : null;
    if (p.power >= policy.power) {
      leaks.push({
        column: p.column,
        power: p.power,
        nextBest,
        why: `alone it predicts the label almost perfectly (power ${show(p.power)} of 1; near-perfect from ${policy.power})`,
      });
    } else if (p.power >= policy.floor && gap >= 0 && i <= gap && widest >= policy.ratio) {
      const rest = sorted[gap + 1].power;
      leaks.push({
        column: p.column,
        power: p.power,
        nextBest,
        why: `alone it predicts the label far better than the other columns (power ${show(p.power)}; the best of the rest ${show(rest)})`,
      });
    }
  });
  return leaks;
}

/** The power of every column a spec's features read (crossed ones included), over a snapshot. */
export function specColumnPowers(store: ArtifactStore, spec: ModelSpec, dataset: DatasetRef): Promise<ColumnPower[]> {
  const read = new Set(columnRequests(spec).map((r) => r.name));
  const columns = spec.source.columns.filter((c) => read.has(c.name));
  return snapshotColumnPowers(store, dataset, labelReading(spec), columns, spec.training.seed);
}

/** The power of each of these contract columns found in a snapshot (the label's own left out); none without a label. */
export async function snapshotColumnPowers(
  store: ArtifactStore,
  dataset: DatasetRef,
  reading: LabelReading,
  columns: SourceColumn[],
  seed?: number,
): Promise<ColumnPower[]> {
  const types = new Map(dataset.columns.map((c) => [c.name, c.type]));
  const labelType = types.get(reading.rule.column);
  if (labelType === undefined) return [];
  const measured = columns
    .filter((c) => c.name !== reading.rule.column && types.has(c.name))
    .map((c) => ({
      name: c.name,
      type: types.get(c.name)!,
      timestamp: c.type === 'timestamp',
      ...(c.format ? { timestampFormat: c.format } : {}),
    }));
  const file = await snapshotPath(store, dataset);
  return withDuckDB((con) => columnPowers(con, file, { reading, type: labelType }, measured, seed));
}
