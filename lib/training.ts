import { ArtifactRef, ArtifactStore } from './artifacts';
import { loadTable } from './data/table';
import type { DatasetRef } from './data/snapshot';
import {
  columnRequests,
  encodeFeatures,
  encodeLabels,
  fitPreprocessor,
  labelPresent,
  rareClasses,
  splitRows,
} from './features';
import type { Tensor } from '@tensorflow/tfjs';
import { hashJson } from './hash';
import { meanLoss } from './model/dense-trainer';
import { checkEncodingFits, checkTableFits, loadedBytes, trainingMemoryBudget } from './model/memory-budget';
import { deriveSeed, unitHash } from './rng';
import { restoreCheckpoint, saveCheckpoint, saveModelArtifact } from './model/artifact';
import { buildNetwork } from './model/network';
import { loadTf, type TfBackend } from './model/tf';
import { scheduledRate, trainLoop, type EpochStats, type TrainingProgress } from './model/trainer';
import { specHash, type ModelSpec } from './spec';

/** A checkpoint and how far it had got. */
export interface CheckpointMark {
  checkpoint: ArtifactRef;
  epochsDone: number;
}

export interface TrainHooks {
  /** a checkpoint to resume from (from the previous attempt's last heartbeat) */
  resumeFrom?: CheckpointMark;
  /**
   * where checkpoints of this run go in the artifact store; the same for every attempt of one training, so a retry
   * finds the newest checkpoint there even when the heartbeat that carried it never reached the server
   */
  checkpointKind: string;
  /** called once a checkpoint is durable; the caller records it (heartbeat) so a retry can resume */
  onCheckpoint: (checkpoint: ArtifactRef, progress: TrainingProgress) => Promise<void>;
  onBatch?: (epoch: number, batch: number, batches: number) => Promise<void> | void;
  log?: (message: string) => void;
  /**
   * leave the checkpoints, and a note of the finished result, for the caller to release once its result is on
   * record (`releaseCheckpoints`): a retry after a result that never reached the server returns the same model
   * instead of training again. Without it, they are removed as soon as the model is saved.
   */
  keepCheckpoints?: boolean;
  /**
   * a search's trial: hold out this share of the training rows (when early stopping does not already) and report
   * the loss on them, so trials are compared on rows none of them trained on
   */
  validationFraction?: number;
}

export interface TrainOutcome {
  artifact: ArtifactRef;
  backend: TfBackend;
  inputWidth: number;
  trainingRows: number;
  holdoutRows: number;
  unlabelledRows: number;
  sampledOutRows: number;
  epochs: number;
  history: EpochStats[];
  /** early stopping: the epoch whose weights were kept, whether training ended early, rows validated on */
  bestEpoch?: number;
  stoppedEarly?: boolean;
  validationRows?: number;
  /** the loss on the validation rows of the weights kept (early stopping or a search's trial) */
  validationLoss?: number;
  /** learned classes too rare to learn, whose rows were left out of training and evaluation (none: absent) */
  rareClasses?: { class: string; rows: number }[];
  /** epochs restored from a checkpoint instead of trained in this attempt (null: started from scratch) */
  resumedFromEpoch: number | null;
  preprocessorHash: string;
  seconds: number;
  /** where this training's checkpoints are kept until released (with `keepCheckpoints`) */
  checkpoints?: string;
}

const LATEST = 'latest';
const FINISHED = 'finished';

/**
 * The result an earlier attempt of this training finished with, if its model's bytes are still what it recorded:
 * the attempt's completion may have been lost on its way to the server (an outage), and the same work is not done
 * twice.
 */
async function finishedEarlier(store: ArtifactStore, checkpointKind: string): Promise<TrainOutcome | undefined> {
  const note = (await store.readNote(checkpointKind, FINISHED)) as { outcome?: TrainOutcome } | undefined;
  const artifact = ArtifactRef.safeParse(note?.outcome?.artifact);
  if (!note?.outcome || !artifact.success) return undefined;
  try {
    await store.verify(artifact.data);
  } catch {
    return undefined; // the model is gone or changed: train again
  }
  return note.outcome;
}

/** Remove a finished training's checkpoints and its note, once the result is on record. */
export async function releaseCheckpoints(store: ArtifactStore, checkpointKind: string): Promise<void> {
  await store.removeKind(checkpointKind);
}

/** The newest checkpoint an earlier attempt of this training wrote down, if any. */
export async function latestCheckpoint(
  store: ArtifactStore,
  checkpointKind: string,
): Promise<CheckpointMark | undefined> {
  const note = (await store.readNote(checkpointKind, LATEST)) as Partial<CheckpointMark> | undefined;
  const parsed = ArtifactRef.safeParse(note?.checkpoint);
  if (!parsed.success || typeof note?.epochsDone !== 'number') return undefined;
  return { checkpoint: parsed.data, epochsDone: note.epochsDone };
}

/**
 * Train a model on a snapshot: split, fit preprocessing on the training rows, train with a checkpoint after each
 * epoch, and save the result as a content-addressed model artifact.
 */
export async function trainOnDataset(
  store: ArtifactStore,
  spec: ModelSpec,
  dataset: DatasetRef,
  hooks: TrainHooks,
): Promise<TrainOutcome> {
  const started = performance.now();
  const done = hooks.keepCheckpoints ? await finishedEarlier(store, hooks.checkpointKind) : undefined;
  if (done) {
    hooks.log?.(
      `${spec.name}: an earlier attempt finished this training (${done.artifact.sha256.slice(0, 12)}); its model is the result`,
    );
    return { ...done, resumedFromEpoch: done.epochs };
  }
  const { tf, backend } = await loadTf();
  const budget = trainingMemoryBudget();
  const requests = columnRequests(spec);
  const what = `dataset ${dataset.sha256.slice(0, 12)}`;
  checkTableFits(what, dataset.rows, requests, budget);
  const table = await loadTable(store, dataset, requests);
  const split = splitRows(table.rows, labelPresent(spec, table), spec.training);
  if (split.train.length === 0) throw new Error(`dataset ${dataset.sha256} has no labelled training rows`);
  // classes too rare to learn are left out (labelPresent) and named in the outcome
  const rare = rareClasses(spec, table);
  if (rare.length) {
    hooks.log?.(
      `${spec.name}: classes too rare to learn (fewer than ${spec.label.kind === 'classes' ? spec.label.minClassRows : 0} rows), left out: ${rare.map((c) => `"${c.class}" (${c.rows})`).join(', ')}`,
    );
  }
  // early stopping: a validation share of the training rows, chosen by a seeded hash, never trained on
  const early = spec.training.earlyStopping;
  const validationSeed = deriveSeed(spec.training.seed, 'validation');
  const fraction = early?.validationFraction ?? hooks.validationFraction;
  const trainRows =
    fraction !== undefined ? split.train.filter((r) => unitHash(validationSeed, r) >= fraction) : split.train;
  const validationRows =
    fraction !== undefined ? split.train.filter((r) => unitHash(validationSeed, r) < fraction) : null;
  if (trainRows.length === 0) throw new Error(`dataset ${dataset.sha256} leaves no training rows beside validation`);
  if (validationRows && validationRows.length === 0) {
    throw new Error(
      `no validation rows in ${split.train.length} training rows (a share of ${fraction}); raise validationFraction`,
    );
  }
  const preprocessor = fitPreprocessor(spec, table, trainRows);
  const preprocessorHash = hashJson(preprocessor);
  checkEncodingFits(what, split.train.length, preprocessor.width, loadedBytes(table.rows, requests), budget);
  const data = {
    x: encodeFeatures(preprocessor, table, trainRows),
    y: encodeLabels(preprocessor, table, trainRows),
    rows: trainRows.length,
    width: preprocessor.width,
  };
  const validation = validationRows && {
    x: encodeFeatures(preprocessor, table, validationRows),
    y: encodeLabels(preprocessor, table, validationRows),
    rows: validationRows.length,
  };
  const model = buildNetwork(tf, spec, preprocessor);
  try {
    let start: TrainingProgress | undefined;
    let startBest: Tensor[] | undefined;
    let resumedFromEpoch: number | null = null;
    // the newest of what the server last heard (heartbeat) and what the last attempt wrote down (note)
    const candidates = [await latestCheckpoint(store, hooks.checkpointKind), hooks.resumeFrom]
      .filter((c): c is CheckpointMark => c !== undefined)
      .sort((a, b) => b.epochsDone - a.epochsDone);
    for (const candidate of candidates) {
      try {
        const saved = await restoreCheckpoint(store, tf, candidate.checkpoint, model, (p) => {
          if (p.preprocessorHash !== preprocessorHash) throw new Error('made with different preprocessing');
          if (p.epochsDone > spec.training.epochs) {
            throw new Error(`it is after epoch ${p.epochsDone}, beyond the ${spec.training.epochs} planned`);
          }
        });
        start = { epochsDone: saved.epochsDone, history: saved.history, ...(saved.best ? { best: saved.best } : {}) };
        startBest = saved.bestWeights;
        resumedFromEpoch = saved.epochsDone;
        hooks.log?.(`resuming ${spec.name} from checkpoint after epoch ${saved.epochsDone}`);
        break;
      } catch (err) {
        // A checkpoint that cannot be trusted is discarded, never half-used: try an older one, else start over
        // from the seeded initialisation.
        hooks.log?.(`ignoring checkpoint ${candidate.checkpoint.uri}: ${(err as Error).message}`);
        const fresh = buildNetwork(tf, spec, preprocessor);
        model.setWeights(fresh.getWeights());
        fresh.dispose();
      }
    }
    const progress = await trainLoop(tf, model, data, {
      epochs: spec.training.epochs,
      batchSize: spec.training.batchSize,
      seed: spec.training.seed,
      balanced: spec.training.classWeight === 'balanced',
      start,
      onBatch: hooks.onBatch,
      learningRate: scheduledRate(spec.training.learningRate, spec.training.epochs, spec.training.schedule),
      ...(early && validation
        ? {
            earlyStopping: {
              validate: () => meanLoss(tf, model, validation.x, validation.y, validation.rows, preprocessor.width),
              patience: early.patience,
              minDelta: early.minDelta,
              bestWeights: startBest,
            },
          }
        : {}),
      onEpochEnd: async (p, best) => {
        const ref = await saveCheckpoint(store, tf, hooks.checkpointKind, model, { ...p, preprocessorHash }, best);
        await store.writeNote(hooks.checkpointKind, LATEST, { checkpoint: ref, epochsDone: p.epochsDone });
        // Older checkpoints stay until the run ends: heartbeats are throttled, so the server may still hold
        // the reference of an earlier one when the worker dies.
        await hooks.onCheckpoint(ref, p);
      },
    });
    const validationLoss =
      progress.best?.validationLoss ??
      (validation ? meanLoss(tf, model, validation.x, validation.y, validation.rows, preprocessor.width) : undefined);
    const artifact = await saveModelArtifact(store, tf, {
      model,
      preprocessor,
      spec,
      card: {
        model: spec.name,
        task: spec.task,
        specHash: specHash(spec),
        datasetSha256: dataset.sha256,
        backend,
        seed: spec.training.seed,
        epochs: progress.epochsDone,
        trainingRows: data.rows,
        lossHistory: progress.history.map(({ epoch, loss }) => ({ epoch, loss })),
      },
    });
    tf.dispose(startBest ?? []);
    const outcome: TrainOutcome = {
      artifact,
      backend,
      inputWidth: preprocessor.width,
      trainingRows: data.rows,
      holdoutRows: split.holdout.length,
      unlabelledRows: split.unlabelled - rare.reduce((n, c) => n + c.rows, 0),
      ...(rare.length ? { rareClasses: rare } : {}),
      sampledOutRows: split.sampledOut,
      epochs: progress.epochsDone,
      history: progress.history,
      ...(progress.best
        ? {
            bestEpoch: progress.best.epoch,
            stoppedEarly: progress.stoppedEarly ?? false,
            validationRows: validation?.rows ?? 0,
          }
        : {}),
      ...(validationLoss !== undefined ? { validationLoss, validationRows: validation?.rows ?? 0 } : {}),
      resumedFromEpoch,
      preprocessorHash,
      seconds: (performance.now() - started) / 1000,
      ...(hooks.keepCheckpoints ? { checkpoints: hooks.checkpointKind } : {}),
    };
    if (hooks.keepCheckpoints) await store.writeNote(hooks.checkpointKind, FINISHED, { outcome });
    else await store.removeKind(hooks.checkpointKind);
    return outcome;
  } finally {
    model.dispose();
  }
}
