import { ApplicationFailure, log } from '@temporalio/workflow';
import type { TrainingActivities } from '../activities';
import type { DatasetRef } from '../lib/data/snapshot';
// lib/model/search is pure arithmetic over the spec (no I/O): the trials must be the same on every replay
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import {
  bestTrial,
  describeTrial,
  searchTrials,
  searchValidationFraction,
  trialSpec,
  type TrialResult,
} from '../lib/model/search';
import type { ModelSpec } from '../lib/spec';
import type { TrainOutcome } from '../lib/training';
import type { PipelineStatus, SearchSummary, SearchTrialRecord } from './definitions';
import { failureMessage } from './failures';

/**
 * A hyperparameter search inside the pipeline's train step: every trial trains as its own activity on the training
 * queue (so trials spread over the training workers, heartbeat and resume from their checkpoints like any training),
 * `parallelism` at a time. A trial that fails for good is recorded with its error and the others go on; the search
 * fails only when every trial does. The trial with the lowest validation loss is the candidate.
 */
export async function trainWithSearch(
  heavy: TrainingActivities,
  spec: ModelSpec,
  dataset: DatasetRef,
  status: PipelineStatus,
  /** with it, each trial keeps its checkpoints until its result is recorded here, then they are released */
  release?: (kinds: string[]) => Promise<void>,
): Promise<TrainOutcome & { search: SearchSummary }> {
  const search = spec.training.search;
  if (!search) throw new Error('the spec declares no search');
  const trials = searchTrials(spec.training);
  const validationFraction = searchValidationFraction(spec.training);
  const outcomes: (TrainOutcome | null)[] = trials.map(() => null);
  const records: SearchTrialRecord[] = [];
  status.search = { done: 0, trials: trials.length, running: [] };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < trials.length) {
      const trial = trials[next++];
      status.search!.running.push(trial.index);
      let record: SearchTrialRecord;
      try {
        const outcome = await heavy.trainModel({
          spec: trialSpec(spec, trial),
          dataset,
          validationFraction,
          ...(release ? { keepCheckpoints: true } : {}),
        });
        if (release && outcome.checkpoints) await release([outcome.checkpoints]);
        outcomes[trial.index] = outcome;
        record = {
          index: trial.index,
          options: trial.options,
          validationLoss: outcome.validationLoss ?? null,
          artifactSha256: outcome.artifact.sha256,
          epochs: outcome.epochs,
          ...(outcome.bestEpoch !== undefined ? { bestEpoch: outcome.bestEpoch } : {}),
          seconds: outcome.seconds,
          resumedFromEpoch: outcome.resumedFromEpoch,
        };
        log.info('search trial done', { trial: trial.index, validationLoss: outcome.validationLoss });
      } catch (err) {
        const message = failureMessage(err);
        record = {
          index: trial.index,
          options: trial.options,
          validationLoss: null,
          error: message,
          artifactSha256: null,
          epochs: null,
          seconds: null,
          resumedFromEpoch: null,
        };
        log.warn('search trial failed', { trial: trial.index, error: message });
      }
      records.push(record);
      status.search!.done++;
      status.search!.running = status.search!.running.filter((i) => i !== trial.index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(search.parallelism, trials.length) }, lane));
  records.sort((a, b) => a.index - b.index);
  const best = bestTrial(records satisfies TrialResult[]);
  if (!best) {
    throw ApplicationFailure.nonRetryable(
      `every one of ${records.length} search trials failed: ${records.map((r) => `#${r.index} (${describeTrial(r.options)}): ${r.error ?? `validation loss ${r.validationLoss}`}`).join('; ')}`,
      'SearchFailed',
    );
  }
  const chosen = outcomes[best.index]!;
  return { ...chosen, search: { method: search.method, validationFraction, chosen: best.index, trials: records } };
}
