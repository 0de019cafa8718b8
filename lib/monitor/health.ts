import type { DuckDBConnection } from '@duckdb/node-api';
import type { ArtifactStore } from '../artifacts';
import { jsonFieldPath, sqlIdent, sqlString, withDuckDB } from '../data/duckdb';
import type { DatasetRef } from '../data/snapshot';
import { sqlTimestamp } from '../data/sql';
import { inputColumns } from '../features';
import type { ModelVersion, Registry } from '../registry/types';
import { snapshotLog, traceIdSql } from '../serving/log-segments';
import type { SourceColumn } from '../spec';
import { numericDrift } from '../stats/drift';
import { measureDrift } from '../validation/drift';
import { profileDataset } from '../validation/profile';
import { referenceProfile } from '../validation/reference';
import { LABEL_LOOKBACK_MS, measureFeedback } from './feedback-error';
import { findingsOf } from './findings';
import { TRACED_EXAMPLES, type HealthCheckInput, type HealthCheckPaths, type HealthReport } from './report';

/**
 * One health check of a served model over a window of its prediction log: what it measures (report.ts), the
 * labelled side (feedback-error.ts), and the policy's findings on the measurements (findings.ts).
 */

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
        `CREATE TEMP TABLE w_all AS SELECT * FROM ${scan} WHERE "at" >= ${sqlTimestamp(input.from)} AND "at" < ${sqlTimestamp(input.to)}`,
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
      await findTracedExamples(con, rows, report);
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

/**
 * The traced requests a finding can point to: the log keeps the trace id of each request the server traced (none in
 * segments from before traces). One example per trace — a caller that sends many requests in one trace is one
 * example, named by the prediction that shows what the finding is about (the slowest; the first unusual or refused);
 * the same ones every time the same window is checked.
 */
async function findTracedExamples(
  con: DuckDBConnection,
  rows: (sql: string) => Promise<Record<string, unknown>[]>,
  report: HealthReport,
): Promise<void> {
  if ((await traceIdSql(con, 'w_all')) === 'NULL') return;
  const examples = async (from: string, where: string, prediction: string, order: string) =>
    (
      await rows(
        `SELECT trace_id, ${prediction} AS id FROM ${from} WHERE trace_id IS NOT NULL AND ${where}
         GROUP BY trace_id ORDER BY ${order}, trace_id LIMIT ${TRACED_EXAMPLES}`,
      )
    ).map((r) => ({ trace: String(r.trace_id), prediction: String(r.id) }));
  report.traces = {
    slowest: await examples('w', 'true', 'arg_max(id, latency_ms)', 'max(latency_ms) DESC'),
    unusual: await examples('w', 'json_array_length(flags) > 0', 'arg_min(id, "at")', 'min("at")'),
    refused: await examples(`w_all`, `arm = 'refused'`, 'arg_min(id, "at")', 'min("at")'),
  };
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
    `${scan} WHERE version = ${version} AND arm IN ('champion', 'canary') AND "at" >= ${sqlTimestamp(before)} AND "at" < ${sqlTimestamp(input.from)}`,
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
