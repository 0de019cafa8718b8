// The registry's tables as rows, and each row as the record the rest of Lumen reads.

import type { ModelPolicy, RegisteredModelPolicy } from '../access/model-policy';
import type { ArtifactRef } from '../artifacts';
import type {
  AccessKey,
  AlertRecord,
  ApprovalRecord,
  ApprovalStatus,
  LoadCheckRecord,
  ModelVersion,
  MonitorActionRecord,
  MonitorReportRecord,
  ScheduleRunRecord,
  ValidationDecision,
  ValidationRecord,
  VersionLineage,
} from './types';

/** Where an artifact a version registered before its lineage was kept points: there is nothing to read. */
export const NOWHERE = 'none:';

export interface VersionRow {
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

export interface ApprovalRow {
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

export function toApproval(r: ApprovalRow): ApprovalRecord {
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

export interface PolicyRow {
  model: string;
  version: number;
  policy_json: string;
  sha256: string;
  set_by: string;
  proof: RegisteredModelPolicy['proof'];
  reason: string;
  at: string;
}

export function toPolicy(r: PolicyRow): RegisteredModelPolicy {
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

export const parse = <T>(json: string | null): T | null => (json === null ? null : (JSON.parse(json) as T));

export function toVersion(row: VersionRow): ModelVersion {
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
export function legacyLineage(row: VersionRow): VersionLineage {
  const none = { uri: NOWHERE, sha256: '0'.repeat(64), bytes: 0 };
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

export interface ValidationRow {
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

export function toValidation(r: ValidationRow): ValidationRecord {
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

export function toKey(r: Record<string, string | null>): AccessKey {
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

export function toAlert(r: Record<string, string | number | null>): AlertRecord {
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

export interface ScheduleRunRow {
  id: number;
  schedule_id: string;
  model: string;
  workflow_id: string;
  ok: number;
  detail: string;
  at: string;
}

export function toScheduleRun(r: ScheduleRunRow): ScheduleRunRecord {
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

export interface MonitorReportRow {
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

export function toMonitorReport(r: MonitorReportRow): MonitorReportRecord {
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

export interface MonitorActionRow {
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

export function toMonitorAction(r: MonitorActionRow): MonitorActionRecord {
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
