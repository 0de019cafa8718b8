import { inputColumns } from '../features';
import fs from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ArtifactRef, ArtifactStore } from '../artifacts';
import { jsonFieldPath, sqlIdent, sqlString, withDuckDB } from '../data/duckdb';
import type { DatasetRef } from '../data/snapshot';
import type { Registry, ModelVersion } from '../registry/types';
import { labelReading, labelTarget } from '../labels';
import { FeedbackStore, type FeedbackRecord } from '../serving/feedback';
import { snapshotLog } from '../serving/log-segments';
import { scoreOf, ServedVersion } from '../serving/version';
import type { SourceColumn, Task } from '../spec';
import { numericDrift } from '../stats/drift';
import { measureDrift, type ColumnDrift } from '../validation/drift';
import { referenceProfile } from '../validation/reference';
import { profileDataset } from '../validation/profile';
import type { MonitorPolicy } from './policy';
import { meanInterval, median, wilson, type ErrorEstimate } from './stats';

/**
 * One health check of a served model over a window of its prediction log (and the labels that came back for it):
 * input drift against the champion's training data (the statistics and thresholds of batch validation), drift of
 * the predictions against the version's own earlier ones, error on labelled feedback with a 95% interval, for the
 * champion and the version it replaced, latency, unusual inputs and fairness across slices. Each measurement that
 * crosses the policy becomes a finding; the monitor workflow decides what to do about findings.
 */

export type FindingKind =
  | 'input-drift'
  | 'prediction-drift'
  | 'decay'
  | 'worse-than-previous'
  | 'latency'
  | 'unusual-inputs'
  | 'refused-rows'
  | 'fairness';

export interface Finding {
  kind: FindingKind;
  /** what the policy says to do: alert, retrain, rollback (none: recorded only) */
  action: 'alert' | 'retrain' | 'rollback' | 'none';
  severity: 'warning' | 'critical';
  /** one sentence with the numbers */
  summary: string;
}

export interface VersionOnFeedback {
  version: number;
  /** error rate (classification) or mean absolute error (regression) on labelled predictions, 95% interval */
  error: ErrorEstimate;
  /** what the version's evaluation measured on its holdout (same definition) */
  evaluated: number | null;
  /** when it became champion (null: not known from the alias history) */
  promotedAt: string | null;
}

/**
 * The champion against the version it replaced, on the same rows: the labelled requests the champion answered
 * since its promotion, scored again by the previous version through its own contract and preprocessor. Comparing
 * each version on the traffic it happened to serve would blame a model for the traffic changing after its
 * promotion; on the same rows, only the model differs.
 */
export interface PairedComparison {
  champion: number;
  previous: number;
  /** requests compared (labelled, answered by the champion since its promotion, accepted by both contracts) */
  rows: number;
  championError: number;
  previousError: number;
  /** the champion's error minus the previous version's, row by row: mean and 95% interval */
  difference: ErrorEstimate;
}

export interface HealthReport {
  model: string;
  /** the champion when the check ran (null: none) */
  champion: number | null;
  from: string;
  to: string;
  at: string;
  predictions: { total: number; byVersion: Record<string, number>; byArm: Record<string, number> };
  latency: { p50: number | null; p99: number | null };
  /** rows refused for breaking the contract (HTTP 400), against all rows sent */
  refused: { rows: number; rate: number | null; byCode: Record<string, number> };
  unusual: { rate: number | null; byCode: Record<string, number>; previousMedian: number | null };
  inputDrift: {
    measured: boolean;
    /** why it was not measured */
    note?: string;
    reference?: string;
    rows?: number;
    columns: ColumnDrift[];
    driftedShare: number;
  };
  predictionDrift: { measured: boolean; note?: string; wasserstein?: number; referenceRows?: number };
  feedback: {
    /** labels joined in the lookback (predictions of the last 7 days) */
    labelled: number;
    champion: VersionOnFeedback | null;
    previous: VersionOnFeedback | null;
    slices: { column: string; value: string; n: number; errorRate: number }[];
    fairnessGap: { column: string; gap: number } | null;
    /** null: no previous version, or nothing to compare yet; see pairedNote */
    paired: PairedComparison | null;
    pairedNote?: string;
  };
  findings: Finding[];
  seconds: number;
}

export interface HealthCheckPaths {
  /** the prediction log's root (<home>/predictions) */
  predictions: string;
  feedback: string;
}

/** labels count for predictions made this long before the end of the window */
const LABEL_LOOKBACK_MS = 7 * 86_400_000;
/** input drift is measured on a sample of about this many served rows at most */
const DRIFT_SAMPLE = 100_000;
/** prediction drift: about this many scores of each side at most */
const SCORE_SAMPLE = 50_000;

/**
 * A deterministic sample of about `want` of `total` rows, chosen by a hash of the prediction id: the same rows
 * every time the same window is checked, and no sort of the whole window to get them.
 */
export function sampleOf(total: number, want: number): string {
  if (total <= want) return 'true';
  const per = 1_000_000;
  return `(hash(id) % ${per}) < ${Math.ceil((want / total) * per)}`;
}

const ts = (iso: string): string => sqlString(iso.replace('T', ' ').replace('Z', ''));

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

/** A served input field as a typed SQL value (the log keeps rows as JSON, as received). */
export function inputFieldSql(column: SourceColumn, json = 'input'): string {
  const text = `json_extract_string(${json}, ${jsonFieldPath(column.name)})`;
  switch (column.type) {
    case 'float':
      return `TRY_CAST(${text} AS DOUBLE)`;
    case 'integer':
      return `TRY_CAST(${text} AS BIGINT)`;
    case 'boolean':
      return `TRY_CAST(${text} AS BOOLEAN)`;
    default:
      return text;
  }
}

export interface HealthCheckInput {
  model: string;
  from: string;
  to: string;
  policy: MonitorPolicy;
  /** unusual-input rates of the previous checks, for surges */
  previousUnusualRates: number[];
}

export async function checkHealth(
  registry: Registry,
  store: ArtifactStore,
  paths: HealthCheckPaths,
  input: HealthCheckInput,
): Promise<HealthReport> {
  const started = performance.now();
  const { model, policy } = input;
  const champion = await registry.alias(model, 'champion');
  const record = champion === null ? undefined : await registry.getVersion(model, champion);
  const report: HealthReport = {
    model,
    champion,
    from: input.from,
    to: input.to,
    at: new Date().toISOString(),
    predictions: { total: 0, byVersion: {}, byArm: {} },
    latency: { p50: null, p99: null },
    refused: { rows: 0, rate: null, byCode: {} },
    unusual: { rate: null, byCode: {}, previousMedian: null },
    inputDrift: { measured: false, columns: [], driftedShare: 0 },
    predictionDrift: { measured: false },
    feedback: { labelled: 0, champion: null, previous: null, slices: [], fairnessGap: null, paired: null },
    findings: [],
    seconds: 0,
  };
  // every read below is of records made at or after the week before the window (the references of prediction drift
  // and of feedback), so older days of the log are not opened
  const snapshot = record ? snapshotLog(paths.predictions, model, Date.parse(input.from) - LABEL_LOOKBACK_MS) : null;
  if (!snapshot || !record) {
    report.inputDrift.note = !record ? 'no champion' : 'nothing logged yet';
    report.predictionDrift.note = report.inputDrift.note;
    report.seconds = (performance.now() - started) / 1000;
    return report;
  }
  const spec = record.spec;
  const scan = snapshot.scan;
  try {
    await withDuckDB(async (con) => {
      const rows = async (sql: string): Promise<Record<string, unknown>[]> =>
        (await con.runAndReadAll(sql)).getRowObjectsJS();
      // the window, read from the log once: w_all holds every arm; w what was answered (champion and canary: a
      // shadow's answers reached nobody, a refused row got none)
      await con.run(
        `CREATE TEMP TABLE w_all AS SELECT * FROM ${scan} WHERE "at" >= ${ts(input.from)} AND "at" < ${ts(input.to)}`,
      );
      await con.run(`CREATE TEMP VIEW w AS SELECT * FROM w_all WHERE arm IN ('champion', 'canary')`);
      for (const r of await rows(
        `SELECT code, count(DISTINCT id) AS n FROM (
         SELECT id, unnest(CAST(flags AS JSON[])) ->> 'code' AS code FROM w_all WHERE arm = 'refused')
        GROUP BY code ORDER BY n DESC, code LIMIT 20`,
      ))
        report.refused.byCode[String(r.code)] = Number(r.n);
      report.refused.rows = Number((await rows(`SELECT count(*) AS n FROM w_all WHERE arm = 'refused'`))[0].n);
      for (const r of await rows(`SELECT version, arm, count(*) AS n FROM w GROUP BY ALL`)) {
        const n = Number(r.n);
        report.predictions.total += n;
        const v = String(r.version);
        report.predictions.byVersion[v] = (report.predictions.byVersion[v] ?? 0) + n;
        report.predictions.byArm[String(r.arm)] = (report.predictions.byArm[String(r.arm)] ?? 0) + n;
      }
      const total = report.predictions.total;
      const sent = total + report.refused.rows;
      report.refused.rate = sent > 0 ? report.refused.rows / sent : null;
      if (total > 0) {
        const [q] = await rows(
          `SELECT quantile_cont(latency_ms, 0.5) AS p50, quantile_cont(latency_ms, 0.99) AS p99,
                avg(CASE WHEN json_array_length(flags) > 0 THEN 1 ELSE 0 END) AS unusual FROM w`,
        );
        report.latency = { p50: Number(q.p50), p99: Number(q.p99) };
        report.unusual.rate = Number(q.unusual);
        for (const r of await rows(
          `SELECT code, count(*) AS n FROM (SELECT unnest(CAST(flags AS JSON[])) ->> 'code' AS code FROM w)
          GROUP BY code ORDER BY n DESC, code LIMIT 20`,
        ))
          report.unusual.byCode[String(r.code)] = Number(r.n);
      }
      if (total >= policy.minPredictions) {
        await measureInputDrift(con, registry, store, record, input, report);
        await measurePredictionDrift(con, scan, record.version, input, report, rows);
      } else {
        const note = `${total} predictions in the window, fewer than the ${policy.minPredictions} the policy needs`;
        report.inputDrift.note = note;
        report.predictionDrift.note = note;
      }
      await measureFeedback(con, scan, registry, store, record, paths, input, report, rows);
    });
  } finally {
    snapshot.close();
  }
  report.findings = findingsOf(report, policy, input.previousUnusualRates, spec.task);
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

async function measureInputDrift(
  con: DuckDBConnection,
  registry: Registry,
  store: ArtifactStore,
  record: ModelVersion,
  input: HealthCheckInput,
  report: HealthReport,
): Promise<void> {
  const spec = record.spec;
  const used = new Set(inputColumns(spec));
  const columns = spec.source.columns.filter((c) => used.has(c.name));
  const trained = await registry.getDataset(record.datasetSha256);
  if (!trained) {
    report.inputDrift.note = `the champion's training data ${record.datasetSha256.slice(0, 12)} is not registered`;
    return;
  }
  const reference = {
    dataset: trained as DatasetRef,
    profile: await referenceProfile(registry, store, trained, spec.source.columns),
  };
  // the served rows, typed as the contract declares, into a content-addressed snapshot like any batch
  const tmp = `${store.tempPath('served')}.parquet`;
  const select = columns.map((c) => `${inputFieldSql(c)} AS ${sqlIdent(c.name)}`).join(', ');
  await con.run(
    `COPY (SELECT ${select} FROM w WHERE ${sampleOf(report.predictions.total, DRIFT_SAMPLE)} ORDER BY id)
       TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`,
  );
  const described = (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(tmp)})`))
    .getRowObjectsJson()
    .map((r) => ({ name: r.column_name as string, type: r.column_type as string }));
  const count = Number(
    (await con.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(tmp)})`)).getRowsJS()[0][0],
  );
  const ref = await store.putFile('served', tmp, '.parquet');
  const current: DatasetRef = {
    ...ref,
    rows: count,
    columns: described,
    source: { uri: `prediction-log:${input.model}?from=${input.from}&to=${input.to}` },
    sourceFingerprint: ref.sha256,
  };
  const profile = await profileDataset(store, current, reference.profile, columns);
  const drift = await measureDrift(store, columns, spec.validation, { dataset: current, profile }, reference);
  // time moves on while a model serves: a later time range is expected; the weekday/hour mix is still judged
  const judged = drift.columns.filter((c) => c.kind !== 'timestamp');
  report.inputDrift = {
    measured: true,
    reference: reference.dataset.sha256,
    rows: count,
    columns: judged,
    driftedShare: judged.length ? judged.filter((c) => c.outcome !== 'pass').length / judged.length : 0,
  };
}

async function measurePredictionDrift(
  con: DuckDBConnection,
  scan: string,
  version: number,
  input: HealthCheckInput,
  report: HealthReport,
  rows: (sql: string) => Promise<Record<string, unknown>[]>,
): Promise<void> {
  // each side sampled by its own size: the week before may hold far more scores than the window
  const scores = async (where: string): Promise<Float64Array> => {
    const [{ n }] = await rows(`SELECT count(*) AS n FROM ${where} AND score IS NOT NULL`);
    const sampled = await rows(
      `SELECT score FROM ${where} AND score IS NOT NULL AND ${sampleOf(Number(n), SCORE_SAMPLE)}`,
    );
    return Float64Array.from(sampled.map((r) => Number(r.score)));
  };
  const current = await scores(`w WHERE version = ${version}`);
  const before = new Date(Date.parse(input.from) - LABEL_LOOKBACK_MS).toISOString();
  const reference = await scores(
    `${scan} WHERE version = ${version} AND arm IN ('champion', 'canary') AND "at" >= ${ts(before)} AND "at" < ${ts(input.from)}`,
  );
  if (current.length < input.policy.minPredictions || reference.length < input.policy.minPredictions) {
    report.predictionDrift = {
      measured: false,
      note: `v${version} has ${current.length} scores in the window and ${reference.length} in the week before; the policy needs ${input.policy.minPredictions} of each`,
    };
    return;
  }
  const d = numericDrift(reference, current);
  report.predictionDrift = { measured: true, wasserstein: d.wasserstein, referenceRows: reference.length };
}

async function measureFeedback(
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
        AND l."at" >= ${ts(since)} AND l."at" < ${ts(input.to)}`,
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
        AND l."at" >= ${ts(since)} AND l."at" < ${ts(input.to)}
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

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

/** The policy applied to one report's measurements. */
export function findingsOf(
  report: HealthReport,
  policy: MonitorPolicy,
  previousUnusualRates: number[],
  task: 'binary' | 'multiclass' | 'regression',
): Finding[] {
  const findings: Finding[] = [];
  const action = (a: 'alert' | 'retrain' | 'none'): Finding['action'] => a;
  const drift = report.inputDrift;
  if (drift.measured) {
    const failed = drift.columns.filter((c) => c.outcome === 'fail');
    if (failed.length > 0 || drift.driftedShare >= policy.drift.driftedShare) {
      const worst = [...drift.columns].sort((a, b) => b.value / b.warn - a.value / a.warn).slice(0, 3);
      findings.push({
        kind: 'input-drift',
        action: action(policy.drift.action),
        severity: failed.length ? 'critical' : 'warning',
        summary: `served inputs drifted from the champion's training data: ${pct(drift.driftedShare)} of ${drift.columns.length} columns (${worst.map((c) => `${c.column} ${c.method} ${fmt(c.value)}, ${c.outcome}`).join('; ')}) over ${drift.rows} rows`,
      });
    }
  }
  const pd = report.predictionDrift;
  if (pd.measured && (pd.wasserstein ?? 0) >= policy.drift.predictionWarn) {
    findings.push({
      kind: 'prediction-drift',
      action: action(policy.drift.action),
      severity: 'warning',
      summary: `v${report.champion}'s predictions drifted from its own in the week before: normed Wasserstein ${fmt(pd.wasserstein!)} (warn at ${policy.drift.predictionWarn})`,
    });
  }
  const measure = task === 'regression' ? 'mean absolute error' : 'error rate';
  const show = (x: number): string => (task === 'regression' ? fmt(x) : pct(x));
  const c = report.feedback.champion;
  if (c && c.error.n >= policy.minLabels && c.evaluated !== null) {
    const limit =
      task === 'regression'
        ? c.evaluated * (1 + policy.decay.maxErrorIncrease)
        : c.evaluated + policy.decay.maxErrorIncrease;
    if (c.error.low > limit) {
      findings.push({
        kind: 'decay',
        action: action(policy.decay.action),
        severity: 'critical',
        summary: `v${c.version}'s ${measure} on ${c.error.n} labelled predictions is ${show(c.error.value)} (95% interval ${show(c.error.low)}–${show(c.error.high)}), above the ${show(limit)} its evaluation (${show(c.evaluated)}) allows`,
      });
    }
  }
  const paired = report.feedback.paired;
  if (
    policy.rollback.enabled &&
    c &&
    paired &&
    c.promotedAt &&
    Date.parse(report.to) - Date.parse(c.promotedAt) <= policy.rollback.withinHours * 3_600_000 &&
    paired.rows >= policy.minLabels &&
    paired.difference.low >
      (task === 'regression' ? policy.rollback.margin * paired.previousError : policy.rollback.margin)
  ) {
    const d = paired.difference;
    findings.push({
      kind: 'worse-than-previous',
      action: 'rollback',
      severity: 'critical',
      summary: `v${c.version}, champion since ${c.promotedAt}, does measurably worse than v${paired.previous} does on the same ${paired.rows} labelled requests: ${measure} ${show(paired.championError)} against ${show(paired.previousError)} (difference ${task === 'regression' ? fmt(d.value) : pct(d.value)}, 95% ${task === 'regression' ? `${fmt(d.low)}–${fmt(d.high)}` : `${pct(d.low)}–${pct(d.high)}`})`,
    });
  }
  const total = report.predictions.total;
  if (total >= policy.minPredictions && report.latency.p99 !== null && report.latency.p99 > policy.latency.p99Ms) {
    findings.push({
      kind: 'latency',
      action: action(policy.latency.action),
      severity: 'warning',
      summary: `p99 latency ${fmt(report.latency.p99)} ms over ${total} predictions (limit ${policy.latency.p99Ms} ms; p50 ${fmt(report.latency.p50 ?? NaN)} ms)`,
    });
  }
  const rate = report.unusual.rate;
  const previous = previousUnusualRates.filter((r) => Number.isFinite(r));
  report.unusual.previousMedian = previous.length ? median(previous) : null;
  if (total >= policy.minPredictions && rate !== null) {
    const base = report.unusual.previousMedian;
    const surge = base !== null && base > 0 && rate >= policy.unusual.surge * base;
    if (rate > policy.unusual.maxRate || surge) {
      const codes = Object.entries(report.unusual.byCode)
        .slice(0, 3)
        .map(([code, n]) => `${code} ×${n}`)
        .join(', ');
      findings.push({
        kind: 'unusual-inputs',
        action: action(policy.unusual.action),
        severity: 'warning',
        summary: `${pct(rate)} of ${total} predictions had unusual inputs (${codes})${surge ? `, ${(rate / base).toFixed(1)}× the median ${pct(base)} of the previous checks` : ''}; limit ${pct(policy.unusual.maxRate)}`,
      });
    }
  }
  const refused = report.refused;
  if (refused.rate !== null && total + refused.rows >= policy.minPredictions && refused.rate > policy.refused.maxRate) {
    const codes = Object.entries(refused.byCode)
      .slice(0, 3)
      .map(([code, n]) => `${code} ×${n}`)
      .join(', ');
    findings.push({
      kind: 'refused-rows',
      action: action(policy.refused.action),
      severity: 'warning',
      summary: `${pct(refused.rate)} of ${total + refused.rows} rows sent were refused for breaking the contract (${codes}); limit ${pct(policy.refused.maxRate)}`,
    });
  }
  const gap = report.feedback.fairnessGap;
  if (gap && gap.gap > policy.fairness.maxGap) {
    const slices = report.feedback.slices.filter(
      (s) => s.column === gap.column && s.n >= policy.fairness.minSliceLabels,
    );
    const worst = slices.reduce((a, b) => (b.errorRate > a.errorRate ? b : a));
    const best = slices.reduce((a, b) => (b.errorRate < a.errorRate ? b : a));
    findings.push({
      kind: 'fairness',
      action: action(policy.fairness.action),
      severity: 'warning',
      summary: `error rate differs by ${pct(gap.gap)} across "${gap.column}" (${worst.value}: ${pct(worst.errorRate)} of ${worst.n}; ${best.value}: ${pct(best.errorRate)} of ${best.n}); limit ${pct(policy.fairness.maxGap)}`,
    });
  }
  return findings;
}

/** The part of a report the workflow keeps (its history and queries stay small; the whole report is an artifact). */
export interface ReportSummary {
  id: number;
  at: string;
  from: string;
  to: string;
  champion: number | null;
  predictions: number;
  labelled: number;
  unusualRate: number | null;
  /** share of rows sent that were refused for breaking the contract */
  refusedRate: number | null;
  driftedShare: number | null;
  championError: number | null;
  p99: number | null;
  findings: Finding[];
  report: ArtifactRef;
}
