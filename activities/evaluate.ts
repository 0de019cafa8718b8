import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import { evaluateArtifact, loadHoldout } from '../lib/evaluation';
import type { Metrics } from '../lib/metrics';
import { decidePromotion, type PromotionDecision } from '../lib/promotion';
import type { ModelSpec } from '../lib/spec';
import { asActivity, type ActivityDeps } from './context';

export interface EvaluateInput {
  spec: ModelSpec;
  dataset: DatasetRef;
  candidate: ArtifactRef;
  /** the champion at decision time, if any */
  champion: { version: number; artifact: ArtifactRef } | null;
}

export interface EvaluateOutput {
  holdoutRows: number;
  candidate: Metrics;
  champion: (Metrics & { version: number }) | null;
  decision: PromotionDecision;
}

export function evaluateActivities(deps: ActivityDeps) {
  return {
    /** Score candidate and champion on the same holdout of the new data and decide whether to promote. */
    async evaluateCandidate(input: EvaluateInput): Promise<EvaluateOutput> {
      return asActivity(async () => {
        const championRecord = input.champion
          ? await deps.registry.getVersion(input.spec.name, input.champion.version)
          : undefined;
        const { table, rows } = await loadHoldout(
          input.spec,
          input.dataset,
          championRecord ? [championRecord.spec] : [],
        );
        const candidate = await evaluateArtifact(deps.store, input.candidate, table, rows);
        const champion = input.champion
          ? {
              ...(await evaluateArtifact(deps.store, input.champion.artifact, table, rows)),
              version: input.champion.version,
            }
          : null;
        return {
          holdoutRows: rows.length,
          candidate,
          champion,
          decision: decidePromotion(
            input.spec,
            candidate,
            champion && { version: champion.version, metrics: champion },
          ),
        };
      });
    },
  };
}
