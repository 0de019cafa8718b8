import type { ArtifactRef } from '../artifacts';
import type { DatasetRef } from '../data/snapshot';
import type { ValidationReport } from '../data/validate';
import type { Metrics } from '../metrics';
import type { ModelSpec } from '../spec';

/** Everything needed to answer "which data, code and config made this model" — written once, never changed. */
export interface ModelVersionInput {
  model: string;
  artifact: ArtifactRef;
  task: ModelSpec['task'];
  spec: ModelSpec;
  specHash: string;
  dataset: DatasetRef;
  validation: ValidationReport;
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

export interface ModelVersion extends Omit<ModelVersionInput, 'dataset' | 'validation'> {
  version: number;
  datasetSha256: string;
  createdAt: string;
}

export interface DatasetRecord {
  sha256: string;
  uri: string;
  rows: number;
  source: DatasetRef['source'];
  sourceFingerprint: string;
  columns: DatasetRef['columns'];
  validation: ValidationReport | null;
  createdAt: string;
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

export interface PromoteRequest {
  model: string;
  version: number;
  /** the champion the decision was made against (null: there was none); a mismatch refuses the move */
  expectedChampion: number | null;
  actor: string;
  reason: string;
  workflowId?: string;
  runId?: string;
  /** idempotency key: the same request applied twice moves the alias once */
  requestId: string;
}

export interface PromoteResult {
  changed: boolean;
  champion: number;
  previous: number | null;
}

/** The model registry and lineage store. SQLite is the embedded default; the interface is async for PostgreSQL. */
export interface Registry {
  recordDataset(dataset: DatasetRef, validation: ValidationReport | null): Promise<void>;
  getDataset(sha256: string): Promise<DatasetRecord | undefined>;
  /**
   * Idempotent per (model, workflowId): a retried registration returns the version it created the first time.
   * If another run already registered this model from the same dataset and spec, that version is returned
   * (its workflowId differs from the caller's), so concurrent runs on one batch leave one version.
   */
  registerVersion(input: ModelVersionInput): Promise<ModelVersion>;
  getVersion(model: string, version: number): Promise<ModelVersion | undefined>;
  listVersions(model: string): Promise<ModelVersion[]>;
  listModels(): Promise<{ model: string; versions: number; champion: number | null }[]>;
  /** The version already trained on this dataset with this spec, if any. */
  findTrained(model: string, datasetSha256: string, specHash: string): Promise<ModelVersion | undefined>;
  modelsTrainedOn(datasetSha256: string): Promise<ModelVersion[]>;
  alias(model: string, alias: string): Promise<number | null>;
  promote(request: PromoteRequest): Promise<PromoteResult>;
  aliasHistory(model: string): Promise<AliasEvent[]>;
  close(): void;
}
