import { z } from 'zod';
import { sqlIdent, sqlString, withDuckDB } from '../data/duckdb';
import type { ArtifactStore } from '../artifacts';
import { snapshotPath, type DatasetRef } from '../data/snapshot';
import { timestampSql } from '../data/timestamp';
import type { SourceColumn } from './contract';

/**
 * A profile of one snapshot, computed by DuckDB in a few scans: per column counts of missing values, NaN and
 * ±Inf, range, mean and spread, quantiles, a histogram (with the reference's bin edges when there is a
 * reference, so the two line up), distinct values and category frequencies.
 */

export const Histogram = z.object({
  edges: z.array(z.number()),
  counts: z.array(z.number()),
  underflow: z.number(),
  overflow: z.number(),
});
export type Histogram = z.infer<typeof Histogram>;

const Base = { name: z.string(), type: z.string(), count: z.number(), missing: z.number() };

export const ColumnProfile = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('numeric'),
    ...Base,
    nan: z.number(),
    posInf: z.number(),
    negInf: z.number(),
    min: z.number().nullable(),
    max: z.number().nullable(),
    mean: z.number().nullable(),
    std: z.number().nullable(),
    quantiles: z.record(z.string(), z.number()),
    distinct: z.number(),
    histogram: Histogram.nullable(),
  }),
  z.object({
    kind: z.literal('categorical'),
    ...Base,
    distinct: z.number(),
    /** value → count, most frequent first; at most MAX_CATEGORIES values, the rest summed in `otherCount` */
    values: z.record(z.string(), z.number()),
    otherCount: z.number(),
  }),
  z.object({
    kind: z.literal('timestamp'),
    ...Base,
    min: z.string().nullable(),
    max: z.string().nullable(),
    /** values present but not readable as timestamps (text in another format) */
    unparsed: z.number().optional(),
    /** epoch milliseconds: earliest, median, latest */
    epoch: z.object({ min: z.number(), p50: z.number(), max: z.number() }).nullable().optional(),
    /** rows per weekday, Monday first, and per hour of the day: the calendar a model's time features see */
    dayOfWeek: z.array(z.number()).length(7).optional(),
    hourOfDay: z.array(z.number()).length(24).optional(),
  }),
]);
export type ColumnProfile = z.infer<typeof ColumnProfile>;

export const Profile = z.object({
  dataset: z.string(),
  rows: z.number(),
  duplicateRows: z.number(),
  columns: z.array(ColumnProfile),
});
export type Profile = z.infer<typeof Profile>;

export const QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
const MAX_CATEGORIES = 10_000;
const DEFAULT_BINS = 20;

export type Family = 'numeric' | 'categorical' | 'timestamp';

export function familyOf(duckdbType: string): Family {
  const t = duckdbType.toUpperCase();
  // a list of numbers (BIGINT[]) is not a number: the pattern holds the whole type name
  if (/^(TIMESTAMP|DATE)[^[]*$/.test(t)) return 'timestamp';
  if (
    /^(DOUBLE|FLOAT|REAL|DECIMAL(\(\d+,\s*\d+\))?|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/.test(
      t,
    )
  ) {
    return 'numeric';
  }
  return 'categorical';
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * `declared`: the contract's columns, so a column declared as a timestamp is profiled as one even when it arrives
 * as text (with the contract's format).
 */
export async function profileDataset(
  store: ArtifactStore,
  dataset: DatasetRef,
  reference?: Profile,
  declared: SourceColumn[] = [],
): Promise<Profile> {
  const src = `read_parquet(${sqlString(await snapshotPath(store, dataset))})`;
  return withDuckDB(async (con) => {
    const one = async (sql: string): Promise<unknown[]> => (await con.runAndReadAll(sql)).getRowsJS()[0] ?? [];
    const all = async (sql: string): Promise<unknown[][]> => (await con.runAndReadAll(sql)).getRowsJS();
    const duplicates = Number(
      (await one(`SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM ${src})) FROM ${src}`))[0] ?? 0,
    );
    const columns: ColumnProfile[] = [];
    for (const col of dataset.columns) {
      const c = sqlIdent(col.name);
      const contract = declared.find((d) => d.name === col.name);
      const family =
        contract?.type === 'timestamp' && familyOf(col.type) !== 'numeric' ? 'timestamp' : familyOf(col.type);
      if (family === 'numeric') {
        const x = `CAST(${c} AS DOUBLE)`;
        const f = `isfinite(${x})`;
        const r = await one(
          `SELECT count(${c}), count(*) FILTER (${c} IS NULL), count(*) FILTER (isnan(${x})),
                  count(*) FILTER (${x} = 'inf'::DOUBLE), count(*) FILTER (${x} = '-inf'::DOUBLE),
                  min(${x}) FILTER (${f}), max(${x}) FILTER (${f}), avg(${x}) FILTER (${f}),
                  stddev_samp(${x}) FILTER (${f}), quantile_cont(${x}, [${QUANTILES.join(', ')}]) FILTER (${f}),
                  approx_count_distinct(${x})
             FROM ${src}`,
        );
        const [count, missing, nan, posInf, negInf, min, max, mean, std, qs, distinct] = r;
        const quantiles: Record<string, number> = {};
        (Array.isArray(qs) ? (qs as number[]) : []).forEach(
          (q, i) => (quantiles[`p${Math.round(QUANTILES[i] * 100)}`] = q),
        );
        const refColumn = reference?.columns.find((p) => p.name === col.name && p.kind === 'numeric');
        const edges =
          refColumn?.kind === 'numeric' && refColumn.histogram
            ? refColumn.histogram.edges
            : equalEdges(num(min), num(max), DEFAULT_BINS);
        columns.push({
          kind: 'numeric',
          name: col.name,
          type: col.type,
          count: Number(count),
          missing: Number(missing),
          nan: Number(nan),
          posInf: Number(posInf),
          negInf: Number(negInf),
          min: num(min),
          max: num(max),
          mean: num(mean),
          std: num(std),
          quantiles,
          distinct: Number(distinct),
          histogram: edges ? await histogram(all, src, x, edges) : null,
        });
      } else if (family === 'categorical') {
        const s = `CAST(${c} AS VARCHAR)`;
        const [count, missing, distinct] = await one(
          `SELECT count(${c}), count(*) FILTER (${c} IS NULL), count(DISTINCT ${s}) FROM ${src}`,
        );
        const rows = await all(
          `SELECT ${s} AS v, count(*) AS n FROM ${src} WHERE ${c} IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT ${MAX_CATEGORIES}`,
        );
        const values: Record<string, number> = {};
        let listed = 0;
        for (const [v, n] of rows) {
          values[String(v)] = Number(n);
          listed += Number(n);
        }
        columns.push({
          kind: 'categorical',
          name: col.name,
          type: col.type,
          count: Number(count),
          missing: Number(missing),
          distinct: Number(distinct),
          values,
          otherCount: Number(count) - listed,
        });
      } else {
        const t = timestampSql(col.name, contract?.format, col.type);
        const [count, missing, min, max, minMs, p50Ms, maxMs] = await one(
          `SELECT count(${t}), count(*) FILTER (${c} IS NULL), CAST(min(${t}) AS VARCHAR), CAST(max(${t}) AS VARCHAR),
                  epoch_ms(min(${t})), epoch_ms(quantile_disc(${t}, 0.5)), epoch_ms(max(${t}))
             FROM ${src}`,
        );
        const dayOfWeek = new Array<number>(7).fill(0);
        const hourOfDay = new Array<number>(24).fill(0);
        for (const [part, value, n] of await all(
          `SELECT 'dow', isodow(${t}) - 1, count(*) FROM ${src} WHERE ${t} IS NOT NULL GROUP BY 2
           UNION ALL SELECT 'hour', hour(${t}), count(*) FROM ${src} WHERE ${t} IS NOT NULL GROUP BY 2`,
        )) {
          (part === 'dow' ? dayOfWeek : hourOfDay)[Number(value)] = Number(n);
        }
        const parsed = Number(count);
        columns.push({
          kind: 'timestamp',
          name: col.name,
          type: col.type,
          count: parsed,
          missing: Number(missing),
          unparsed: dataset.rows - Number(missing) - parsed,
          min: typeof min === 'string' ? min : null,
          max: typeof max === 'string' ? max : null,
          epoch: parsed > 0 ? { min: Number(minMs), p50: Number(p50Ms), max: Number(maxMs) } : null,
          dayOfWeek,
          hourOfDay,
        });
      }
    }
    return { dataset: dataset.sha256, rows: dataset.rows, duplicateRows: duplicates, columns };
  });
}

export function equalEdges(min: number | null, max: number | null, bins: number): number[] | null {
  if (min === null || max === null) return null;
  const lo = min === max ? min - 0.5 : min;
  const hi = min === max ? max + 0.5 : max;
  const step = (hi - lo) / bins;
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * step));
}

async function histogram(
  all: (sql: string) => Promise<unknown[][]>,
  src: string,
  x: string,
  edges: number[],
): Promise<Histogram> {
  const bins = edges.length - 1;
  const lo = edges[0];
  const hi = edges[bins];
  const step = (hi - lo) / bins;
  const rows = await all(
    `SELECT CASE WHEN ${x} < ${lo} THEN -1 WHEN ${x} > ${hi} THEN ${bins}
                 ELSE least(CAST(floor((${x} - ${lo}) / ${step}) AS BIGINT), ${bins - 1}) END AS b, count(*)
       FROM ${src} WHERE isfinite(${x}) GROUP BY b`,
  );
  const counts = new Array<number>(bins).fill(0);
  let underflow = 0;
  let overflow = 0;
  for (const [b, n] of rows) {
    const i = Number(b);
    if (i < 0) underflow += Number(n);
    else if (i >= bins) overflow += Number(n);
    else counts[i] += Number(n);
  }
  return { edges, counts, underflow, overflow };
}
