import type { Sql } from './sql';
import { ChampionChangedError, ConflictError, NotFoundError } from '../errors';
import type {
  AliasChange,
  AliasEvent,
  ApprovalRecord,
  ApprovalStatus,
  ChampionMove,
  ChampionMoveResult,
  LoadCheckRecord,
  ModelVersion,
  ModelVersionInput,
} from './types';
import { type ApprovalRow, type VersionRow, parse, toApproval, toVersion } from './rows';
import { now } from './sql-store';
import { DatasetStore } from './dataset-store';

/** Why a name cannot be a free-form alias (null: it can). */
export function aliasNameProblem(alias: string): string | null {
  if (alias === 'champion' || alias === 'previous') return `"${alias}" moves only by promotion or rollback`;
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(alias)) {
    return `alias "${alias}": lower-case letters, digits and dashes, starting with a letter`;
  }
  return null;
}

/** Model versions, their aliases (champion, previous, free-form) with history, load checks and approvals. */
export class VersionStore extends DatasetStore {
  async registerVersion(input: ModelVersionInput): Promise<ModelVersion> {
    return toVersion(
      await this.sql.transaction(async (q): Promise<VersionRow> => {
        const existing = await q.get<VersionRow>('SELECT * FROM model_versions WHERE model = ? AND workflow_id = ?', [
          input.model,
          input.workflowId,
        ]);
        if (existing) return existing;
        // another run already registered a model from this exact batch and spec: that version stands
        const sameLineage = await q.get<VersionRow>(
          `SELECT * FROM model_versions WHERE model = ? AND spec_hash = ?
             AND COALESCE(source_dataset_sha256, dataset_sha256) = ? ORDER BY version LIMIT 1`,
          [input.model, input.specHash, input.lineage.sourceDataset],
        );
        if (sameLineage) return sameLineage;
        await this.insertDataset(q, input.dataset, null);
        const { next } = (await q.get<{ next: number }>(
          'SELECT COALESCE(MAX(version), 0) + 1 AS next FROM model_versions WHERE model = ?',
          [input.model],
        ))!;
        await q.run(
          `INSERT INTO model_versions (model, version, artifact_uri, artifact_sha256, artifact_bytes, task, spec_hash,
             spec_json, dataset_sha256, source_dataset_sha256, lineage_json, code_version, backend, seed, workflow_id,
             run_id, metrics_json, training_json, evaluation_json, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            input.model,
            next,
            input.artifact.uri,
            input.artifact.sha256,
            input.artifact.bytes,
            input.task,
            input.specHash,
            JSON.stringify(input.spec),
            input.dataset.sha256,
            input.lineage.sourceDataset,
            JSON.stringify(input.lineage),
            input.codeVersion,
            input.backend,
            input.seed,
            input.workflowId,
            input.runId,
            JSON.stringify(input.metrics),
            JSON.stringify(input.training),
            JSON.stringify(input.evaluation),
            now(),
          ],
        );
        return (await q.get<VersionRow>('SELECT * FROM model_versions WHERE model = ? AND version = ?', [
          input.model,
          next,
        ]))!;
      }),
    );
  }

  async getVersion(model: string, version: number): Promise<ModelVersion | undefined> {
    const q = this.sql;
    const row = await q.get<VersionRow>('SELECT * FROM model_versions WHERE model = ? AND version = ?', [
      model,
      version,
    ]);
    return row && toVersion(row);
  }

  async listVersions(model: string): Promise<ModelVersion[]> {
    const q = this.sql;
    const rows = await q.all<VersionRow>('SELECT * FROM model_versions WHERE model = ? ORDER BY version', [model]);
    return rows.map(toVersion);
  }

  async listModels(): Promise<{ model: string; versions: number; champion: number | null }[]> {
    const q = this.sql;
    return await q.all<{ model: string; versions: number; champion: number | null }>(
      `SELECT v.model AS model, COUNT(*) AS versions,
                (SELECT version FROM aliases a WHERE a.model = v.model AND a.alias = 'champion') AS champion
           FROM model_versions v GROUP BY v.model ORDER BY v.model`,
      [],
    );
  }

  async findTrained(model: string, datasetSha256: string, specHash: string): Promise<ModelVersion | undefined> {
    const q = this.sql;
    const row = await q.get<VersionRow>(
      `SELECT * FROM model_versions WHERE model = ? AND spec_hash = ?
           AND (dataset_sha256 = ? OR source_dataset_sha256 = ?) ORDER BY version LIMIT 1`,
      [model, specHash, datasetSha256, datasetSha256],
    );
    return row && toVersion(row);
  }

  async modelsTrainedOn(datasetSha256: string): Promise<ModelVersion[]> {
    const q = this.sql;
    const rows = await q.all<VersionRow>(
      'SELECT * FROM model_versions WHERE dataset_sha256 = ? OR source_dataset_sha256 = ? ORDER BY model, version',
      [datasetSha256, datasetSha256],
    );
    return rows.map(toVersion);
  }

  async alias(model: string, alias: string): Promise<number | null> {
    const q = this.sql;
    const row = await q.get<{ version: number }>('SELECT version FROM aliases WHERE model = ? AND alias = ?', [
      model,
      alias,
    ]);
    return row?.version ?? null;
  }

  async aliases(model: string): Promise<Record<string, number>> {
    const q = this.sql;
    const rows = await q.all<{ alias: string; version: number }>(
      'SELECT alias, version FROM aliases WHERE model = ? ORDER BY alias',
      [model],
    );
    return Object.fromEntries(rows.map((r) => [r.alias, r.version]));
  }

  private async currentAlias(q: Sql, model: string, alias: string): Promise<number | null> {
    const row = await q.get<{ version: number }>('SELECT version FROM aliases WHERE model = ? AND alias = ?', [
      model,
      alias,
    ]);
    return row?.version ?? null;
  }

  /** Point an alias at a version (or remove it) and append the history row, inside the caller's transaction. */
  private async writeAlias(
    q: Sql,

    request: { model: string; actor: string; reason: string; requestId: string; workflowId?: string; runId?: string },
    alias: string,
    from: number | null,
    to: number | null,
    at: string,
  ): Promise<void> {
    if (to === null) {
      await q.run('DELETE FROM aliases WHERE model = ? AND alias = ?', [request.model, alias]);
    } else {
      await q.run(
        `INSERT INTO aliases (model, alias, version, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
        [request.model, alias, to, at],
      );
    }
    await q.run(
      `INSERT INTO alias_events (model, alias, from_version, to_version, actor, reason, workflow_id, run_id, request_id, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        request.model,
        alias,
        from,
        to,
        request.actor,
        request.reason,
        request.workflowId ?? null,
        request.runId ?? null,
        request.requestId,
        at,
      ],
    );
    // "previous" follows "champion" in the same move: one audit row says both
    if (alias === 'previous') return;
    await this.audit(q, {
      model: request.model,
      action: `alias-${alias}`,
      subject: { from, to },
      identity: request.actor,
      outcome: 'applied',
      detail: request.reason,
      workflowId: request.workflowId ?? null,
    });
  }

  async moveChampion(move: ChampionMove): Promise<ChampionMoveResult> {
    return await this.sql.transaction(async (q): Promise<ChampionMoveResult> => {
      const champion = await this.currentAlias(q, move.model, 'champion');
      const done = await q.get<{ model: string; from_version: number | null; to_version: number }>(
        "SELECT model, from_version, to_version FROM alias_events WHERE request_id = ? AND alias = 'champion'",
        [move.requestId],
      );
      if (done) {
        // the same request again is a no-op; the same key for another move must not pass for it
        if (done.model !== move.model || (typeof move.to === 'number' && move.to !== done.to_version)) {
          throw new ConflictError(
            `request id "${move.requestId}" already moved the champion of ${done.model} to v${done.to_version}; ` +
              `a ${move.kind} of ${move.model}${typeof move.to === 'number' ? ` to v${move.to}` : ''} needs a request id of its own`,
          );
        }
        return { changed: false, champion: done.to_version, previous: done.from_version };
      }
      const target = move.to === 'previous' ? await this.currentAlias(q, move.model, 'previous') : move.to;
      if (target === null) throw new NotFoundError(`${move.model} has no previous champion to roll back to`);
      if (champion === target) {
        return { changed: false, champion, previous: await this.currentAlias(q, move.model, 'previous') };
      }
      if (move.expectedChampion !== 'any' && champion !== move.expectedChampion) {
        throw new ChampionChangedError(
          `${move.model}: champion is v${champion ?? 'none'}, but the ${move.kind} to v${target} was decided against v${move.expectedChampion ?? 'none'}`,
          { champion, expected: move.expectedChampion },
        );
      }
      const row = await q.get<{ load_check_json: string | null }>(
        'SELECT load_check_json FROM model_versions WHERE model = ? AND version = ?',
        [move.model, target],
      );
      if (!row) throw new NotFoundError(`${move.model} v${target} is not registered`);
      const loadCheck = parse<LoadCheckRecord>(row.load_check_json);
      if (move.requireLoadCheck && !loadCheck?.passed) {
        throw new ConflictError(
          `${move.model} v${target} cannot become champion: ${loadCheck ? `its load check failed (${loadCheck.detail})` : 'it has never passed a load check'}`,
        );
      }
      const at = now();
      if (champion !== null)
        await this.writeAlias(q, move, 'previous', await this.currentAlias(q, move.model, 'previous'), champion, at);
      await this.writeAlias(q, move, 'champion', champion, target, at);
      return { changed: true, champion: target, previous: champion };
    });
  }

  async setAlias(change: AliasChange): Promise<void> {
    const problem = aliasNameProblem(change.alias);
    if (problem) throw new ConflictError(problem);
    await this.sql.transaction(async (q): Promise<void> => {
      const done = await q.get<{ model: string; to_version: number | null }>(
        'SELECT model, to_version FROM alias_events WHERE request_id = ? AND alias = ?',
        [change.requestId, change.alias],
      );
      if (done) {
        if (done.model !== change.model || done.to_version !== change.version) {
          throw new ConflictError(
            `request id "${change.requestId}" already set ${done.model}'s "${change.alias}" to ` +
              `${done.to_version === null ? 'nothing' : `v${done.to_version}`}; this change needs a request id of its own`,
          );
        }
        return;
      }
      if (
        change.version !== null &&
        !(await q.get('SELECT 1 FROM model_versions WHERE model = ? AND version = ?', [change.model, change.version]))
      ) {
        throw new NotFoundError(`${change.model} v${change.version} is not registered`);
      }
      const from = await this.currentAlias(q, change.model, change.alias);
      if (from === change.version) return;
      await this.writeAlias(q, change, change.alias, from, change.version, now());
    });
  }

  async aliasAt(model: string, alias: string, at: string): Promise<number | null> {
    const q = this.sql;
    const row = await q.get<{ to_version: number | null }>(
      'SELECT to_version FROM alias_events WHERE model = ? AND alias = ? AND at <= ? ORDER BY at DESC, id DESC LIMIT 1',
      [model, alias, at],
    );
    return row?.to_version ?? null;
  }

  async recordLoadCheck(model: string, version: number, result: LoadCheckRecord): Promise<void> {
    const q = this.sql;
    const changed = (
      await q.run('UPDATE model_versions SET load_check_json = ? WHERE model = ? AND version = ?', [
        JSON.stringify(result),
        model,
        version,
      ])
    ).changes;
    if (changed === 0) throw new NotFoundError(`${model} v${version} is not registered`);
  }

  async requestApproval(
    request: Pick<ApprovalRecord, 'model' | 'version' | 'artifactSha256' | 'workflowId' | 'runId'>,
  ): Promise<ApprovalRecord> {
    return toApproval(
      await this.sql.transaction(async (q): Promise<ApprovalRow> => {
        const existing = await q.get<ApprovalRow>(
          'SELECT * FROM approvals WHERE model = ? AND version = ? AND workflow_id = ?',
          [request.model, request.version, request.workflowId],
        );
        if (existing) return existing;
        const { id: lastInsertRowid } = (await q.get<{ id: number }>(
          `INSERT INTO approvals (model, version, artifact_sha256, workflow_id, run_id, status, requested_at)
           VALUES (?, ?, ?, ?, ?, 'pending', ?) RETURNING id`,
          [request.model, request.version, request.artifactSha256, request.workflowId, request.runId, now()],
        ))!;
        return (await q.get<ApprovalRow>('SELECT * FROM approvals WHERE id = ?', [lastInsertRowid]))!;
      }),
    );
  }

  async decideApproval(
    id: number,
    status: Exclude<ApprovalStatus, 'pending'>,
    by: string,
    comment: string,
  ): Promise<ApprovalRecord> {
    return toApproval(
      await this.sql.transaction(async (q): Promise<ApprovalRow> => {
        const row = await q.get<ApprovalRow>('SELECT * FROM approvals WHERE id = ?', [id]);
        if (!row) throw new NotFoundError(`approval ${id} does not exist`);
        if (row.status === status) return row;
        if (row.status !== 'pending') {
          throw new ConflictError(`approval ${id} of ${row.model} v${row.version} is already ${row.status}`);
        }
        await q.run('UPDATE approvals SET status = ?, decided_by = ?, comment = ?, decided_at = ? WHERE id = ?', [
          status,
          by,
          comment,
          now(),
          id,
        ]);
        await this.audit(q, {
          model: row.model,
          action: `candidate-${status}`,
          subject: { version: row.version, artifactSha256: row.artifact_sha256 },
          identity: by,
          outcome: 'applied',
          detail: comment,
          workflowId: row.workflow_id,
        });
        return (await q.get<ApprovalRow>('SELECT * FROM approvals WHERE id = ?', [id]))!;
      }),
    );
  }

  async listApprovals(filter: {
    model?: string;
    status?: ApprovalStatus;
    version?: number;
  }): Promise<ApprovalRecord[]> {
    const q = this.sql;
    const rows = await q.all<ApprovalRow>(
      `SELECT * FROM approvals WHERE (CAST(@model AS TEXT) IS NULL OR model = @model) AND (CAST(@status AS TEXT) IS NULL OR status = @status)
           AND (CAST(@version AS INTEGER) IS NULL OR version = @version) ORDER BY id`,
      {
        model: filter.model ?? null,
        status: filter.status ?? null,
        version: filter.version ?? null,
      },
    );
    return rows.map(toApproval);
  }

  async aliasHistory(model: string): Promise<AliasEvent[]> {
    const q = this.sql;
    const rows = await q.all<Record<string, string | number | null>>(
      'SELECT * FROM alias_events WHERE model = ? ORDER BY id',
      [model],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      model: String(r.model),
      alias: String(r.alias),
      fromVersion: r.from_version === null ? null : Number(r.from_version),
      toVersion: r.to_version === null ? null : Number(r.to_version),
      actor: String(r.actor),
      reason: String(r.reason),
      workflowId: r.workflow_id === null ? null : String(r.workflow_id),
      runId: r.run_id === null ? null : String(r.run_id),
      requestId: String(r.request_id),
      at: String(r.at),
    }));
  }
}
