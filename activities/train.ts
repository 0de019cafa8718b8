import { Context, log } from '@temporalio/activity';
import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import { sha256 } from '../lib/hash';
import type { TrainingProgress } from '../lib/model/trainer';
import { specHash, type ModelSpec } from '../lib/spec';
import { releaseCheckpoints, trainOnDataset, type TrainOutcome } from '../lib/training';
import { asActivity, reportProgress, type ActivityDeps } from './context';

export interface TrainInput {
  spec: ModelSpec;
  dataset: DatasetRef;
  /** a search's trial: the share of training rows held out to compare trials on */
  validationFraction?: number;
  /**
   * keep the checkpoints (and the finished result) until the workflow releases them, having recorded the result
   * (runs since KEEP_CHECKPOINTS ask for it; older ones had them removed at once)
   */
  keepCheckpoints?: boolean;
}

/** Heartbeat details: enough for the next attempt to resume from the last completed epoch. */
export interface TrainHeartbeat {
  epochsDone: number;
  checkpoint?: ArtifactRef;
  epoch?: number;
  batch?: number;
  batches?: number;
  loss?: number;
}

export function trainActivities(deps: ActivityDeps) {
  return {
    /**
     * Train a model. After every epoch a checkpoint (weights + optimizer state) is written, noted beside the
     * checkpoints and heartbeated; a retry after a crash or a worker kill resumes from the newer of the two, so
     * it continues from the last completed epoch even when the heartbeat never reached the server.
     */
    async trainModel(input: TrainInput): Promise<TrainOutcome> {
      const ctx = Context.current();
      const info = ctx.info;
      const previous = info.heartbeatDetails as TrainHeartbeat | undefined;
      let state: TrainHeartbeat = { epochsDone: previous?.epochsDone ?? 0, checkpoint: previous?.checkpoint };
      // the same for every attempt of this training (and only this one: same run, data and spec)
      const key = sha256(
        `${info.workflowExecution?.workflowId ?? info.activityId}/${info.activityId}/${input.dataset.sha256}/${specHash(input.spec)}`,
      ).slice(0, 16);
      return asActivity(() =>
        trainOnDataset(deps.store, input.spec, input.dataset, {
          resumeFrom: previous?.checkpoint && { checkpoint: previous.checkpoint, epochsDone: previous.epochsDone },
          checkpointKind: `checkpoints/${input.spec.name}/${key}`,
          onCheckpoint: (checkpoint: ArtifactRef, progress: TrainingProgress) => {
            const last = progress.history[progress.history.length - 1];
            state = { epochsDone: progress.epochsDone, checkpoint, loss: last?.loss };
            reportProgress(state);
            if (last) deps.metrics?.epoch(input.spec.name, last);
            log.info('epoch complete', { model: input.spec.name, epoch: progress.epochsDone, loss: last?.loss });
            return Promise.resolve();
          },
          onBatch: (epoch, batch, batches) => {
            if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
            reportProgress({ ...state, epoch: epoch + 1, batch, batches });
          },
          log: (message) => {
            log.info(message);
          },
          ...(input.validationFraction !== undefined ? { validationFraction: input.validationFraction } : {}),
          ...(input.keepCheckpoints ? { keepCheckpoints: true } : {}),
        }),
      );
    },
  };
}

/** Where a training's checkpoints live: never anything else, whatever a caller passes. */
const CHECKPOINT_KIND = /^checkpoints\/[^/]+\/[0-9a-f]{16}$/;

/** On the pipeline queue: the workflow releases a training's checkpoints once it has recorded the result. */
export function checkpointActivities(deps: ActivityDeps) {
  return {
    async releaseCheckpoints(input: { kinds: string[] }): Promise<void> {
      return asActivity(async () => {
        for (const kind of input.kinds) {
          if (!CHECKPOINT_KIND.test(kind)) throw new Error(`"${kind}" does not name a training's checkpoints`);
          await releaseCheckpoints(deps.store, kind);
        }
      });
    },
  };
}
