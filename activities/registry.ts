import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import type { Metrics } from '../lib/metrics';
import type { PromoteResult, VersionLineage } from '../lib/registry/types';
import { specHash, type ModelSpec } from '../lib/spec';
import { asActivity, type ActivityDeps } from './context';

export interface RegisterInput {
  spec: ModelSpec;
  /** the data trained on */
  dataset: DatasetRef;
  lineage: VersionLineage;
  artifact: ArtifactRef;
  backend: string;
  metrics: Metrics;
  training: Record<string, unknown>;
  evaluation: Record<string, unknown>;
  workflowId: string;
  runId: string;
}

export interface VersionSummary {
  model: string;
  version: number;
  artifact: ArtifactRef;
  metrics: Metrics;
  workflowId: string;
}

export interface PromoteInput {
  model: string;
  version: number;
  expectedChampion: number | null;
  reason: string;
  actor: string;
  workflowId: string;
  runId: string;
}

export function registryActivities(deps: ActivityDeps) {
  return {
    /** The version already trained from this data with this exact spec, if any. */
    async findTrainedVersion(input: { spec: ModelSpec; datasetSha256: string }): Promise<VersionSummary | null> {
      const found = await deps.registry.findTrained(input.spec.name, input.datasetSha256, specHash(input.spec));
      return found
        ? {
            model: found.model,
            version: found.version,
            artifact: found.artifact,
            metrics: found.metrics,
            workflowId: found.workflowId,
          }
        : null;
    },

    async getChampion(input: { model: string }): Promise<{ version: number; artifact: ArtifactRef } | null> {
      const version = await deps.registry.alias(input.model, 'champion');
      if (version === null) return null;
      const record = await deps.registry.getVersion(input.model, version);
      return record ? { version, artifact: record.artifact } : null;
    },

    /** Record a model version with its full lineage. Idempotent per workflow: a retry returns the same version. */
    async registerModelVersion(input: RegisterInput): Promise<VersionSummary> {
      return asActivity(async () => {
        const v = await deps.registry.registerVersion({
          model: input.spec.name,
          artifact: input.artifact,
          task: input.spec.task,
          spec: input.spec,
          specHash: specHash(input.spec),
          dataset: input.dataset,
          lineage: input.lineage,
          codeVersion: deps.codeVersion,
          backend: input.backend,
          seed: input.spec.training.seed,
          workflowId: input.workflowId,
          runId: input.runId,
          metrics: input.metrics,
          training: input.training,
          evaluation: input.evaluation,
        });
        return {
          model: v.model,
          version: v.version,
          artifact: v.artifact,
          metrics: v.metrics,
          workflowId: v.workflowId,
        };
      });
    },

    /** Move the champion alias (compare-and-set against the champion the decision was made on; idempotent). */
    async promoteModel(input: PromoteInput): Promise<PromoteResult> {
      return asActivity(() =>
        deps.registry.promote({
          model: input.model,
          version: input.version,
          expectedChampion: input.expectedChampion,
          actor: input.actor,
          reason: input.reason,
          workflowId: input.workflowId,
          runId: input.runId,
          requestId: `${input.workflowId}:promote:v${input.version}`,
        }),
      );
    },
  };
}
