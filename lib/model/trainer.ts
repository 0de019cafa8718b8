import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { NamedTensor } from '@tensorflow/tfjs-core/dist/tensor_types';
import { TrainingDiverged } from '../errors';
import { deriveSeed, permutation, prng } from '../rng';
import { DenseTrainer } from './dense-trainer';
import { modelInputs } from './predict';
import type { Tf } from './tf';

export interface EpochStats {
  epoch: number;
  loss: number;
  seconds: number;
  samplesPerSecond: number;
  /** the loss on the validation rows after this epoch (early stopping only) */
  validationLoss?: number;
}

/** Where training stands after `epochsDone` complete epochs. */
export interface TrainingProgress {
  epochsDone: number;
  history: EpochStats[];
  /** early stopping: the epoch with the lowest validation loss so far, whose weights are kept */
  best?: { epoch: number; validationLoss: number };
  /** early stopping: training ended before its planned epochs */
  stoppedEarly?: boolean;
}

export interface EarlyStopping {
  /** the loss on the validation rows, of the model as it is now */
  validate: () => number;
  patience: number;
  minDelta: number;
  /** the best epoch's weights, when resuming (from the checkpoint) */
  bestWeights?: Tensor[];
}

export interface TrainingData {
  /** row-major rows × width */
  x: Float32Array;
  /** one value per row: 0/1, class index, or standardised target */
  y: Float32Array;
  rows: number;
  width: number;
}

export interface TrainLoopOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  /** resume after this many completed epochs (their weights and optimizer state already restored) */
  start?: TrainingProgress;
  /**
   * called after every epoch, with the model in its end-of-epoch state; persist a checkpoint here (with early
   * stopping, `best` holds the best epoch's weights: keep them in the checkpoint)
   */
  onEpochEnd?: (progress: TrainingProgress, best?: Tensor[]) => Promise<void>;
  /** stop when the validation loss stops improving, and end with the best epoch's weights */
  earlyStopping?: EarlyStopping;
  /** the learning rate of each epoch (0-based), set on the optimizer as the epoch starts; default: unchanged */
  learningRate?: (epoch: number) => number;
  /** called every few batches; a place to heartbeat and to notice cancellation */
  onBatch?: (epoch: number, batch: number, batches: number) => Promise<void> | void;
  /**
   * dense: the hand-written step (lib/model/dense-trainer.ts), for the networks it can train — every one Lumen
   * builds; layers: tfjs-layers' trainOnBatch (the reference the tests hold the dense step to). Default: dense.
   */
  engine?: 'dense' | 'layers';
  /**
   * draw every class (the distinct values of y) equally often into each epoch's batches: an epoch is `rows` draws,
   * each a seeded choice of a class, then of a row of it (classWeight "balanced")
   */
  balanced?: boolean;
}

/** An epoch's rows under balanced classes: `rows` seeded draws, a class uniformly, then a row of it uniformly. */
export function balancedOrder(y: Float32Array, rows: number, seed: number): Uint32Array {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < rows; i++) {
    const list = byClass.get(y[i]);
    if (list) list.push(i);
    else byClass.set(y[i], [i]);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b).map((c) => byClass.get(c)!);
  const rand = prng(seed);
  const order = new Uint32Array(rows);
  for (let i = 0; i < rows; i++) {
    const members = classes[Math.floor(rand() * classes.length)];
    order[i] = members[Math.floor(rand() * members.length)];
  }
  return order;
}

/**
 * Mini-batch training with a seeded shuffle per epoch. Batches are assembled from host arrays (never by slicing a
 * big resident tensor), and the permutation depends only on (seed, epoch), so a run resumed at epoch k sees
 * exactly the batches an uninterrupted run would have seen.
 */
export async function trainLoop(
  tf: Tf,
  model: LayersModel,
  data: TrainingData,
  opts: TrainLoopOptions,
): Promise<TrainingProgress> {
  const { rows, width, x, y } = data;
  if (rows === 0) throw new Error('no training rows');
  const batchSize = Math.min(opts.batchSize, rows);
  const batches = Math.ceil(rows / batchSize);
  const progress: TrainingProgress = {
    epochsDone: opts.start?.epochsDone ?? 0,
    history: [...(opts.start?.history ?? [])],
    ...(opts.start?.best ? { best: { ...opts.start.best } } : {}),
  };
  const early = opts.earlyStopping;
  // the best epoch's weights, kept as copies while later epochs train on
  let bestWeights: Tensor[] | undefined = early?.bestWeights?.map((w) => w.clone());
  const patienceLeft = (): boolean =>
    !early || !progress.best || progress.epochsDone - progress.best.epoch < early.patience;
  const xb = new Float32Array(batchSize * width);
  const yb = new Float32Array(batchSize);
  const dense = opts.engine === 'layers' ? null : DenseTrainer.for(tf, model);
  await dense?.importState();
  try {
    for (let epoch = progress.epochsDone; epoch < opts.epochs && patienceLeft(); epoch++) {
      const started = performance.now();
      if (opts.learningRate)
        (model.optimizer as unknown as { learningRate: number }).learningRate = opts.learningRate(epoch);
      const order = opts.balanced
        ? balancedOrder(y, rows, deriveSeed(opts.seed, `balanced:${epoch}`))
        : permutation(rows, deriveSeed(opts.seed, `shuffle:${epoch}`));
      let lossSum = 0;
      for (let b = 0; b < batches; b++) {
        const from = b * batchSize;
        const m = Math.min(batchSize, rows - from);
        for (let r = 0; r < m; r++) {
          const row = order[from + r];
          xb.set(x.subarray(row * width, (row + 1) * width), r * width);
          yb[r] = y[row];
        }
        if (dense) {
          lossSum += dense.step(xb.subarray(0, m * width), yb.subarray(0, m), m, width);
        } else {
          const xs = tf.tensor2d(xb.subarray(0, m * width), [m, width]);
          const inputs = modelInputs(tf, model, xs);
          const ys = tf.tensor2d(yb.subarray(0, m), [m, 1]);
          try {
            const loss = (await model.trainOnBatch(inputs, ys)) as number;
            lossSum += loss * m;
          } finally {
            tf.dispose([xs, ys, inputs]);
          }
        }
        if (opts.onBatch && (b % 16 === 15 || b === batches - 1)) await opts.onBatch(epoch, b + 1, batches);
      }
      const seconds = (performance.now() - started) / 1000;
      const loss = lossSum / rows;
      if (!Number.isFinite(loss))
        throw new TrainingDiverged(`training diverged: loss is ${loss} after epoch ${epoch + 1}`);
      progress.epochsDone = epoch + 1;
      const stats: EpochStats = { epoch: epoch + 1, loss, seconds, samplesPerSecond: rows / seconds };
      if (early) {
        stats.validationLoss = early.validate();
        if (!Number.isFinite(stats.validationLoss)) {
          throw new TrainingDiverged(`validation loss is ${stats.validationLoss} after epoch ${epoch + 1}`);
        }
        if (!progress.best || stats.validationLoss < progress.best.validationLoss - early.minDelta) {
          progress.best = { epoch: epoch + 1, validationLoss: stats.validationLoss };
          tf.dispose(bestWeights ?? []);
          bestWeights = model.getWeights().map((w) => w.clone());
        }
      }
      progress.history.push(stats);
      // the checkpoint reads Adam's state from the model's optimizer
      await dense?.exportState();
      if (opts.onEpochEnd) {
        const snapshot: TrainingProgress = { epochsDone: progress.epochsDone, history: [...progress.history] };
        if (progress.best) snapshot.best = { ...progress.best };
        await opts.onEpochEnd(snapshot, bestWeights);
      }
    }
    if (early && progress.best) {
      progress.stoppedEarly = progress.epochsDone < opts.epochs;
      // end with the best epoch's weights
      if (progress.best.epoch < progress.epochsDone && bestWeights) model.setWeights(bestWeights);
    }
  } finally {
    dense?.dispose();
    tf.dispose(bestWeights ?? []);
  }
  return progress;
}

/** Optimizer state (Adam moments and step count) — needed for a resumed run to continue, not restart, descent. */
export async function optimizerState(model: LayersModel): Promise<NamedTensor[]> {
  return model.optimizer.getWeights();
}

export async function restoreOptimizerState(model: LayersModel, state: NamedTensor[]): Promise<void> {
  await model.optimizer.setWeights(state);
}

/** The learning rate of an epoch under a spec's schedule (a pure function of the epoch: a resumed run agrees). */
export function scheduledRate(
  base: number,
  epochs: number,
  schedule: { kind: 'exponential'; rate: number } | { kind: 'cosine'; minFactor: number } | undefined,
): (epoch: number) => number {
  if (!schedule) return () => base;
  if (schedule.kind === 'exponential') return (epoch) => base * schedule.rate ** epoch;
  const last = Math.max(1, epochs - 1);
  return (epoch) =>
    base *
    (schedule.minFactor + (1 - schedule.minFactor) * 0.5 * (1 + Math.cos((Math.PI * Math.min(epoch, last)) / last)));
}
