import { Context, log } from '@temporalio/activity';
import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import { sha256 } from '../lib/hash';
import type { TrainingProgress } from '../lib/model/trainer';
import type { ModelSpec } from '../lib/spec';
import { trainOnDataset, type TrainOutcome } from '../lib/training';
import { asActivity, type ActivityDeps } from './context';

export interface TrainInput {
  spec: ModelSpec;
  dataset: DatasetRef;
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
     * Train a model. After every epoch a checkpoint (weights + optimizer state) is written and its reference is
     * heartbeated; a retry after a crash or a worker kill picks it up from `heartbeatDetails` and continues from
     * that epoch.
     */
    async trainModel(input: TrainInput): Promise<TrainOutcome> {
      const ctx = Context.current();
      const info = ctx.info;
      const previous = info.heartbeatDetails as TrainHeartbeat | undefined;
      let state: TrainHeartbeat = { epochsDone: previous?.epochsDone ?? 0, checkpoint: previous?.checkpoint };
      const key = sha256(`${info.workflowExecution?.workflowId ?? info.activityId}/${info.activityId}`).slice(0, 16);
      return asActivity(() =>
        trainOnDataset(deps.store, input.spec, input.dataset, {
          resumeFrom: previous?.checkpoint,
          checkpointKind: `checkpoints/${input.spec.name}/${key}`,
          onCheckpoint: (checkpoint: ArtifactRef, progress: TrainingProgress) => {
            const last = progress.history[progress.history.length - 1];
            state = { epochsDone: progress.epochsDone, checkpoint, loss: last?.loss };
            ctx.heartbeat(state);
            log.info('epoch complete', { model: input.spec.name, epoch: progress.epochsDone, loss: last?.loss });
            return Promise.resolve();
          },
          onBatch: (epoch, batch, batches) => {
            if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
            ctx.heartbeat({ ...state, epoch: epoch + 1, batch, batches });
          },
          log: (message) => {
            log.info(message);
          },
        }),
      );
    },
  };
}
