import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import {
  evaluateArtifact,
  evaluationOptions,
  loadHoldout,
  makeCanary,
  type ModelEvaluation,
} from '../lib/evaluation/evaluate';
import { decideGate, type GateVerdict } from '../lib/gate';
import { runLoadCheck, type LoadCheckResult } from '../lib/loadcheck';
import type { Metrics } from '../lib/metrics';
import type { ModelSpec } from '../lib/spec';
import { asActivity, type ActivityDeps } from './context';

export interface EvaluateInput {
  spec: ModelSpec;
  dataset: DatasetRef;
  candidate: ArtifactRef;
  /** the champion at decision time, if any */
  champion: { version: number; artifact: ArtifactRef } | null;
}

/** What the workflow needs; slices and intervals in full stay in the evaluation artifact. */
export interface EvaluateOutput {
  holdoutRows: number;
  candidate: Metrics;
  champion: (Metrics & { version: number }) | null;
  verdict: GateVerdict;
  /** everything: both models' metrics, intervals, slices, fairness gaps, and the verdict */
  report: ArtifactRef;
  /** holdout rows and the candidate's predictions on them, for the load check */
  canary: ArtifactRef;
}

export interface LoadCheckInput {
  model: string;
  /** registered version to record the result on (omit to check without recording) */
  version?: number;
  artifact: ArtifactRef;
  canary: ArtifactRef;
}

export function evaluateActivities(deps: ActivityDeps) {
  return {
    /**
     * Score candidate and champion on the same holdout of the newest accepted data (metrics with bootstrap
     * intervals, calibration, slices and fairness gaps) and judge the candidate against the gate policy.
     */
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
        const options = evaluationOptions(input.spec);
        const candidate = await evaluateArtifact(deps.store, input.candidate, table, rows, options);
        let champion: (ModelEvaluation & { version: number }) | null = null;
        if (input.champion) {
          champion = {
            ...(await evaluateArtifact(deps.store, input.champion.artifact, table, rows, options)),
            version: input.champion.version,
          };
        }
        const verdict = decideGate(input.spec, candidate, champion);
        const report = await deps.store.putJson('reports/evaluation', {
          format: 'lumen-evaluation/1',
          model: input.spec.name,
          dataset: input.dataset.sha256,
          holdoutRows: rows.length,
          candidate: { artifact: input.candidate, ...candidate },
          champion: champion && { artifact: input.champion?.artifact, ...champion },
          verdict,
        });
        const canary = await deps.store.putJson(
          'canaries',
          await makeCanary(deps.store, input.spec, input.candidate, table, rows),
        );
        return {
          holdoutRows: rows.length,
          candidate: candidate.metrics,
          champion: champion && { ...champion.metrics, version: champion.version },
          verdict,
          report,
          canary,
        };
      });
    },

    /** Load the artifact in a fresh process, verify its digest and run the canary; record the result. */
    async loadCheck(input: LoadCheckInput): Promise<LoadCheckResult> {
      return asActivity(async () => {
        const result = await runLoadCheck(deps.store, input.artifact, input.canary);
        if (input.version !== undefined) await deps.registry.recordLoadCheck(input.model, input.version, result);
        return result;
      });
    },
  };
}
