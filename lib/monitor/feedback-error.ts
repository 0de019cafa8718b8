import fs from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ArtifactStore } from '../artifacts';
import { jsonFieldPath, sqlString } from '../data/duckdb';
import { sqlTimestamp } from '../data/sql';
import { labelReading, labelTarget } from '../labels';
import type { ModelVersion, Registry } from '../registry/types';
import { FeedbackStore, type FeedbackRecord } from '../serving/feedback';
import { scoreOf, ServedVersion } from '../serving/version';
import type { Task } from '../spec';
import type { HealthCheckInput, HealthCheckPaths, HealthReport, PairedComparison } from './report';
import { meanInterval, wilson, type ErrorEstimate } from './stats';

/**
 * The labelled side of a health check: labels that came back as feedback, joined to the predictions they label,
 * give each version's error (with a 95% interval), its error per slice and the fairness gap, and the champion
 * against the version it replaced on the same requests.
 */

/** labels count for predictions made this long before the end of the window */
export const LABEL_LOOKBACK_MS = 7 * 86_400_000;

/** Labels as a temporary DuckDB table `fb (id, label)`, label as JSON text, to join to the log by prediction id. */
export async function feedbackTable(con: DuckDBConnection, labels: FeedbackRecord[]): Promise<void> {
  await con.run('CREATE TEMP TABLE fb (id VARCHAR, label VARCHAR)');
  const appender = await con.createAppender('fb');
  for (const l of labels) {
    appender.appendVarchar(l.predictionId);
    appender.appendVarchar(JSON.stringify(l.label));
    appender.endRow();
  }
  appender.closeSync();
}

export async function measureFeedback(
  con: DuckDBConnection,
  scan: string,
  registry: Registry,
  store: ArtifactStore,
  record: ModelVersion,
  paths: HealthCheckPaths,
  input: HealthCheckInput,
  report: HealthReport,
  rows: (sql: string) => Promise<Record<string, unknown>[]>,
): Promise<void> {
  if (!fs.existsSync(paths.feedback)) return;
  const since = new Date(Date.parse(input.to) - LABEL_LOOKBACK_MS).toISOString();
  const feedback = new FeedbackStore(paths.feedback);
  let labels;
  try {
    labels = feedback.between(since, input.to);
  } finally {
    feedback.close();
  }
  if (labels.length === 0) return;
  await feedbackTable(con, labels);
  const spec = record.spec;
  const sliceColumns = spec.task === 'binary' ? spec.gate.slices.columns : [];
  const sliceSelect = sliceColumns
    .map((c, i) => `json_extract_string(l.input, ${jsonFieldPath(c)}) AS s${i}`)
    .join(', ');
  const joined = await rows(
    `SELECT l.version, l.score, l.predicted, fb.label${sliceSelect ? `, ${sliceSelect}` : ''}
       FROM ${scan} l JOIN fb ON fb.id = l.id
      WHERE l.arm IN ('champion', 'canary') AND l.model = ${sqlString(input.model)}
        AND l."at" >= ${sqlTimestamp(since)} AND l."at" < ${sqlTimestamp(input.to)}`,
  );
  report.feedback.labelled = joined.length;
  // per version: wrong or not (classification), absolute error (regression)
  const errors = new Map<number, number[]>();
  const sliceErrors = sliceColumns.map(() => new Map<string, number[]>());
  const reading = labelReading(spec);
  for (const r of joined) {
    const target = labelTarget(reading, JSON.parse(String(r.label)));
    if (target === null || r.score === null) continue;
    const e = predictionError(spec.task, target, Number(r.score), typeof r.predicted === 'string' ? r.predicted : null);
    const v = Number(r.version);
    const list = errors.get(v) ?? [];
    list.push(e);
    errors.set(v, list);
    if (v === record.version) {
      sliceColumns.forEach((_, i) => {
        const key = r[`s${i}`] === null || r[`s${i}`] === undefined ? '<missing>' : String(r[`s${i}`]);
        const m = sliceErrors[i];
        const l = m.get(key) ?? [];
        l.push(e);
        m.set(key, l);
      });
    }
  }
  const estimate = (list: number[]): ErrorEstimate =>
    spec.task === 'regression'
      ? meanInterval(list)
      : wilson(
          list.reduce((a, b) => a + b, 0),
          list.length,
        );
  const evaluated = (v: ModelVersion): number | null => {
    const m = v.metrics;
    if (spec.task === 'regression') return Number.isFinite(m.mae) ? m.mae : null;
    return Number.isFinite(m.accuracy) ? 1 - m.accuracy : null;
  };
  const history = await registry.aliasHistory(input.model);
  const promotedAt = (version: number): string | null =>
    history.filter((h) => h.alias === 'champion' && h.toVersion === version).at(-1)?.at ?? null;
  report.feedback.champion = {
    version: record.version,
    error: estimate(errors.get(record.version) ?? []),
    evaluated: evaluated(record),
    promotedAt: promotedAt(record.version),
  };
  const previousVersion = await registry.alias(input.model, 'previous');
  const previous = previousVersion === null ? undefined : await registry.getVersion(input.model, previousVersion);
  if (previous) {
    report.feedback.previous = {
      version: previous.version,
      error: estimate(errors.get(previous.version) ?? []),
      evaluated: evaluated(previous),
      promotedAt: promotedAt(previous.version),
    };
    const since = report.feedback.champion.promotedAt;
    if (since) {
      try {
        report.feedback.paired = await pairedComparison(store, record, previous, since, input, rows, scan);
        if (!report.feedback.paired) report.feedback.pairedNote = 'no labelled request since the promotion yet';
      } catch (err) {
        report.feedback.pairedNote = `v${previous.version} could not score the champion's requests: ${(err as Error).message}`;
      }
    } else {
      report.feedback.pairedNote = `when v${record.version} became champion is not in the alias history`;
    }
  }
  let widest: { column: string; gap: number } | null = null;
  sliceColumns.forEach((column, i) => {
    const rates: number[] = [];
    for (const [value, list] of sliceErrors[i]) {
      const rate = list.reduce((a, b) => a + b, 0) / list.length;
      report.feedback.slices.push({ column, value, n: list.length, errorRate: rate });
      if (list.length >= input.policy.fairness.minSliceLabels) rates.push(rate);
    }
    if (rates.length >= 2) {
      const gap = Math.max(...rates) - Math.min(...rates);
      if (!widest || gap > widest.gap) widest = { column, gap };
    }
  });
  report.feedback.fairnessGap = widest;
}

/** requests at most that the previous version scores again in one check (a sample fixed by the ids) */
const PAIRED_ROWS = 20_000;

async function pairedComparison(
  store: ArtifactStore,
  champion: ModelVersion,
  previous: ModelVersion,
  promotedAt: string,
  input: HealthCheckInput,
  rows: (sql: string) => Promise<Record<string, unknown>[]>,
  scan: string,
): Promise<PairedComparison | null> {
  const since = [promotedAt, new Date(Date.parse(input.to) - LABEL_LOOKBACK_MS).toISOString()].sort()[1];
  const labelled = await rows(
    `SELECT l.input, l.score, l.predicted, fb.label FROM ${scan} l JOIN fb ON fb.id = l.id
      WHERE l.arm = 'champion' AND l.version = ${champion.version} AND l.model = ${sqlString(input.model)}
        AND l."at" >= ${sqlTimestamp(since)} AND l."at" < ${sqlTimestamp(input.to)}
      ORDER BY hash(l.id) LIMIT ${PAIRED_ROWS}`,
  );
  const spec = champion.spec;
  const reading = labelReading(spec);
  const usable = labelled
    .map((r) => ({
      input: String(r.input),
      score: r.score === null ? null : Number(r.score),
      predicted: typeof r.predicted === 'string' ? r.predicted : null,
      target: labelTarget(reading, JSON.parse(String(r.label))),
    }))
    .filter((r) => r.target !== null && r.score !== null);
  if (usable.length === 0) return null;
  const served = await ServedVersion.load(store, previous);
  const championErrors: number[] = [];
  const previousErrors: number[] = [];
  try {
    const inputs = usable.map((r) => JSON.parse(r.input) as Record<string, unknown>);
    const { problems, rows: read } = served.rows.read(inputs);
    const refused = new Set(problems.map((p) => p.row));
    const keep = usable.map((_, i) => i).filter((i) => !refused.has(i));
    for (let from = 0; from < keep.length; from += 4096) {
      const chunk = keep.slice(from, from + 4096);
      const { table } = served.rows.layout(chunk.map((i) => read[i]));
      const outputs = served.predict(table);
      chunk.forEach((i, k) => {
        const r = usable[i];
        const { score, predicted } = scoreOf(outputs[k]);
        previousErrors.push(predictionError(spec.task, r.target!, score, predicted));
        championErrors.push(predictionError(spec.task, r.target!, r.score!, r.predicted));
      });
    }
  } finally {
    served.dispose();
  }
  if (championErrors.length === 0) return null;
  const mean = (list: number[]): number => list.reduce((a, b) => a + b, 0) / list.length;
  return {
    champion: champion.version,
    previous: previous.version,
    rows: championErrors.length,
    championError: mean(championErrors),
    previousError: mean(previousErrors),
    difference: meanInterval(championErrors.map((e, i) => e - previousErrors[i])),
  };
}

/**
 * A logged prediction's error against its true target (lib/labels.ts labelTarget): for classification 1 when the
 * class is wrong (binary: the score read at 0.5), else 0; for regression the absolute error.
 */
export function predictionError(task: Task, target: number | string, score: number, predicted: string | null): number {
  if (task === 'binary') return (score >= 0.5 ? 1 : 0) === target ? 0 : 1;
  if (task === 'multiclass') return predicted === target ? 0 : 1;
  return Math.abs(score - Number(target));
}
