import { log } from '@temporalio/activity';
import type { ArtifactRef } from '../lib/artifacts';
import { announceAliasMove } from '../lib/serving/notify';
import { findAdminToken } from '../lib/serving/tokens';
import type { DatasetRef } from '../lib/data/snapshot';
import type { Metrics } from '../lib/metrics';
import { AccessDenied, ConflictError, LoadCheckFailed, NotFoundError } from '../lib/errors';
import type {
  ApprovalRecord,
  ChampionMoveResult,
  LoadCheckRecord,
  ModelVersion,
  VersionLineage,
} from '../lib/registry/types';
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
  /** the model's champion now (what a duplicate batch leaves in place) */
  champion?: number | null;
}

export interface MoveChampionInput {
  model: string;
  to: number | 'previous';
  expectedChampion: number | null | 'any';
  kind: 'promote' | 'rollback';
  reason: string;
  actor: string;
  workflowId: string;
  runId: string;
  requestId: string;
}

/** What a promotion or rollback needs to know about its target before it moves anything. */
export interface MoveTarget {
  version: number;
  artifact: ArtifactRef;
  /** the canary recorded at the version's evaluation */
  canary: ArtifactRef;
  champion: number | null;
  /** no load check has passed yet: run one in a fresh process before moving */
  needsLoadCheck: boolean;
}

export interface VerificationTarget {
  version: number;
  artifact: ArtifactRef;
  canary: ArtifactRef;
  /** why the bytes cannot be trusted (null: they hash to what was registered) */
  bytesProblem: string | null;
  /** the load check on record before this verification */
  previous: LoadCheckRecord | null;
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
            champion: await deps.registry.alias(input.spec.name, 'champion'),
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

    /**
     * Move the champion alias (compare-and-set, idempotent per request, only to load-checked versions), then tell
     * the serving instances, which swap to the new version at once (they also find it within seconds on their own),
     * and the model's monitor, which starts with the first promotion. Those two follow on every attempt that finds
     * the champion where this request put it — not only on the attempt that moved it: a worker that died between
     * the move and the telling leaves a retry that finds the move made, and it must still tell.
     */
    async moveChampion(input: MoveChampionInput): Promise<ChampionMoveResult> {
      return asActivity(async () => {
        const moved = await deps.registry.moveChampion({
          model: input.model,
          to: input.to,
          expectedChampion: input.expectedChampion,
          kind: input.kind,
          actor: input.actor,
          reason: input.reason,
          workflowId: input.workflowId,
          runId: input.runId,
          requestId: input.requestId,
          requireLoadCheck: true,
        });
        // a later move by someone else stands: telling of this one now would be telling something untrue
        if ((await deps.registry.alias(input.model, 'champion')) !== moved.champion) return moved;
        if (!moved.changed) {
          log.info('the champion is already where this request puts it; telling serving and the monitor (again)', {
            model: input.model,
            version: moved.champion,
          });
        }
        const told = await announceAliasMove(deps.registry, findAdminToken(deps.store.home));
        for (const f of told.failed)
          log.warn('a serving instance was not told of the move', { url: f.url, reason: f.reason });
        // the monitor takes the same event (by its id) once, however many attempts tell it
        await deps.temporal?.championMoved(input.model, {
          eventId: input.requestId,
          version: moved.champion,
          previous: moved.previous,
          kind: input.kind,
          by: input.actor,
          at: new Date().toISOString(),
        });
        return moved;
      });
    },

    /** The version a promotion or rollback would move the champion to, with what its load check needs. */
    async resolveMoveTarget(input: {
      model: string;
      to: number | 'previous';
      kind?: 'promote' | 'rollback';
    }): Promise<MoveTarget> {
      return asActivity(async () => {
        const champion = await deps.registry.alias(input.model, 'champion');
        const version = input.to === 'previous' ? await deps.registry.alias(input.model, 'previous') : input.to;
        if (version === null) throw new NotFoundError(`${input.model} has no previous champion to roll back to`);
        const record = await deps.registry.getVersion(input.model, version);
        if (!record) throw new NotFoundError(`${input.model} v${version} is not registered`);
        if (input.kind === 'promote') await fourEyesForPromotion(deps, record);
        if (record.loadCheck && !record.loadCheck.passed) {
          throw new LoadCheckFailed(`${input.model} v${version} failed its load check: ${record.loadCheck.detail}`);
        }
        const canary = (record.evaluation as { canary?: ArtifactRef }).canary;
        if (!canary) throw new ConflictError(`${input.model} v${version} has no canary to load-check it with`);
        // the bytes on disk must still be the registered ones, whatever an earlier check found
        try {
          await deps.store.verify(record.artifact);
        } catch (err) {
          const detail = (err as Error).message;
          await deps.registry.recordLoadCheck(input.model, version, {
            passed: false,
            detail,
            at: new Date().toISOString(),
          });
          throw new LoadCheckFailed(`${input.model} v${version} failed its load check: ${detail}`);
        }
        return { version, artifact: record.artifact, canary, champion, needsLoadCheck: !record.loadCheck?.passed };
      });
    },

    /**
     * First half of `lumen verify`: find the version (default: the champion), re-hash its bytes, and say whether
     * the load check in a fresh process may run. Changed bytes are recorded as a failed load check right here.
     */
    async prepareVerification(input: { model: string; version?: number }): Promise<VerificationTarget> {
      return asActivity(async () => {
        const version = input.version ?? (await deps.registry.alias(input.model, 'champion'));
        if (version === null) throw new NotFoundError(`${input.model} has no champion; name a version to verify`);
        const record = await deps.registry.getVersion(input.model, version);
        if (!record) throw new NotFoundError(`${input.model} v${version} is not registered`);
        const canary = (record.evaluation as { canary?: ArtifactRef }).canary;
        if (!canary) throw new ConflictError(`${input.model} v${version} has no canary to load-check it with`);
        const previous = record.loadCheck;
        try {
          await deps.store.verify(record.artifact);
        } catch (err) {
          const detail = `bytes on disk differ from those registered: ${(err as Error).message}`;
          await deps.registry.recordLoadCheck(input.model, version, {
            passed: false,
            detail,
            at: new Date().toISOString(),
          });
          return { version, artifact: record.artifact, canary, bytesProblem: detail, previous };
        }
        return { version, artifact: record.artifact, canary, bytesProblem: null, previous };
      });
    },

    async requestApproval(input: {
      model: string;
      version: number;
      artifactSha256: string;
      workflowId: string;
      runId: string;
    }): Promise<ApprovalRecord> {
      return deps.registry.requestApproval(input);
    },

    async decideApproval(input: {
      id: number;
      status: 'approved' | 'rejected' | 'expired';
      by: string;
      comment: string;
    }): Promise<ApprovalRecord> {
      return asActivity(() => deps.registry.decideApproval(input.id, input.status, input.by, input.comment));
    },
  };
}

/**
 * A spec that asks for several approvers (four eyes) holds for promotions by hand too: the version must have been
 * approved by that many different people, as its pipeline recorded. (With one approver, a person may promote
 * by hand whatever the gate said: that is what a manual promotion is for.)
 */
async function fourEyesForPromotion(deps: ActivityDeps, record: ModelVersion): Promise<void> {
  const needed = record.spec.gate.approval.approvers ?? 1;
  if (needed < 2) return;
  const approvals = await deps.registry.listApprovals({ model: record.model, version: record.version });
  const approved = approvals.find((a) => a.status === 'approved');
  const people = new Set((approved?.decidedBy ?? '').split(' + ').filter((p) => p.trim()));
  if (people.size < needed) {
    throw new AccessDenied(
      `four eyes: ${record.model} v${record.version} needs ${needed} different approvers before it is promoted ` +
        `(gate.approval.approvers); ${people.size ? `only ${[...people].join(', ')} approved it` : 'nobody approved it'}`,
    );
  }
}
