import { withRegisteredPolicy } from '../access/model-policy';
import fs from 'node:fs';
import path from 'node:path';
import { parseMonitorPolicy } from './policy';
import { jsonFieldPath, sqlIdent, sqlString, withDuckDB } from '../data/duckdb';
import type { ArtifactStore } from '../artifacts';
import { snapshotPath } from '../data/snapshot';
import type { SourceRef } from '../data/source';
import { NotFoundError } from '../errors';
import { hashJson } from '../hash';
import type { Registry } from '../registry/types';
import { FeedbackStore } from '../serving/feedback';
import type { ModelSpec } from '../spec';
import { snapshotLog } from '../serving/log-segments';
import { feedbackTable } from './feedback-error';
import type { HealthCheckPaths } from './report';

/**
 * The batch a retrain trains on: the newest accepted data of the model (what training may use of it) plus every
 * served prediction a label came back for — the row as it was served, with the label in the spec's label column.
 * Written once per content (named by a hash of what went in), so the same data and the same labels make the same
 * file, the same training workflow id, and therefore one training run. The pipeline validates it like any batch.
 */
export interface RetrainBatch {
  spec: ModelSpec;
  source: SourceRef;
  /** identifies the content: the accepted batch and the labelled predictions */
  fingerprint: string;
  rows: { accepted: number; feedback: number };
  acceptedDataset: string;
}

/** labels of predictions made this long ago at most are used */
const FEEDBACK_DAYS = 30;

export async function buildRetrainBatch(
  store: ArtifactStore,
  registry: Registry,
  paths: HealthCheckPaths & { home: string },
  model: string,
): Promise<RetrainBatch> {
  const champion = await registry.alias(model, 'champion');
  const record = champion === null ? undefined : await registry.getVersion(model, champion);
  if (!record) throw new NotFoundError(`${model} has no champion: nothing to retrain`);
  const accepted = await registry.lastAccepted(model);
  if (!accepted) throw new NotFoundError(`${model} has no accepted batch to retrain from`);
  const dataset = await registry.getDataset(accepted.trainingDatasetSha256);
  if (!dataset) throw new NotFoundError(`dataset ${accepted.trainingDatasetSha256.slice(0, 12)} is not registered`);
  // held to the model's policy as registered now, which may be stricter than when the champion was trained
  const spec = await withRegisteredPolicy(registry, record.spec);
  const parsed = parseMonitorPolicy(spec.monitor ?? {});
  const acceptedRows = 'policy' in parsed ? parsed.policy.retrain.acceptedRows : null;
  const labels = fs.existsSync(paths.feedback)
    ? (() => {
        const store = new FeedbackStore(paths.feedback);
        try {
          return store.between(new Date(Date.now() - FEEDBACK_DAYS * 86_400_000).toISOString(), '9999');
        } finally {
          store.close();
        }
      })()
    : [];
  const fingerprint = hashJson({
    dataset: dataset.sha256,
    feedback: labels.map((l) => [l.predictionId, l.label]),
    spec: spec.source.columns.map((c) => c.name),
    acceptedRows,
  });
  const dir = path.join(paths.home, 'monitor', model);
  const file = path.join(dir, `retrain-${fingerprint.slice(0, 16)}.parquet`);
  const counted = { accepted: Math.min(dataset.rows, acceptedRows ?? Infinity), feedback: 0 };
  // the labelled requests, from the log as it is now (a merge of its segments cannot disturb the read)
  const snapshot = labels.length ? snapshotLog(paths.predictions, model) : null;
  try {
    await withDuckDB(async (con) => {
      const acceptedScan = `read_parquet(${sqlString(await snapshotPath(store, dataset))})`;
      const types = new Map(
        (await con.runAndReadAll(`DESCRIBE SELECT * FROM ${acceptedScan}`))
          .getRowObjectsJson()
          .map((r) => [r.column_name as string, r.column_type as string]),
      );
      const columns = spec.source.columns.filter((c) => types.has(c.name));
      let feedbackSelect = '';
      if (snapshot) {
        await feedbackTable(con, labels);
        const field = (name: string): string =>
          name === spec.label.column
            ? `json_extract_string(fb.label, '$')`
            : `json_extract_string(l.input, ${jsonFieldPath(name)})`;
        feedbackSelect = `SELECT ${columns
          .map((c) => `TRY_CAST(${field(c.name)} AS ${types.get(c.name)}) AS ${sqlIdent(c.name)}`)
          .join(', ')}, 1 AS __part, l.id AS __key
        FROM ${snapshot.scan} l JOIN fb ON fb.id = l.id WHERE l.arm IN ('champion', 'canary')`;
        counted.feedback = Number(
          (await con.runAndReadAll(`SELECT count(*) FROM (${feedbackSelect})`)).getRowsJS()[0][0],
        );
      }
      if (fs.existsSync(file)) return;
      fs.mkdirSync(dir, { recursive: true });
      const names = columns.map((c) => sqlIdent(c.name)).join(', ');
      // a sample, when the policy caps the accepted rows: chosen by a hash of each row, so the same every time
      const acceptedRowsOf =
        acceptedRows !== null && acceptedRows < dataset.rows
          ? `(SELECT * FROM ${acceptedScan} t ORDER BY hash(t) LIMIT ${acceptedRows})`
          : acceptedScan;
      const acceptedSelect = `SELECT ${names}, 0 AS __part, lpad(CAST(row_number() OVER () AS VARCHAR), 20, '0') AS __key FROM ${acceptedRowsOf}`;
      const temp = `${file}.part-${process.pid}`;
      await con.run(
        `COPY (SELECT ${names} FROM (${acceptedSelect}${feedbackSelect ? ` UNION ALL ${feedbackSelect}` : ''})
              ORDER BY __part, __key)
         TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd)`,
      );
      fs.renameSync(temp, file);
    });
  } finally {
    snapshot?.close();
  }
  return {
    spec,
    source: { uri: file, format: 'parquet' },
    fingerprint,
    rows: counted,
    acceptedDataset: dataset.sha256,
  };
}
