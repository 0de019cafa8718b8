import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import {
  evaluateArtifact,
  evaluationOptions,
  loadHoldout,
  makeCanary,
  type ModelEvaluation,
} from '../lib/evaluation/evaluate';
import { compareImportance, type ImportanceComparison } from '../lib/explain/importance';
import { decideGate, type GateVerdict } from '../lib/gate';
import { specColumnPowers } from '../lib/validation/leakage';
import { registeredVersionProblem, runLoadCheck, type LoadCheckResult } from '../lib/loadcheck';
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
  /** how much the candidate relies on each feature, beside the champion (null: not measured) */
  importance: ImportanceComparison | null;
  /** the champion could not be trusted (changed bytes, a failed load check): the candidate was judged without it */
  championProblem?: { version: number; detail: string };
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
        // A champion whose bytes changed is never scored: the candidate is judged as if there were none, and a
        // person must approve it (the gate says why), rather than every later batch failing on the broken model.
        const problem =
          input.champion &&
          (await registeredVersionProblem(deps.store, deps.registry, input.spec.name, input.champion.version));
        const championProblem = problem ? { version: input.champion!.version, detail: problem } : undefined;
        const usableChampion = championProblem ? null : input.champion;
        const championRecord = usableChampion
          ? await deps.registry.getVersion(input.spec.name, usableChampion.version)
          : undefined;
        const { table, rows } = await loadHoldout(
          deps.store,
          input.spec,
          input.dataset,
          championRecord ? [championRecord.spec] : [],
        );
        const options = evaluationOptions(input.spec);
        const candidate = {
          ...(await evaluateArtifact(deps.store, input.candidate, table, rows, options)),
          // a property of the data and the spec's columns, measured on the batch judged: a likely leak is said
          ...(input.spec.gate.leakage?.action === 'off'
            ? {}
            : { columnPowers: await specColumnPowers(deps.store, input.spec, input.dataset) }),
        };
        let champion: (ModelEvaluation & { version: number }) | null = null;
        if (usableChampion) {
          champion = {
            ...(await evaluateArtifact(deps.store, usableChampion.artifact, table, rows, options)),
            version: usableChampion.version,
          };
        }
        const verdict = decideGate(input.spec, candidate, champion, championProblem);
        const importance =
          candidate.importance &&
          compareImportance(
            candidate.importance,
            champion?.importance ? { version: champion.version, importance: champion.importance } : null,
          );
        const report = await deps.store.putJson('reports/evaluation', {
          format: 'lumen-evaluation/1',
          model: input.spec.name,
          dataset: input.dataset.sha256,
          holdoutRows: rows.length,
          candidate: { artifact: input.candidate, ...candidate },
          champion: champion && { artifact: usableChampion?.artifact, ...champion },
          championProblem: championProblem ?? null,
          importance,
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
          importance,
          report,
          canary,
          ...(championProblem ? { championProblem } : {}),
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
