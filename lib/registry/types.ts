import type { ModelPolicy, RegisteredModelPolicy } from '../access/model-policy';
import type { ArtifactRef } from '../artifacts';
import type { ServingInstance, ServingPolicy, ServingPolicyRecord } from '../serving/policy';
import type { DatasetRef } from '../data/snapshot';
import type { Metrics } from '../metrics';
import type { ModelSpec } from '../spec';

/** How the data behind a version was judged: the report, the profile, and any quarantine and decision. */
export interface VersionLineage {
  /** the batch as ingested (the training data may be its good rows only) */
  sourceDataset: string;
  contractHash: string;
  /** the registered model policy the run was held to (runs before registered policies: absent) */
  policy?: { version: number; sha256: string };
  validation: {
    id: number;
    outcome: 'pass' | 'warn' | 'fail';
    decision: ValidationDecision;
    decidedBy: string | null;
    reason: string | null;
    report: ArtifactRef;
    html: ArtifactRef;
    profile: ArtifactRef;
    quarantine: ArtifactRef | null;
  };
}

/** Everything needed to answer "which data, code and config made this model" — written once, never changed. */
export interface ModelVersionInput {
  model: string;
  artifact: ArtifactRef;
  task: ModelSpec['task'];
  spec: ModelSpec;
  specHash: string;
  /** the data the model was trained on */
  dataset: DatasetRef;
  lineage: VersionLineage;
  codeVersion: string;
  backend: string;
  seed: number;
  workflowId: string;
  runId: string;
  metrics: Metrics;
  /** training details: epochs, history, rows, resumed-from epoch, preprocessing summary */
  training: Record<string, unknown>;
  /** evaluation details: holdout, champion comparison */
  evaluation: Record<string, unknown>;
}

export interface ModelVersion extends Omit<ModelVersionInput, 'dataset'> {
  version: number;
  datasetSha256: string;
  createdAt: string;
  /** the last load check of the artifact in a fresh process; null: never checked */
  loadCheck: LoadCheckRecord | null;
}

export interface LoadCheckRecord {
  passed: boolean;
  detail: string;
  at: string;
  seconds?: number;
  backend?: string;
}

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired';

export interface ApprovalRecord {
  id: number;
  model: string;
  version: number;
  artifactSha256: string;
  workflowId: string;
  runId: string;
  status: ApprovalStatus;
  requestedAt: string;
  decidedBy: string | null;
  comment: string | null;
  decidedAt: string | null;
}

export interface DatasetRecord extends DatasetRef {
  profile: ArtifactRef | null;
  createdAt: string;
}

export type ValidationDecision = 'accepted' | 'quarantined' | 'released' | 'discarded' | 'rejected' | 'failed';

export interface ValidationRecord {
  id: number;
  model: string;
  datasetSha256: string;
  outcome: 'pass' | 'warn' | 'fail';
  trainable: boolean;
  contractHash: string;
  report: ArtifactRef;
  html: ArtifactRef;
  profile: ArtifactRef;
  quarantine: ArtifactRef | null;
  /** the dataset training may use: the batch, or its good rows */
  trainingDatasetSha256: string;
  decision: ValidationDecision;
  decidedBy: string | null;
  reason: string | null;
  workflowId: string;
  runId: string;
  createdAt: string;
  decidedAt: string | null;
}

export type NewValidation = Omit<ValidationRecord, 'id' | 'createdAt' | 'decidedAt'>;

export interface AlertRecord {
  id: number;
  model: string;
  severity: 'info' | 'warning' | 'critical';
  kind: string;
  message: string;
  details: Record<string, unknown>;
  workflowId: string | null;
  runId: string | null;
  /** idempotency key: an alert raised again with the same key (a retried activity) is recorded once */
  key?: string;
  at: string;
}

/** A stored health check (the whole report is an artifact; the summary is what lists and charts need). */
export interface MonitorReportRecord {
  id: number;
  model: string;
  champion: number | null;
  from: string;
  to: string;
  at: string;
  report: ArtifactRef;
  summary: Record<string, unknown>;
}

/** Something the monitor did, on its own or because a person asked: with why, on what evidence, and what came of it. */
export interface MonitorActionRecord {
  id: number;
  model: string;
  kind: 'alert' | 'retrain' | 'rollback' | 'pause' | 'resume' | 'policy';
  /** auto: the monitor's policy; manual: a person's signal */
  trigger: 'auto' | 'manual';
  by: string;
  reason: string;
  evidence: Record<string, unknown>;
  result: Record<string, unknown>;
  workflowId: string | null;
  /** idempotency key: the same action recorded again (a retried activity, a replayed signal) is kept once */
  key: string;
  at: string;
}

/** One run of a schedule (periodic training): how it ended. */
export interface ScheduleRunRecord {
  id: number;
  scheduleId: string;
  model: string;
  workflowId: string;
  ok: boolean;
  detail: string;
  at: string;
}

export interface AliasEvent {
  id: number;
  model: string;
  alias: string;
  fromVersion: number | null;
  toVersion: number | null;
  actor: string;
  reason: string;
  workflowId: string | null;
  runId: string | null;
  requestId: string;
  at: string;
}

export interface ChampionMove {
  model: string;
  /** the version to make champion, or "previous" (a rollback to the version before the current champion) */
  to: number | 'previous';
  /** the champion the decision was made against (null: there was none; "any": move whatever it is) */
  expectedChampion: number | null | 'any';
  kind: 'promote' | 'rollback';
  actor: string;
  reason: string;
  workflowId?: string;
  runId?: string;
  /** idempotency key: the same request applied twice moves the alias once */
  requestId: string;
  /** refuse a target whose artifact has not passed a load check */
  requireLoadCheck: boolean;
}

export interface ChampionMoveResult {
  changed: boolean;
  champion: number;
  previous: number | null;
}

export interface AliasChange {
  model: string;
  alias: string;
  /** null removes the alias */
  version: number | null;
  actor: string;
  reason: string;
  requestId: string;
  workflowId?: string;
  runId?: string;
}

/** A person's public key, registered for verifying their signed decisions. */
export interface AccessKey {
  keyId: string;
  person: string;
  publicKeyPem: string;
  addedAt: string;
  addedBy: string;
  revokedAt: string | null;
  revokedBy: string | null;
  revokeReason: string | null;
}

/**
 * One line of the audit trail: a person's decision as verified (accepted or refused, and why), or a change that
 * happened (an alias moved, a batch or candidate decided, a monitor action, a key added or revoked) with who or
 * what made it.
 */
export interface AuditEvent {
  id: number;
  at: string;
  /** the model it concerns ("*" for keys) */
  model: string;
  action: string;
  subject: Record<string, unknown>;
  /** who: a verified person, a claimed name, or a part of Lumen ("monitor", "timeout", "workflow:…") */
  identity: string;
  /** signed: verified against a registered key; claimed: access control off; system: Lumen itself */
  proof: 'signed' | 'claimed' | 'system';
  keyId: string | null;
  /** accepted / refused (a decision checked), applied (a change made), automatic (by policy) */
  outcome: 'accepted' | 'refused' | 'applied' | 'automatic';
  detail: string;
  workflowId: string | null;
}

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'at'> & { at?: string };

/** The model registry and lineage store. SQLite is the embedded default; the interface is async for PostgreSQL. */
export interface NewModelPolicy {
  model: string;
  policy: ModelPolicy;
  expectedVersion: number;
  setBy: string;
  proof: RegisteredModelPolicy['proof'];
  reason: string;
  workflowId: string | null;
}

/**
 * A schedule's or an inbox watch's creation, verified and audited once: each run it starts later is checked
 * against it (same content, not revoked), since those runs carry no person's signature of their own.
 */
export interface StandingGrant {
  kind: 'schedule' | 'inbox' | 'stream';
  id: string;
  model: string;
  /** sha-256 of what was granted (the schedule's or watch's input, canonical JSON) */
  contentSha256: string;
  grantedBy: string;
  proof: 'signed' | 'claimed';
  at: string;
  revokedAt: string | null;
  revokedBy: string | null;
}

export interface Registry {
  recordDataset(dataset: DatasetRef, profile: ArtifactRef | null): Promise<void>;
  getDataset(sha256: string): Promise<DatasetRecord | undefined>;
  /** Idempotent per (model, dataset, workflowId): a retried activity gets the record it made the first time. */
  recordValidation(validation: NewValidation): Promise<ValidationRecord>;
  /** Record what happened to a batch; deciding the same way twice is a no-op, deciding differently is refused. */
  decideValidation(id: number, decision: ValidationDecision, by: string, reason: string): Promise<ValidationRecord>;
  getValidation(id: number): Promise<ValidationRecord | undefined>;
  listValidations(filter: {
    model?: string;
    decision?: ValidationDecision;
    dataset?: string;
  }): Promise<ValidationRecord[]>;
  /** The newest batch of a model that was accepted or released. */
  lastAccepted(model: string): Promise<ValidationRecord | undefined>;
  recordAlert(alert: Omit<AlertRecord, 'id' | 'at'>): Promise<AlertRecord>;
  listAlerts(model?: string, limit?: number): Promise<AlertRecord[]>;
  /**
   * Idempotent per (model, workflowId): a retried registration returns the version it created the first time.
   * If another run already registered this model from the same batch and spec, that version is returned
   * (its workflowId differs from the caller's), so concurrent runs on one batch leave one version.
   */
  registerVersion(input: ModelVersionInput): Promise<ModelVersion>;
  getVersion(model: string, version: number): Promise<ModelVersion | undefined>;
  listVersions(model: string): Promise<ModelVersion[]>;
  listModels(): Promise<{ model: string; versions: number; champion: number | null }[]>;
  /** The version already trained from this batch (as ingested, or its training subset) with this spec, if any. */
  findTrained(model: string, datasetSha256: string, specHash: string): Promise<ModelVersion | undefined>;
  /** Every version trained on this dataset, as ingested or as its training subset. */
  modelsTrainedOn(datasetSha256: string): Promise<ModelVersion[]>;
  alias(model: string, alias: string): Promise<number | null>;
  aliases(model: string): Promise<Record<string, number>>;
  /** Move the champion (and "previous") in one transaction, with compare-and-set and idempotency per request. */
  moveChampion(move: ChampionMove): Promise<ChampionMoveResult>;
  /** Set or remove a free-form alias ("staging", "shadow"…); champion and previous move only via moveChampion. */
  setAlias(change: AliasChange): Promise<void>;
  aliasHistory(model: string): Promise<AliasEvent[]>;
  /** The version an alias pointed to at a moment (null: none), from the alias history. */
  aliasAt(model: string, alias: string, at: string): Promise<number | null>;
  recordLoadCheck(model: string, version: number, result: LoadCheckRecord): Promise<void>;
  /** Idempotent per (model, version, workflowId). */
  requestApproval(
    request: Pick<ApprovalRecord, 'model' | 'version' | 'artifactSha256' | 'workflowId' | 'runId'>,
  ): Promise<ApprovalRecord>;
  /** Deciding the same way twice is a no-op; deciding differently is refused. */
  decideApproval(
    id: number,
    status: Exclude<ApprovalStatus, 'pending'>,
    by: string,
    comment: string,
  ): Promise<ApprovalRecord>;
  listApprovals(filter: { model?: string; status?: ApprovalStatus; version?: number }): Promise<ApprovalRecord[]>;
  /** How a model's traffic is split between champion, canary and shadow (null: champion only). */
  servingPolicy(model: string): Promise<ServingPolicyRecord | null>;
  setServingPolicy(model: string, policy: ServingPolicy, actor: string, reason: string): Promise<void>;
  /** A serving instance says where it listens, so alias moves can be announced to it. */
  /** Idempotent per (model, from, to): a retried check keeps the first record. */
  recordMonitorReport(report: Omit<MonitorReportRecord, 'id'>): Promise<MonitorReportRecord>;
  /** the newest `limit` health checks (of the given champion only, with `champion`), oldest first */
  listMonitorReports(
    model: string,
    filter?: { since?: string; limit?: number; champion?: number },
  ): Promise<MonitorReportRecord[]>;
  /** Idempotent per key: a retried recording returns the first record, with `created` false. */
  recordMonitorAction(
    action: Omit<MonitorActionRecord, 'id' | 'at'>,
  ): Promise<{ record: MonitorActionRecord; created: boolean }>;
  listMonitorActions(model: string, limit?: number): Promise<MonitorActionRecord[]>;
  /** Idempotent per (scheduleId, workflowId); returns the failed runs in a row that end with this one. */
  recordScheduleRun(
    run: Omit<ScheduleRunRecord, 'id' | 'at'>,
  ): Promise<{ record: ScheduleRunRecord; failuresInRow: number }>;
  listScheduleRuns(scheduleId: string, limit?: number): Promise<ScheduleRunRecord[]>;
  /** Register a public key; the same key again is a no-op, the same id for another person is refused. */
  addKey(key: Pick<AccessKey, 'keyId' | 'person' | 'publicKeyPem' | 'addedBy'>): Promise<AccessKey>;
  getKey(keyId: string): Promise<AccessKey | undefined>;
  listKeys(): Promise<AccessKey[]>;
  revokeKey(keyId: string, by: string, reason: string): Promise<AccessKey>;
  /**
   * Spend a statement's nonce. The first use, and a repeat from the same context (a retried activity), are fresh;
   * a use from any other context is a replay, answered with where it was first used.
   */
  useNonce(nonce: string, keyId: string, context: string): Promise<{ fresh: boolean; context: string; at: string }>;
  /** The model's governing policy in force (its latest version), or null before one is registered. */
  modelPolicy(model: string): Promise<RegisteredModelPolicy | null>;
  modelPolicyHistory(model: string): Promise<RegisteredModelPolicy[]>;
  /**
   * The next version of a model's policy, when the caller read `expectedVersion` (0: none yet); another version
   * since is a ConflictError. The same policy again returns the current version unchanged. Audited.
   */
  registerModelPolicy(entry: NewModelPolicy): Promise<RegisteredModelPolicy>;
  /** A verified decision that stands until revoked: a schedule or an inbox watch, bound to its content. */
  grant(entry: Omit<StandingGrant, 'at' | 'revokedAt' | 'revokedBy'>): Promise<StandingGrant>;
  standingGrant(kind: StandingGrant['kind'], id: string): Promise<StandingGrant | null>;
  revokeGrant(kind: StandingGrant['kind'], id: string, by: string): Promise<void>;
  recordAudit(event: NewAuditEvent): Promise<AuditEvent>;
  listAudit(filter: { model?: string; since?: string; limit?: number }): Promise<AuditEvent[]>;
  announceServingInstance(instance: { id: string; url: string }): Promise<void>;
  servingInstances(seenSince: string): Promise<ServingInstance[]>;
  close(): void;
}
