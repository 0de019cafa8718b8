/**
 * Names shared by workflows, workers and clients: task queues, search attributes, queries and the pipeline's
 * input/output shapes. Deterministic and dependency-free, so both the workflow sandbox and the CLI import it.
 */
import { defineSearchAttributeKey, SearchAttributeType, type Duration } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DecisionProof } from '../lib/access/statement';
import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import type { SourceRef } from '../lib/data/source';
import type { Metrics } from '../lib/metrics';
import type { ImportanceComparison } from '../lib/explain/importance';
import type { GateVerdict } from '../lib/gate';
import type { ModelSpec } from '../lib/spec';
import type { TrialResult } from '../lib/model/search';

export { PIPELINE_QUEUE, TRAINING_QUEUE } from './queues';

/**
 * Typed search attributes, registered on the server, so the Web UI can filter runs and show them as list columns
 * (docs/concepts.md, "The Web UI"): which model, at which stage, which version it registered, how it ended, which batch.
 */
export const LumenModel = defineSearchAttributeKey('LumenModel', SearchAttributeType.KEYWORD);
export const LumenStage = defineSearchAttributeKey('LumenStage', SearchAttributeType.KEYWORD);
/** the model version a run registered (or verified, or made champion) */
export const LumenVersion = defineSearchAttributeKey('LumenVersion', SearchAttributeType.INT);
/** how a run ended: promoted, registered, duplicate, rejected, … (the result's outcome) */
export const LumenOutcome = defineSearchAttributeKey('LumenOutcome', SearchAttributeType.KEYWORD);
/** the batch as a person names it: its month ("2001-03"), window, or file name */
export const LumenBatch = defineSearchAttributeKey('LumenBatch', SearchAttributeType.KEYWORD);
/** the first 12 hex digits of the batch's content hash */
export const LumenDataset = defineSearchAttributeKey('LumenDataset', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTES = [LumenModel, LumenStage, LumenVersion, LumenOutcome, LumenBatch, LumenDataset];

/** The attributes as the `temporal` CLI registers them: name → type. */
export function searchAttributeTypes(): Record<string, 'Keyword' | 'Int'> {
  return Object.fromEntries(
    SEARCH_ATTRIBUTES.map((k) => [k.name, k.type === SearchAttributeType.INT ? 'Int' : 'Keyword'] as const),
  );
}

export type Stage =
  | 'ingest'
  | 'validate'
  | 'quarantined'
  | 'dedupe'
  | 'train'
  | 'evaluate'
  | 'register'
  | 'load-check'
  | 'awaiting_approval'
  | 'promote'
  | 'done'
  | 'failed';

export interface PipelineOptions {
  /** heartbeat timeout of the training-queue activities: how soon a dead training worker is noticed (default 20 s) */
  trainingHeartbeatTimeout?: Duration;
  /** who or what started the run, recorded with promotions */
  actor?: string;
  /** the starter's signature over "start <model> as <workflow id>" (access control, docs/security.md) */
  proof?: DecisionProof;
  /**
   * the person on whose request a Lumen workflow started this run (a monitor's retrain), already verified by it:
   * the "starter" a four-eyes approval policy keeps from approving
   */
  requestedBy?: string;
  /** task queue of the training workers (default lumen-training) */
  trainingTaskQueue?: string;
}

export interface PipelineInput {
  spec: ModelSpec;
  source: SourceRef;
  options?: PipelineOptions;
}

export interface StepRecord {
  stage: Stage;
  startedAt: string;
  milliseconds: number;
}

export interface PipelineResult {
  /**
   * registered: trained and recorded, but the gate kept the champion; discarded / rejected: the quarantined batch
   * was discarded by a person / nobody decided in time; not-approved: a person rejected the candidate or nobody
   * approved in time; load-check-failed: the artifact did not load and predict in a fresh process
   */
  outcome: 'promoted' | 'registered' | 'duplicate' | 'discarded' | 'rejected' | 'not-approved' | 'load-check-failed';
  model: string;
  version: number | null;
  artifact: ArtifactRef | null;
  dataset: Pick<DatasetRef, 'sha256' | 'rows' | 'uri'>;
  /** the validation verdict and where its report is */
  validation: {
    id: number;
    outcome: 'pass' | 'warn' | 'fail';
    decision: string;
    summary: string;
    report: ArtifactRef;
    html: ArtifactRef;
  };
  metrics: Metrics | null;
  verdict: GateVerdict | null;
  /** what the candidate relies on, beside the champion (absent: a run from before it was measured) */
  importance?: ImportanceComparison | null;
  approval: { status: string; by: string | null; comment: string | null } | null;
  champion: number | null;
  /** epoch the training resumed from after a crash (null: trained uninterrupted) */
  resumedFromEpoch: number | null;
  /** what training used of the batch, and what it dropped (null: nothing was trained) */
  training?: TrainingSummary | null;
  steps: StepRecord[];
}

export interface TrainingSummary {
  /** rows trained on */
  rows: number;
  /** rows held out for evaluation */
  holdoutRows: number;
  /** rows dropped because their label was missing (or not a declared class) */
  unlabelledRows: number;
  /** learned classes too rare to learn: their rows were left out of training and evaluation */
  rareClasses?: { class: string; rows: number }[];
  /** rows left out by the spec's maxTrainingRows */
  sampledOutRows: number;
  epochs: number;
  /** early stopping: rows set aside for validation (not in `rows`), the epoch kept, whether it stopped early */
  validationRows?: number;
  bestEpoch?: number;
  stoppedEarly?: boolean;
  /** a hyperparameter search: every trial, and which one became the candidate */
  search?: SearchSummary;
}

/** A hyperparameter search as it ran: the trials, what each came to, the one chosen. */
export interface SearchSummary {
  method: 'grid' | 'random';
  /** the share of training rows the trials were compared on */
  validationFraction: number;
  /** the index of the trial whose model is the candidate */
  chosen: number;
  trials: SearchTrialRecord[];
}

export interface SearchTrialRecord extends TrialResult {
  /** the trial's model (content-addressed; only the chosen one is registered) */
  artifactSha256: string | null;
  epochs: number | null;
  bestEpoch?: number;
  seconds: number | null;
  resumedFromEpoch: number | null;
}

export interface QuarantineStatus {
  validationId: number;
  dataset: string;
  since: string;
  /** when the batch is rejected if nobody decides */
  deadline: string;
  summary: string;
  report: ArtifactRef;
  html: ArtifactRef;
  decision?: { kind: 'released' | 'discarded'; by: string; reason: string };
  /** the deadline passed with no decision: the batch is rejected, and a late decision is refused */
  expired?: boolean;
}

export interface ApprovalStatus {
  version: number;
  artifactSha256: string;
  since: string;
  deadline: string;
  /** how many different people must approve (four eyes), and who has so far */
  approversNeeded?: number;
  approvals?: { by: string; comment: string; at: string }[];
  decision?: { kind: 'approved' | 'rejected'; by: string; comment: string };
  /** the deadline passed with no decision: the candidate is not promoted, and a late decision is refused */
  expired?: boolean;
}

export interface PipelineStatus {
  model: string;
  stage: Stage;
  quarantine?: QuarantineStatus;
  source: SourceRef;
  dataset?: Pick<DatasetRef, 'sha256' | 'rows'>;
  version?: number;
  metrics?: Metrics;
  verdict?: GateVerdict;
  importance?: ImportanceComparison;
  approval?: ApprovalStatus;
  /** the registered model policy this run is held to */
  policy?: { version: number; sha256: string };
  error?: string;
  steps: StepRecord[];
  /** a hyperparameter search under way: trials finished (or failed) of all */
  search?: { done: number; trials: number; running: number[] };
}

export const statusQuery = defineQuery<PipelineStatus>('status');

/** A person's decision on a quarantined batch; it must name the batch (its sha256, or a prefix of 12+ characters). */
export interface QuarantineRequest {
  dataset: string;
  by: string;
  reason: string;
  proof?: DecisionProof;
}

export interface QuarantineAnswer {
  decision: 'released' | 'discarded';
  dataset: string;
}

/** Train on the quarantined batch anyway (its good rows, if some rows were bad). */
export const releaseQuarantine = defineUpdate<QuarantineAnswer, [QuarantineRequest]>('releaseQuarantine');
/** Drop the quarantined batch: nothing is trained on it. */
export const discardQuarantine = defineUpdate<QuarantineAnswer, [QuarantineRequest]>('discardQuarantine');

/** A person's decision on a candidate; it must name the candidate's version and artifact digest exactly. */
export interface ApprovalRequest {
  version: number;
  artifactSha256: string;
  by: string;
  comment: string;
  proof?: DecisionProof;
}

export interface ApprovalAnswer {
  decision: 'approved' | 'rejected';
  version: number;
  /** four eyes: approvals still needed before the candidate is approved (absent: decided) */
  awaiting?: number;
}

export const approveCandidate = defineUpdate<ApprovalAnswer, [ApprovalRequest]>('approve');
export const rejectCandidate = defineUpdate<ApprovalAnswer, [ApprovalRequest]>('reject');

/** A manual promotion or a rollback, run as a workflow so it is recorded and durable. */
export interface ChampionChangeInput {
  model: string;
  kind: 'promote' | 'rollback';
  /** the version to make champion; for a rollback, default: the previous champion */
  to?: number;
  reason: string;
  by: string;
  /** a person's signature over the change (access control); a change a Lumen workflow starts carries none */
  proof?: DecisionProof;
  /** idempotency key: the same request moves the alias once however often it is sent */
  requestId: string;
  /** task queue of the training workers, which run the load check (default lumen-training) */
  trainingTaskQueue?: string;
  /**
   * why a version unfit for traffic (failed its gate, awaits approval, rejected, failed its load check) is promoted
   * anyway; signed with the decision and audited
   */
  override?: string;
}

export interface ChampionChangeResult {
  model: string;
  kind: 'promote' | 'rollback';
  changed: boolean;
  champion: number;
  previous: number | null;
  loadCheck: string;
}

/** `lumen verify`: re-check a registered version's bytes and load it in a fresh process. */
export interface VerifyInput {
  model: string;
  /** default: the champion */
  version?: number;
  by: string;
  requestId: string;
  /** task queue of the training workers, which run the load check (default lumen-training) */
  trainingTaskQueue?: string;
}

export interface VerifyResult {
  model: string;
  version: number;
  passed: boolean;
  detail: string;
  /** the load check on record before, e.g. a failure this verification clears */
  previous: { passed: boolean; detail: string; at: string } | null;
}

export function verifyWorkflowId(model: string, requestId: string): string {
  return `verify:${model}:${requestId}`;
}

export function championChangeWorkflowId(model: string, requestId: string): string {
  return `champion:${model}:${requestId}`;
}

/**
 * The workflow id that makes "same data, same model" one execution. A run started by hand also names its spec's
 * content hash, so an edited spec on the same data is a new run; the schedule, inbox and monitor runs train a
 * registered spec that does not change under them, and keep the two-part id.
 */
export function trainingWorkflowId(model: string, sourceFingerprint: string, specHash?: string): string {
  const id = `train:${model}:${sourceFingerprint.slice(0, 16)}`;
  return specHash ? `${id}:${specHash.slice(0, 12)}` : id;
}
