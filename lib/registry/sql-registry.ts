import type { Sql, SqlDatabase } from './sql';
import { policySha256, type ModelPolicy, type RegisteredModelPolicy } from '../access/model-policy';
import type { ServingInstance, ServingPolicy, ServingPolicyRecord } from '../serving/policy';
import type { DatasetRef } from '../data/snapshot';
import type { ArtifactRef } from '../artifacts';
import { ChampionChangedError, ConflictError, NotFoundError } from '../errors';
import type {
  AccessKey,
  AuditEvent,
  NewAuditEvent,
  NewModelPolicy,
  StandingGrant,
  MonitorActionRecord,
  ScheduleRunRecord,
  MonitorReportRecord,
  AlertRecord,
  AliasChange,
  AliasEvent,
  ApprovalRecord,
  ApprovalStatus,
  ChampionMove,
  ChampionMoveResult,
  LoadCheckRecord,
  DatasetRecord,
  ModelVersion,
  ModelVersionInput,
  NewValidation,
  Registry,
  ValidationDecision,
  ValidationRecord,
  VersionLineage,
} from './types';

/** Schema migrations, applied in order (SQLite: PRAGMA user_version; PostgreSQL: lumen_migrations counts them). */
export const MIGRATIONS = [
  `CREATE TABLE datasets (
     sha256 TEXT PRIMARY KEY,
     uri TEXT NOT NULL,
     rows INTEGER NOT NULL,
     source_json TEXT NOT NULL,
     source_fingerprint TEXT NOT NULL,
     columns_json TEXT NOT NULL,
     validation_json TEXT,
     created_at TEXT NOT NULL
   );
   CREATE TABLE model_versions (
     model TEXT NOT NULL,
     version INTEGER NOT NULL,
     artifact_uri TEXT NOT NULL,
     artifact_sha256 TEXT NOT NULL,
     artifact_bytes INTEGER NOT NULL,
     task TEXT NOT NULL,
     spec_hash TEXT NOT NULL,
     spec_json TEXT NOT NULL,
     dataset_sha256 TEXT NOT NULL REFERENCES datasets(sha256),
     code_version TEXT NOT NULL,
     backend TEXT NOT NULL,
     seed INTEGER NOT NULL,
     workflow_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     metrics_json TEXT NOT NULL,
     training_json TEXT NOT NULL,
     evaluation_json TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (model, version),
     UNIQUE (model, workflow_id)
   );
   CREATE INDEX model_versions_dataset ON model_versions(dataset_sha256);
   CREATE TABLE aliases (
     model TEXT NOT NULL,
     alias TEXT NOT NULL,
     version INTEGER NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (model, alias),
     FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
   );
   CREATE TABLE alias_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     alias TEXT NOT NULL,
     from_version INTEGER,
     to_version INTEGER,
     actor TEXT NOT NULL,
     reason TEXT NOT NULL,
     workflow_id TEXT,
     run_id TEXT,
     request_id TEXT NOT NULL,
     at TEXT NOT NULL,
     UNIQUE (request_id, alias)
   );
   CREATE INDEX alias_events_model ON alias_events(model, at);`,
  `ALTER TABLE datasets ADD COLUMN profile_json TEXT;
   ALTER TABLE datasets ADD COLUMN derived_from_json TEXT;
   ALTER TABLE model_versions ADD COLUMN source_dataset_sha256 TEXT;
   ALTER TABLE model_versions ADD COLUMN lineage_json TEXT;
   CREATE INDEX model_versions_source ON model_versions(source_dataset_sha256);
   CREATE TABLE validations (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     dataset_sha256 TEXT NOT NULL REFERENCES datasets(sha256),
     outcome TEXT NOT NULL,
     trainable INTEGER NOT NULL,
     contract_hash TEXT NOT NULL,
     report_json TEXT NOT NULL,
     html_json TEXT NOT NULL,
     profile_json TEXT NOT NULL,
     quarantine_json TEXT,
     training_dataset_sha256 TEXT NOT NULL,
     decision TEXT NOT NULL,
     decided_by TEXT,
     reason TEXT,
     workflow_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     created_at TEXT NOT NULL,
     decided_at TEXT,
     UNIQUE (model, dataset_sha256, workflow_id)
   );
   CREATE INDEX validations_model ON validations(model, decision);
   CREATE TABLE alerts (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     severity TEXT NOT NULL,
     kind TEXT NOT NULL,
     message TEXT NOT NULL,
     details_json TEXT NOT NULL,
     workflow_id TEXT,
     run_id TEXT,
     dedupe_key TEXT UNIQUE,
     at TEXT NOT NULL
   );
   CREATE INDEX alerts_model ON alerts(model, at);`,
  `ALTER TABLE model_versions ADD COLUMN load_check_json TEXT;
   CREATE TABLE approvals (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     version INTEGER NOT NULL,
     artifact_sha256 TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     status TEXT NOT NULL,
     requested_at TEXT NOT NULL,
     decided_by TEXT,
     comment TEXT,
     decided_at TEXT,
     UNIQUE (model, version, workflow_id),
     FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
   );
   CREATE INDEX approvals_status ON approvals(status, model);
   CREATE INDEX alias_events_at ON alias_events(model, alias, at);`,
  `CREATE TABLE serving_policies (
     model TEXT PRIMARY KEY,
     policy_json TEXT NOT NULL,
     updated_by TEXT NOT NULL,
     reason TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE serving_instances (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     last_seen TEXT NOT NULL
   );`,
  `CREATE TABLE monitor_reports (
     id INTEGER PRIMARY KEY,
     model TEXT NOT NULL,
     champion INTEGER,
     window_from TEXT NOT NULL,
     window_to TEXT NOT NULL,
     at TEXT NOT NULL,
     report_uri TEXT NOT NULL,
     report_sha256 TEXT NOT NULL,
     report_bytes INTEGER NOT NULL,
     summary_json TEXT NOT NULL,
     UNIQUE (model, window_from, window_to)
   );
   CREATE INDEX monitor_reports_by_time ON monitor_reports (model, window_to);
   CREATE TABLE monitor_actions (
     id INTEGER PRIMARY KEY,
     model TEXT NOT NULL,
     kind TEXT NOT NULL,
     trigger TEXT NOT NULL,
     by TEXT NOT NULL,
     reason TEXT NOT NULL,
     evidence_json TEXT NOT NULL,
     result_json TEXT NOT NULL,
     workflow_id TEXT,
     dedupe_key TEXT NOT NULL UNIQUE,
     at TEXT NOT NULL
   );
   CREATE INDEX monitor_actions_by_model ON monitor_actions (model, id);`,
  `CREATE TABLE schedule_runs (
     id INTEGER PRIMARY KEY,
     schedule_id TEXT NOT NULL,
     model TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     ok INTEGER NOT NULL,
     detail TEXT NOT NULL,
     at TEXT NOT NULL,
     UNIQUE (schedule_id, workflow_id)
   );`,
  `CREATE TABLE access_keys (
     key_id TEXT PRIMARY KEY,
     person TEXT NOT NULL,
     public_key_pem TEXT NOT NULL,
     added_at TEXT NOT NULL,
     added_by TEXT NOT NULL,
     revoked_at TEXT,
     revoked_by TEXT,
     revoke_reason TEXT
   );
   CREATE TABLE decision_nonces (
     nonce TEXT PRIMARY KEY,
     key_id TEXT NOT NULL,
     context TEXT NOT NULL,
     at TEXT NOT NULL
   );
   CREATE TABLE audit_events (
     id INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     model TEXT NOT NULL,
     action TEXT NOT NULL,
     subject_json TEXT NOT NULL,
     identity TEXT NOT NULL,
     proof TEXT NOT NULL,
     key_id TEXT,
     outcome TEXT NOT NULL,
     detail TEXT NOT NULL,
     workflow_id TEXT
   );
   CREATE INDEX audit_events_by_model ON audit_events (model, at);`,
  `CREATE TABLE model_policies (
     model TEXT NOT NULL,
     version INTEGER NOT NULL,
     policy_json TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     set_by TEXT NOT NULL,
     proof TEXT NOT NULL,
     reason TEXT NOT NULL,
     at TEXT NOT NULL,
     PRIMARY KEY (model, version)
   );
   CREATE TABLE standing_grants (
     kind TEXT NOT NULL,
     id TEXT NOT NULL,
     model TEXT NOT NULL,
     content_sha256 TEXT NOT NULL,
     granted_by TEXT NOT NULL,
     proof TEXT NOT NULL,
     at TEXT NOT NULL,
     revoked_at TEXT,
     revoked_by TEXT,
     PRIMARY KEY (kind, id)
   );`,
];

interface VersionRow {
  model: string;
  version: number;
  artifact_uri: string;
  artifact_sha256: string;
  artifact_bytes: number;
  task: ModelVersion['task'];
  spec_hash: string;
  spec_json: string;
  dataset_sha256: string;
  source_dataset_sha256: string | null;
  lineage_json: string | null;
  code_version: string;
  backend: string;
  seed: number;
  workflow_id: string;
  run_id: string;
  metrics_json: string;
  training_json: string;
  evaluation_json: string;
  load_check_json: string | null;
  created_at: string;
}

interface ApprovalRow {
  id: number;
  model: string;
  version: number;
  artifact_sha256: string;
  workflow_id: string;
  run_id: string;
  status: ApprovalStatus;
  requested_at: string;
  decided_by: string | null;
  comment: string | null;
  decided_at: string | null;
}

function toApproval(r: ApprovalRow): ApprovalRecord {
  return {
    id: r.id,
    model: r.model,
    version: r.version,
    artifactSha256: r.artifact_sha256,
    workflowId: r.workflow_id,
    runId: r.run_id,
    status: r.status,
    requestedAt: r.requested_at,
    decidedBy: r.decided_by,
    comment: r.comment,
    decidedAt: r.decided_at,
  };
}

interface PolicyRow {
  model: string;
  version: number;
  policy_json: string;
  sha256: string;
  set_by: string;
  proof: RegisteredModelPolicy['proof'];
  reason: string;
  at: string;
}

function toPolicy(r: PolicyRow): RegisteredModelPolicy {
  return {
    model: r.model,
    version: Number(r.version),
    policy: JSON.parse(r.policy_json) as ModelPolicy,
    sha256: r.sha256,
    setBy: r.set_by,
    proof: r.proof,
    reason: r.reason,
    at: r.at,
  };
}

const parse = <T>(json: string | null): T | null => (json === null ? null : (JSON.parse(json) as T));

function toVersion(row: VersionRow): ModelVersion {
  return {
    model: row.model,
    version: row.version,
    artifact: { uri: row.artifact_uri, sha256: row.artifact_sha256, bytes: row.artifact_bytes },
    task: row.task,
    spec: JSON.parse(row.spec_json) as ModelVersion['spec'],
    specHash: row.spec_hash,
    datasetSha256: row.dataset_sha256,
    lineage: parse<VersionLineage>(row.lineage_json) ?? legacyLineage(row),
    codeVersion: row.code_version,
    backend: row.backend,
    seed: row.seed,
    workflowId: row.workflow_id,
    runId: row.run_id,
    metrics: JSON.parse(row.metrics_json) as ModelVersion['metrics'],
    training: JSON.parse(row.training_json) as ModelVersion['training'],
    evaluation: JSON.parse(row.evaluation_json) as ModelVersion['evaluation'],
    createdAt: row.created_at,
    loadCheck: parse<LoadCheckRecord>(row.load_check_json),
  };
}

/** Versions registered before validation lineage existed (schema v1) carry only their dataset. */
function legacyLineage(row: VersionRow): VersionLineage {
  const none = { uri: 'none:', sha256: '0'.repeat(64), bytes: 0 };
  return {
    sourceDataset: row.dataset_sha256,
    contractHash: 'unknown',
    validation: {
      id: 0,
      outcome: 'pass',
      decision: 'accepted',
      decidedBy: null,
      reason: null,
      report: none,
      html: none,
      profile: none,
      quarantine: null,
    },
  };
}

interface ValidationRow {
  id: number;
  model: string;
  dataset_sha256: string;
  outcome: ValidationRecord['outcome'];
  trainable: number;
  contract_hash: string;
  report_json: string;
  html_json: string;
  profile_json: string;
  quarantine_json: string | null;
  training_dataset_sha256: string;
  decision: ValidationDecision;
  decided_by: string | null;
  reason: string | null;
  workflow_id: string;
  run_id: string;
  created_at: string;
  decided_at: string | null;
}

function toValidation(r: ValidationRow): ValidationRecord {
  return {
    id: r.id,
    model: r.model,
    datasetSha256: r.dataset_sha256,
    outcome: r.outcome,
    trainable: r.trainable === 1,
    contractHash: r.contract_hash,
    report: JSON.parse(r.report_json) as ArtifactRef,
    html: JSON.parse(r.html_json) as ArtifactRef,
    profile: JSON.parse(r.profile_json) as ArtifactRef,
    quarantine: parse<ArtifactRef>(r.quarantine_json),
    trainingDatasetSha256: r.training_dataset_sha256,
    decision: r.decision,
    decidedBy: r.decided_by,
    reason: r.reason,
    workflowId: r.workflow_id,
    runId: r.run_id,
    createdAt: r.created_at,
    decidedAt: r.decided_at,
  };
}

export const now = (): string => new Date().toISOString();

/** Why a name cannot be a free-form alias (null: it can). */
export function aliasNameProblem(alias: string): string | null {
  if (alias === 'champion' || alias === 'previous') return `"${alias}" moves only by promotion or rollback`;
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(alias)) {
    return `alias "${alias}": lower-case letters, digits and dashes, starting with a letter`;
  }
  return null;
}

function toKey(r: Record<string, string | null>): AccessKey {
  return {
    keyId: String(r.key_id),
    person: String(r.person),
    publicKeyPem: String(r.public_key_pem),
    addedAt: String(r.added_at),
    addedBy: String(r.added_by),
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
    revokeReason: r.revoke_reason,
  };
}

function toAlert(r: Record<string, string | number | null>): AlertRecord {
  return {
    id: Number(r.id),
    model: String(r.model),
    severity: r.severity as AlertRecord['severity'],
    kind: String(r.kind),
    message: String(r.message),
    details: JSON.parse(String(r.details_json)) as Record<string, unknown>,
    workflowId: r.workflow_id === null ? null : String(r.workflow_id),
    runId: r.run_id === null ? null : String(r.run_id),
    key: r.dedupe_key === null ? undefined : String(r.dedupe_key),
    at: String(r.at),
  };
}

/** Decisions that end a quarantine; a batch can move from "quarantined" to one of these, once. */
const FINAL_AFTER_QUARANTINE: ValidationDecision[] = ['released', 'discarded', 'rejected'];

/**
 * The registry's logic, once, over a SQL database: SQLite (embedded, one host) or PostgreSQL (several hosts). Every
 * write that must be atomic (version numbering, alias moves with their history rows) is one transaction that
 * holds the database's write lock from its start.
 */
export class SqlRegistry implements Registry {
  constructor(protected readonly sql: SqlDatabase) {}

  async recordDataset(dataset: DatasetRef, profile: ArtifactRef | null): Promise<void> {
    const q = this.sql;
    await this.insertDataset(q, dataset, profile);
  }

  private async insertDataset(q: Sql, dataset: DatasetRef, profile: ArtifactRef | null): Promise<void> {
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

  async recordAlert(alert: Omit<AlertRecord, 'id' | 'at'>): Promise<AlertRecord> {
    return toAlert(
      await this.sql.transaction(async (q): Promise<Record<string, string | number | null>> => {
        if (alert.key) {
          const existing = await q.get<Record<string, string | number | null>>(
            'SELECT * FROM alerts WHERE dedupe_key = ?',
            [alert.key],
          );
          if (existing) return existing;
        }
        const { id: lastInsertRowid } = (await q.get<{ id: number }>(
          `INSERT INTO alerts (model, severity, kind, message, details_json, workflow_id, run_id, dedupe_key, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          [
            alert.model,
            alert.severity,
            alert.kind,
            alert.message,
            JSON.stringify(alert.details),
            alert.workflowId,
            alert.runId,
            alert.key ?? null,
            now(),
          ],
        ))!;
        return (await q.get<Record<string, string | number | null>>('SELECT * FROM alerts WHERE id = ?', [
          lastInsertRowid,
        ]))!;
      }),
    );
  }

  async listAlerts(model?: string, limit = 100): Promise<AlertRecord[]> {
    const q = this.sql;
    const rows = await q.all<Record<string, string | number | null>>(
      'SELECT * FROM alerts WHERE (CAST(@model AS TEXT) IS NULL OR model = @model) ORDER BY id DESC LIMIT @limit',
      { model: model ?? null, limit },
    );
    return rows.map(toAlert);
  }

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

  async servingPolicy(model: string): Promise<ServingPolicyRecord | null> {
    const q = this.sql;
    const row = await q.get<{
      model: string;
      policy_json: string;
      updated_by: string;
      reason: string;
      updated_at: string;
    }>('SELECT * FROM serving_policies WHERE model = ?', [model]);
    return row
      ? {
          model: row.model,
          policy: JSON.parse(row.policy_json) as ServingPolicy,
          updatedBy: row.updated_by,
          reason: row.reason,
          updatedAt: row.updated_at,
        }
      : null;
  }

  async setServingPolicy(model: string, policy: ServingPolicy, actor: string, reason: string): Promise<void> {
    const q = this.sql;
    await q.run(
      `INSERT INTO serving_policies (model, policy_json, updated_by, reason, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (model) DO UPDATE SET policy_json = excluded.policy_json, updated_by = excluded.updated_by,
           reason = excluded.reason, updated_at = excluded.updated_at`,
      [model, JSON.stringify(policy), actor, reason, now()],
    );
  }

  /** One audit row, inside the caller's transaction when there is one. */
  private async audit(
    q: Sql,
    e: Omit<NewAuditEvent, 'proof' | 'keyId'> & Partial<Pick<NewAuditEvent, 'proof' | 'keyId'>>,
  ): Promise<AuditEvent> {
    const at = e.at ?? now();
    const { id } = (await q.get<{ id: number }>(
      `INSERT INTO audit_events (at, model, action, subject_json, identity, proof, key_id, outcome, detail, workflow_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [
        at,
        e.model,
        e.action,
        JSON.stringify(e.subject),
        e.identity,
        e.proof ?? 'system',
        e.keyId ?? null,
        e.outcome,
        e.detail,
        e.workflowId,
      ],
    ))!;
    return { ...e, id: Number(id), at, proof: e.proof ?? 'system', keyId: e.keyId ?? null };
  }

  async recordAudit(event: NewAuditEvent): Promise<AuditEvent> {
    const q = this.sql;
    return await this.audit(q, event);
  }

  async listAudit(filter: { model?: string; since?: string; limit?: number }): Promise<AuditEvent[]> {
    const q = this.sql;
    const rows = await q.all<Record<string, string | number | null>>(
      `SELECT * FROM (SELECT * FROM audit_events WHERE (CAST(? AS TEXT) IS NULL OR model = ? OR model = '*') AND at >= ?
           ORDER BY at DESC, id DESC LIMIT ?) AS recent ORDER BY at, id`,
      [filter.model ?? null, filter.model ?? null, filter.since ?? '', filter.limit ?? 1000],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      at: String(r.at),
      model: String(r.model),
      action: String(r.action),
      subject: JSON.parse(String(r.subject_json)) as Record<string, unknown>,
      identity: String(r.identity),
      proof: r.proof as AuditEvent['proof'],
      keyId: r.key_id === null ? null : String(r.key_id),
      outcome: r.outcome as AuditEvent['outcome'],
      detail: String(r.detail),
      workflowId: r.workflow_id === null ? null : String(r.workflow_id),
    }));
  }

  async addKey(key: Pick<AccessKey, 'keyId' | 'person' | 'publicKeyPem' | 'addedBy'>): Promise<AccessKey> {
    return await this.sql.transaction(async (q): Promise<AccessKey> => {
      const existing = await this.keyRow(q, key.keyId);
      if (existing) {
        if (existing.person !== key.person) {
          throw new ConflictError(`key ${key.keyId} is already registered to ${existing.person}`);
        }
        return existing;
      }
      const at = now();
      await q.run(
        'INSERT INTO access_keys (key_id, person, public_key_pem, added_at, added_by) VALUES (?, ?, ?, ?, ?)',
        [key.keyId, key.person, key.publicKeyPem, at, key.addedBy],
      );
      await this.audit(q, {
        model: '*',
        action: 'key-added',
        subject: { keyId: key.keyId, person: key.person },
        identity: key.addedBy,
        outcome: 'applied',
        detail: `key ${key.keyId} of ${key.person}`,
        workflowId: null,
      });
      return (await this.keyRow(q, key.keyId))!;
    });
  }

  private async keyRow(q: Sql, keyId: string): Promise<AccessKey | undefined> {
    const r = await q.get<Record<string, string | null>>('SELECT * FROM access_keys WHERE key_id = ?', [keyId]);
    return r && toKey(r);
  }

  async getKey(keyId: string): Promise<AccessKey | undefined> {
    const q = this.sql;
    return await this.keyRow(q, keyId);
  }

  async listKeys(): Promise<AccessKey[]> {
    const q = this.sql;
    const rows = await q.all<Record<string, string | null>>('SELECT * FROM access_keys ORDER BY person, added_at', []);
    return rows.map(toKey);
  }

  async revokeKey(keyId: string, by: string, reason: string): Promise<AccessKey> {
    return await this.sql.transaction(async (q): Promise<AccessKey> => {
      const key = await this.keyRow(q, keyId);
      if (!key) throw new NotFoundError(`no key ${keyId} is registered (see: lumen keys list)`);
      if (key.revokedAt) return key;
      await q.run('UPDATE access_keys SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE key_id = ?', [
        now(),
        by,
        reason,
        keyId,
      ]);
      await this.audit(q, {
        model: '*',
        action: 'key-revoked',
        subject: { keyId, person: key.person },
        identity: by,
        outcome: 'applied',
        detail: reason,
        workflowId: null,
      });
      return (await this.keyRow(q, keyId))!;
    });
  }

  async modelPolicy(model: string): Promise<RegisteredModelPolicy | null> {
    const row = await this.sql.get<PolicyRow>(
      'SELECT * FROM model_policies WHERE model = ? ORDER BY version DESC LIMIT 1',
      [model],
    );
    return row ? toPolicy(row) : null;
  }

  async modelPolicyHistory(model: string): Promise<RegisteredModelPolicy[]> {
    const rows = await this.sql.all<PolicyRow>('SELECT * FROM model_policies WHERE model = ? ORDER BY version', [
      model,
    ]);
    return rows.map(toPolicy);
  }

  async registerModelPolicy(entry: NewModelPolicy): Promise<RegisteredModelPolicy> {
    return await this.sql.transaction(async (q): Promise<RegisteredModelPolicy> => {
      const latest = await q.get<PolicyRow>(
        'SELECT * FROM model_policies WHERE model = ? ORDER BY version DESC LIMIT 1',
        [entry.model],
      );
      const current = latest ? toPolicy(latest) : null;
      if ((current?.version ?? 0) !== entry.expectedVersion) {
        throw new ConflictError(
          current
            ? `the policy of ${entry.model} is at v${current.version} (set by ${current.setBy} at ${current.at}), not v${entry.expectedVersion}: read it again (lumen policy show ${entry.model})`
            : `${entry.model} has no registered policy yet, not v${entry.expectedVersion}`,
        );
      }
      const sha256 = policySha256(entry.policy);
      if (current && current.sha256 === sha256) return current;
      const version = (current?.version ?? 0) + 1;
      const at = now();
      await q.run(
        `INSERT INTO model_policies (model, version, policy_json, sha256, set_by, proof, reason, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [entry.model, version, JSON.stringify(entry.policy), sha256, entry.setBy, entry.proof, entry.reason, at],
      );
      await this.audit(q, {
        model: entry.model,
        action: 'policy-registered',
        subject: { version, sha256 },
        identity: entry.setBy,
        proof: entry.proof,
        outcome: 'applied',
        detail: entry.reason,
        workflowId: entry.workflowId,
      });
      return toPolicy(
        (await q.get<PolicyRow>('SELECT * FROM model_policies WHERE model = ? AND version = ?', [
          entry.model,
          version,
        ]))!,
      );
    });
  }

  async grant(entry: Omit<StandingGrant, 'at' | 'revokedAt' | 'revokedBy'>): Promise<StandingGrant> {
    return await this.sql.transaction(async (q): Promise<StandingGrant> => {
      await q.run(
        `INSERT INTO standing_grants (kind, id, model, content_sha256, granted_by, proof, at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (kind, id) DO UPDATE SET model = excluded.model, content_sha256 = excluded.content_sha256,
             granted_by = excluded.granted_by, proof = excluded.proof, at = excluded.at, revoked_at = NULL,
             revoked_by = NULL`,
        [entry.kind, entry.id, entry.model, entry.contentSha256, entry.grantedBy, entry.proof, now()],
      );
      return (await this.grantRow(q, entry.kind, entry.id))!;
    });
  }

  async standingGrant(kind: StandingGrant['kind'], id: string): Promise<StandingGrant | null> {
    return await this.grantRow(this.sql, kind, id);
  }

  async revokeGrant(kind: StandingGrant['kind'], id: string, by: string): Promise<void> {
    await this.sql.run(
      'UPDATE standing_grants SET revoked_at = ?, revoked_by = ? WHERE kind = ? AND id = ? AND revoked_at IS NULL',
      [now(), by, kind, id],
    );
  }

  private async grantRow(q: Sql, kind: string, id: string): Promise<StandingGrant | null> {
    const r = await q.get<Record<string, string | null>>('SELECT * FROM standing_grants WHERE kind = ? AND id = ?', [
      kind,
      id,
    ]);
    if (!r) return null;
    return {
      kind: r.kind as StandingGrant['kind'],
      id: String(r.id),
      model: String(r.model),
      contentSha256: String(r.content_sha256),
      grantedBy: String(r.granted_by),
      proof: r.proof as StandingGrant['proof'],
      at: String(r.at),
      revokedAt: r.revoked_at,
      revokedBy: r.revoked_by,
    };
  }

  async useNonce(
    nonce: string,
    keyId: string,
    context: string,
  ): Promise<{ fresh: boolean; context: string; at: string }> {
    return await this.sql.transaction(async (q) => {
      const seen = await q.get<{ context: string; at: string }>(
        'SELECT context, at FROM decision_nonces WHERE nonce = ?',
        [nonce],
      );
      if (seen) return { fresh: seen.context === context, ...seen };
      const at = now();
      await q.run('INSERT INTO decision_nonces (nonce, key_id, context, at) VALUES (?, ?, ?, ?)', [
        nonce,
        keyId,
        context,
        at,
      ]);
      return { fresh: true, context, at };
    });
  }

  async announceServingInstance(instance: { id: string; url: string }): Promise<void> {
    const q = this.sql;
    await q.run(
      `INSERT INTO serving_instances (id, url, last_seen) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, last_seen = excluded.last_seen`,
      [instance.id, instance.url, now()],
    );
  }

  async servingInstances(seenSince: string): Promise<ServingInstance[]> {
    const q = this.sql;
    return (
      await q.all<{ id: string; url: string; last_seen: string }>(
        'SELECT id, url, last_seen FROM serving_instances WHERE last_seen >= ? ORDER BY id',
        [seenSince],
      )
    ).map((r) => ({ id: r.id, url: r.url, lastSeen: r.last_seen }));
  }

  async recordMonitorReport(report: Omit<MonitorReportRecord, 'id'>): Promise<MonitorReportRecord> {
    const q = this.sql;
    await q.run(
      `INSERT INTO monitor_reports (model, champion, window_from, window_to, at, report_uri, report_sha256,
                                      report_bytes, summary_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model, window_from, window_to) DO NOTHING`,
      [
        report.model,
        report.champion,
        report.from,
        report.to,
        report.at,
        report.report.uri,
        report.report.sha256,
        report.report.bytes,
        JSON.stringify(report.summary),
      ],
    );
    const row = (await q.get<MonitorReportRow>(
      'SELECT * FROM monitor_reports WHERE model = ? AND window_from = ? AND window_to = ?',
      [report.model, report.from, report.to],
    ))!;
    return toMonitorReport(row);
  }

  async listMonitorReports(
    model: string,
    filter: { since?: string; limit?: number } = {},
  ): Promise<MonitorReportRecord[]> {
    const q = this.sql;
    const rows = await q.all<MonitorReportRow>(
      `SELECT * FROM (SELECT * FROM monitor_reports WHERE model = ? AND window_to > ? ORDER BY window_to DESC LIMIT ?) AS recent
          ORDER BY window_to`,
      [model, filter.since ?? '', filter.limit ?? 1000],
    );
    return rows.map(toMonitorReport);
  }

  async recordMonitorAction(action: Omit<MonitorActionRecord, 'id' | 'at'>): Promise<MonitorActionRecord> {
    const q = this.sql;
    const inserted = await q.run(
      `INSERT INTO monitor_actions (model, kind, trigger, by, reason, evidence_json, result_json, workflow_id,
                                      dedupe_key, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
      [
        action.model,
        action.kind,
        action.trigger,
        action.by,
        action.reason,
        JSON.stringify(action.evidence),
        JSON.stringify(action.result),
        action.workflowId,
        action.key,
        now(),
      ],
    );
    if (inserted.changes > 0) {
      await this.audit(q, {
        model: action.model,
        action: `monitor-${action.kind}`,
        subject: action.evidence,
        identity: action.by,
        outcome: action.trigger === 'auto' ? 'automatic' : 'applied',
        detail: `${action.reason} → ${JSON.stringify(action.result)}`,
        workflowId: action.workflowId,
      });
    }
    return toMonitorAction(
      (await q.get<MonitorActionRow>('SELECT * FROM monitor_actions WHERE dedupe_key = ?', [action.key]))!,
    );
  }

  async listMonitorActions(model: string, limit = 100): Promise<MonitorActionRecord[]> {
    const q = this.sql;
    const rows = await q.all<MonitorActionRow>(
      'SELECT * FROM (SELECT * FROM monitor_actions WHERE model = ? ORDER BY id DESC LIMIT ?) AS recent ORDER BY id',
      [model, limit],
    );
    return rows.map(toMonitorAction);
  }

  async recordScheduleRun(
    run: Omit<ScheduleRunRecord, 'id' | 'at'>,
  ): Promise<{ record: ScheduleRunRecord; failuresInRow: number }> {
    return await this.sql.transaction(async (q) => {
      await q.run(
        `INSERT INTO schedule_runs (schedule_id, model, workflow_id, ok, detail, at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (schedule_id, workflow_id) DO NOTHING`,
        [run.scheduleId, run.model, run.workflowId, run.ok ? 1 : 0, run.detail, now()],
      );
      const row = (await q.get<ScheduleRunRow>(
        'SELECT * FROM schedule_runs WHERE schedule_id = ? AND workflow_id = ?',
        [run.scheduleId, run.workflowId],
      ))!;
      const lastOk = (await q.get<{ id: number | null }>(
        'SELECT max(id) AS id FROM schedule_runs WHERE schedule_id = ? AND ok = 1 AND id <= ?',
        [run.scheduleId, row.id],
      ))!;
      const { n } = (await q.get<{ n: number }>(
        'SELECT count(*) AS n FROM schedule_runs WHERE schedule_id = ? AND ok = 0 AND id > ? AND id <= ?',
        [run.scheduleId, lastOk.id ?? 0, row.id],
      ))!;
      return { record: toScheduleRun(row), failuresInRow: n };
    });
  }

  async listScheduleRuns(scheduleId: string, limit = 20): Promise<ScheduleRunRecord[]> {
    const q = this.sql;
    return (
      await q.all<ScheduleRunRow>(
        'SELECT * FROM (SELECT * FROM schedule_runs WHERE schedule_id = ? ORDER BY id DESC LIMIT ?) AS recent ORDER BY id',
        [scheduleId, limit],
      )
    ).map(toScheduleRun);
  }

  close(): void {
    this.sql.close();
  }
}

interface ScheduleRunRow {
  id: number;
  schedule_id: string;
  model: string;
  workflow_id: string;
  ok: number;
  detail: string;
  at: string;
}

function toScheduleRun(r: ScheduleRunRow): ScheduleRunRecord {
  return {
    id: r.id,
    scheduleId: r.schedule_id,
    model: r.model,
    workflowId: r.workflow_id,
    ok: r.ok === 1,
    detail: r.detail,
    at: r.at,
  };
}

interface MonitorReportRow {
  id: number;
  model: string;
  champion: number | null;
  window_from: string;
  window_to: string;
  at: string;
  report_uri: string;
  report_sha256: string;
  report_bytes: number;
  summary_json: string;
}

function toMonitorReport(r: MonitorReportRow): MonitorReportRecord {
  return {
    id: r.id,
    model: r.model,
    champion: r.champion,
    from: r.window_from,
    to: r.window_to,
    at: r.at,
    report: { uri: r.report_uri, sha256: r.report_sha256, bytes: r.report_bytes },
    summary: JSON.parse(r.summary_json) as Record<string, unknown>,
  };
}

interface MonitorActionRow {
  id: number;
  model: string;
  kind: MonitorActionRecord['kind'];
  trigger: MonitorActionRecord['trigger'];
  by: string;
  reason: string;
  evidence_json: string;
  result_json: string;
  workflow_id: string | null;
  dedupe_key: string;
  at: string;
}

function toMonitorAction(r: MonitorActionRow): MonitorActionRecord {
  return {
    id: r.id,
    model: r.model,
    kind: r.kind,
    trigger: r.trigger,
    by: r.by,
    reason: r.reason,
    evidence: JSON.parse(r.evidence_json) as Record<string, unknown>,
    result: JSON.parse(r.result_json) as Record<string, unknown>,
    workflowId: r.workflow_id,
    key: r.dedupe_key,
    at: r.at,
  };
}
