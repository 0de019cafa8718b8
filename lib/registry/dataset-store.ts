import type { Sql } from './sql';
import type { DatasetRef } from '../data/snapshot';
import type { ArtifactRef } from '../artifacts';
import { ConflictError, NotFoundError } from '../errors';
import type { DatasetRecord, NewValidation, ValidationDecision, ValidationRecord } from './types';
import { type ValidationRow, parse, toValidation } from './rows';
import { SqlStore, now } from './sql-store';

/** Decisions that end a quarantine; a batch can move from "quarantined" to one of these, once. */
const FINAL_AFTER_QUARANTINE: ValidationDecision[] = ['released', 'discarded', 'rejected'];

/** Datasets by content hash, and each batch's validation: its report, any quarantine and the decision that ended it. */
export class DatasetStore extends SqlStore {
  async recordDataset(dataset: DatasetRef, profile: ArtifactRef | null): Promise<void> {
    const q = this.sql;
    await this.insertDataset(q, dataset, profile);
  }

  protected async insertDataset(q: Sql, dataset: DatasetRef, profile: ArtifactRef | null): Promise<void> {
    await q.run(
      `INSERT INTO datasets (sha256, uri, rows, source_json, source_fingerprint, columns_json, profile_json, derived_from_json, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (sha256) DO UPDATE SET profile_json = COALESCE(excluded.profile_json, datasets.profile_json)`,
      [
        dataset.sha256,
        dataset.uri,
        dataset.rows,
        JSON.stringify(dataset.source),
        dataset.sourceFingerprint,
        JSON.stringify(dataset.columns),
        profile ? JSON.stringify(profile) : null,
        dataset.derivedFrom ? JSON.stringify(dataset.derivedFrom) : null,
        now(),
      ],
    );
  }

  async getDataset(sha256: string): Promise<DatasetRecord | undefined> {
    const q = this.sql;
    const row = await q.get<Record<string, string | number | null>>('SELECT * FROM datasets WHERE sha256 = ?', [
      sha256,
    ]);
    if (!row) return undefined;
    const derivedFrom = parse<DatasetRef['derivedFrom']>(row.derived_from_json as string | null);
    return {
      sha256: String(row.sha256),
      uri: String(row.uri),
      bytes: 0,
      rows: Number(row.rows),
      source: JSON.parse(String(row.source_json)) as DatasetRecord['source'],
      sourceFingerprint: String(row.source_fingerprint),
      columns: JSON.parse(String(row.columns_json)) as DatasetRecord['columns'],
      ...(derivedFrom ? { derivedFrom } : {}),
      profile: parse<ArtifactRef>(row.profile_json as string | null),
      createdAt: String(row.created_at),
    };
  }

  async recordValidation(v: NewValidation): Promise<ValidationRecord> {
    return toValidation(
      await this.sql.transaction(async (q): Promise<ValidationRow> => {
        const existing = await q.get<ValidationRow>(
          'SELECT * FROM validations WHERE model = ? AND dataset_sha256 = ? AND workflow_id = ?',
          [v.model, v.datasetSha256, v.workflowId],
        );
        if (existing) return existing;
        const at = now();
        const { id: lastInsertRowid } = (await q.get<{ id: number }>(
          `INSERT INTO validations (model, dataset_sha256, outcome, trainable, contract_hash, report_json, html_json, profile_json,
             quarantine_json, training_dataset_sha256, decision, decided_by, reason, workflow_id, run_id, created_at, decided_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          [
            v.model,
            v.datasetSha256,
            v.outcome,
            v.trainable ? 1 : 0,
            v.contractHash,
            JSON.stringify(v.report),
            JSON.stringify(v.html),
            JSON.stringify(v.profile),
            v.quarantine ? JSON.stringify(v.quarantine) : null,
            v.trainingDatasetSha256,
            v.decision,
            v.decidedBy,
            v.reason,
            v.workflowId,
            v.runId,
            at,
            v.decision === 'quarantined' ? null : at,
          ],
        ))!;
        return (await q.get<ValidationRow>('SELECT * FROM validations WHERE id = ?', [lastInsertRowid]))!;
      }),
    );
  }

  async decideValidation(
    id: number,
    decision: ValidationDecision,
    by: string,
    reason: string,
  ): Promise<ValidationRecord> {
    return toValidation(
      await this.sql.transaction(async (q): Promise<ValidationRow> => {
        const row = await q.get<ValidationRow>('SELECT * FROM validations WHERE id = ?', [id]);
        if (!row) throw new NotFoundError(`validation ${id} does not exist`);
        if (row.decision === decision) return row;
        if (row.decision !== 'quarantined' || !FINAL_AFTER_QUARANTINE.includes(decision)) {
          throw new ConflictError(
            `validation ${id} of ${row.model} is already ${row.decision}; it cannot become ${decision}`,
          );
        }
        await q.run('UPDATE validations SET decision = ?, decided_by = ?, reason = ?, decided_at = ? WHERE id = ?', [
          decision,
          by,
          reason,
          now(),
          id,
        ]);
        await this.audit(q, {
          model: row.model,
          action: `batch-${decision}`,
          subject: { dataset: row.dataset_sha256, validation: id },
          identity: by,
          outcome: 'applied',
          detail: reason,
          workflowId: row.workflow_id,
        });
        return (await q.get<ValidationRow>('SELECT * FROM validations WHERE id = ?', [id]))!;
      }),
    );
  }

  async getValidation(id: number): Promise<ValidationRecord | undefined> {
    const q = this.sql;
    const row = await q.get<ValidationRow>('SELECT * FROM validations WHERE id = ?', [id]);
    return row && toValidation(row);
  }

  async listValidations(filter: {
    model?: string;
    decision?: ValidationDecision;
    dataset?: string;
  }): Promise<ValidationRecord[]> {
    const q = this.sql;
    const rows = await q.all<ValidationRow>(
      `SELECT * FROM validations
          WHERE (CAST(@model AS TEXT) IS NULL OR model = @model) AND (CAST(@decision AS TEXT) IS NULL OR decision = @decision)
            AND (CAST(@dataset AS TEXT) IS NULL OR dataset_sha256 = @dataset OR training_dataset_sha256 = @dataset)
          ORDER BY id`,
      {
        model: filter.model ?? null,
        decision: filter.decision ?? null,
        dataset: filter.dataset ?? null,
      },
    );
    return rows.map(toValidation);
  }

  async lastAccepted(model: string): Promise<ValidationRecord | undefined> {
    const q = this.sql;
    const row = await q.get<ValidationRow>(
      `SELECT * FROM validations WHERE model = ? AND decision IN ('accepted', 'released')
          ORDER BY COALESCE(decided_at, created_at) DESC, id DESC LIMIT 1`,
      [model],
    );
    return row && toValidation(row);
  }
}
