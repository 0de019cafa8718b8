import { z } from 'zod';
import type { ArtifactStore } from '../artifacts';
import type { DatasetRef } from '../data/snapshot';
import { loadTable } from '../data/table';
import { categoricalDrift, type NumericDrift } from '../stats/drift';
import { numericDriftMany, toShared } from '../stats/pool';
import { sortFloat64 } from '../stats/sort';
import type { SourceColumn, ValidationPolicy } from './contract';
import type { ColumnProfile, Profile } from './profile';

/**
 * Per-column drift of a batch against its reference. Every statistic is computed and kept; the decision uses
 * one effect size per column (normed Wasserstein for numbers, Jensen–Shannon for categories, by default) against
 * warn/fail thresholds — never a p-value alone, which at a million rows flags shifts nobody cares about.
 */

export const ColumnDrift = z.object({
  column: z.string(),
  /** timestamp: the time range itself; calendar: a timestamp's weekday or hour-of-day mix */
  kind: z.enum(['numeric', 'categorical', 'timestamp', 'calendar']),
  method: z.string(),
  value: z.number(),
  warn: z.number(),
  fail: z.number(),
  outcome: z.enum(['pass', 'warn', 'fail']),
  statistics: z.record(z.string(), z.number()),
});
export type ColumnDrift = z.infer<typeof ColumnDrift>;

export const DriftReport = z.object({
  reference: z.string(),
  columns: z.array(ColumnDrift),
  driftedShare: z.number(),
  outcome: z.enum(['pass', 'warn', 'fail']),
});
export type DriftReport = z.infer<typeof DriftReport>;

/** Sorted reference columns, kept across batches: the reference changes only when a new champion is promoted. */
const sortedCache = new Map<string, Float64Array>();
const CACHE_LIMIT = 32;

async function finiteColumn(store: ArtifactStore, dataset: DatasetRef, column: string): Promise<Float64Array> {
  const table = await loadTable(store, dataset, [{ name: column, as: 'number' }]);
  const data = table.columns.get(`number:${column}`);
  const values = data?.kind === 'number' ? data.values : new Float64Array();
  let count = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) count++;
  const out = new Float64Array(new SharedArrayBuffer(count * 8));
  for (let i = 0, k = 0; i < values.length; i++) if (Number.isFinite(values[i])) out[k++] = values[i];
  return out;
}

async function sortedColumn(store: ArtifactStore, dataset: DatasetRef, column: string): Promise<Float64Array> {
  const key = `${dataset.sha256}:${column}`;
  const hit = sortedCache.get(key);
  if (hit) {
    sortedCache.delete(key);
    sortedCache.set(key, hit);
    return hit;
  }
  const sorted = toShared(sortFloat64(await finiteColumn(store, dataset, column)));
  sortedCache.set(key, sorted);
  if (sortedCache.size > CACHE_LIMIT) sortedCache.delete(sortedCache.keys().next().value as string);
  return sorted;
}

function counts(profile: ColumnProfile | undefined): Map<string, number> {
  const m = new Map<string, number>();
  if (profile?.kind !== 'categorical') return m;
  for (const [v, n] of Object.entries(profile.values)) m.set(v, n);
  if (profile.otherCount > 0) m.set('\u0000other', profile.otherCount);
  return m;
}

const level = (value: number, warn: number, fail: number): 'pass' | 'warn' | 'fail' =>
  value >= fail ? 'fail' : value >= warn ? 'warn' : 'pass';

export async function measureDrift(
  store: ArtifactStore,
  columns: SourceColumn[],
  policy: ValidationPolicy,
  current: { dataset: DatasetRef; profile: Profile },
  reference: { dataset: DatasetRef; profile: Profile },
): Promise<DriftReport> {
  type Planned = { col: SourceColumn; kind: 'numeric' | 'categorical' | 'timestamp' };
  const planned: Planned[] = [];
  for (const col of columns) {
    const rule = policy.drift.columns[col.name] ?? {};
    if (rule.skip) continue;
    const cur = current.profile.columns.find((c) => c.name === col.name);
    const ref = reference.profile.columns.find((c) => c.name === col.name);
    if (!cur || !ref || cur.count === 0 || ref.count === 0) continue;
    if (col.type === 'timestamp') {
      if (cur.kind === 'timestamp' && ref.kind === 'timestamp') planned.push({ col, kind: 'timestamp' });
      continue;
    }
    const numeric =
      (col.type === 'float' || col.type === 'integer') && cur.kind === 'numeric' && ref.kind === 'numeric';
    if (numeric) planned.push({ col, kind: 'numeric' });
    else if (cur.kind === 'categorical' && ref.kind === 'categorical') planned.push({ col, kind: 'categorical' });
  }
  // numeric columns: all at once, over the worker pool
  const numericCols = planned.filter((p) => p.kind === 'numeric').map((p) => p.col);
  const jobs = await Promise.all(
    numericCols.map(async (col) => ({
      reference: await sortedColumn(store, reference.dataset, col.name),
      current: await finiteColumn(store, current.dataset, col.name),
    })),
  );
  const usable = jobs.map((j) => j.reference.length > 0 && j.current.length > 0);
  const numericResults = await numericDriftMany(jobs.filter((_, i) => usable[i]));
  const byColumn = new Map<string, NumericDrift>();
  let k = 0;
  numericCols.forEach((col, i) => {
    if (usable[i]) byColumn.set(col.name, numericResults[k++]);
  });

  const results: ColumnDrift[] = [];
  /** One verdict: the configured effect size against its thresholds; every statistic is kept. */
  const judge: Judge = (column, rule, kind, method, statistics, defaults) => {
    const value = statistics[method];
    const warn = rule.warn ?? defaults.warn;
    const fail = rule.fail ?? defaults.fail;
    results.push({ column, kind, method, value, warn, fail, outcome: level(value, warn, fail), statistics });
  };
  for (const { col, kind } of planned) {
    const rule = policy.drift.columns[col.name] ?? {};
    if (kind === 'numeric') {
      const d = byColumn.get(col.name);
      if (!d) continue;
      const defaults = policy.drift.numeric;
      judge(
        col.name,
        rule,
        kind,
        rule.method ?? defaults.method,
        {
          wasserstein: d.wasserstein,
          psi: d.psi,
          jensenshannon: d.jensenShannon,
          ks: d.ks.statistic,
          ksPValue: d.ks.pValue,
        },
        defaults,
      );
    } else if (kind === 'categorical') {
      const cur = current.profile.columns.find((c) => c.name === col.name);
      const ref = reference.profile.columns.find((c) => c.name === col.name);
      const d = categoricalDrift(counts(ref), counts(cur));
      const defaults = policy.drift.categorical;
      const method = rule.method === 'psi' || rule.method === 'jensenshannon' ? rule.method : defaults.method;
      judge(
        col.name,
        rule,
        kind,
        method,
        {
          jensenshannon: d.jensenShannon,
          psi: d.psi,
          chiSquare: d.chiSquare.statistic,
          chiSquarePValue: d.chiSquare.pValue,
        },
        defaults,
      );
    } else {
      timeDrift(col, policy, current.profile, reference.profile, judge);
    }
  }
  const drifted = results.filter((r) => r.outcome !== 'pass').length;
  const driftedShare = results.length ? drifted / results.length : 0;
  const shareOutcome = level(driftedShare, policy.drift.datasetShare.warn, policy.drift.datasetShare.fail);
  const outcome =
    results.some((r) => r.outcome === 'fail') || shareOutcome === 'fail'
      ? 'fail'
      : drifted > 0 || shareOutcome === 'warn'
        ? 'warn'
        : 'pass';
  return { reference: reference.dataset.sha256, columns: results, driftedShare, outcome };
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

type Judge = (
  column: string,
  rule: { warn?: number; fail?: number },
  kind: ColumnDrift['kind'],
  method: string,
  statistics: Record<string, number>,
  defaults: { warn: number; fail: number },
) => void;

/**
 * A timestamp column against the reference: how many days the batch's median lies outside the reference's time
 * range (time moves on between batches, so a shift of the whole range is normal and only a distance is judged),
 * and how the weekday and hour-of-day mix moved (a date shifted by years lands on other weekdays).
 */
function timeDrift(
  col: SourceColumn,
  policy: ValidationPolicy,
  current: Profile,
  reference: Profile,
  judge: Judge,
): void {
  const cur = current.columns.find((c) => c.name === col.name);
  const ref = reference.columns.find((c) => c.name === col.name);
  if (cur?.kind !== 'timestamp' || ref?.kind !== 'timestamp' || !cur.epoch || !ref.epoch) return;
  const median = cur.epoch.p50;
  const outside = median > ref.epoch.max ? median - ref.epoch.max : median < ref.epoch.min ? ref.epoch.min - median : 0;
  const rule = policy.drift.columns[col.name] ?? {};
  judge(
    col.name,
    rule,
    'timestamp',
    'gapDays',
    { gapDays: outside / DAY_MS, medianShiftDays: (median - ref.epoch.p50) / DAY_MS },
    policy.drift.time.gapDays,
  );
  // A mix is only comparable when both sides span a whole cycle (all seven weekdays, all 24 hours): three days
  // of flights have three weekdays, and a weekday mix judged on them would flag every short batch.
  const covers = (cycleMs: number): boolean =>
    cur.epoch!.max - cur.epoch!.min >= cycleMs && ref.epoch!.max - ref.epoch!.min >= cycleMs;
  const parts = [
    ['day of week', cur.dayOfWeek, ref.dayOfWeek, covers(6 * DAY_MS)],
    ['hour of day', cur.hourOfDay, ref.hourOfDay, covers(DAY_MS - HOUR_MS)],
  ] as const;
  for (const [part, c, r, comparable] of parts) {
    if (!c || !r || !comparable) continue;
    const asCounts = (xs: readonly number[]): Map<string, number> =>
      new Map(xs.flatMap((n, i) => (n > 0 ? [[String(i), n] as const] : [])));
    const d = categoricalDrift(asCounts(r), asCounts(c));
    judge(
      `${col.name} (${part})`,
      {},
      'calendar',
      'jensenshannon',
      { jensenshannon: d.jensenShannon, psi: d.psi, chiSquarePValue: d.chiSquare.pValue },
      policy.drift.time.calendar,
    );
  }
}
