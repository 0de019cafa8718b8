import fs from 'node:fs';
import path from 'node:path';
import type { LayersModel, Tensor, io } from '@tensorflow/tfjs';
import { z } from 'zod';
import { ArtifactRef, ArtifactStore } from '../artifacts';
import { ArtifactIntegrityError } from '../errors';
import type { Preprocessor } from '../features';
import type { ModelSpec } from '../spec';
import type { TrainingProgress } from './trainer';
import { optimizerState, restoreOptimizerState } from './trainer';
import type { Tf } from './tf';
import { joinWeightData, modelTensors, readTensors, writeTensors } from './weights';

/** What a model artifact says about itself, so it can be understood without the registry. */
export const ModelCard = z.object({
  format: z.literal('lumen-model/1'),
  model: z.string(),
  task: z.string(),
  specHash: z.string(),
  datasetSha256: z.string(),
  backend: z.string(),
  seed: z.number(),
  epochs: z.number(),
  trainingRows: z.number(),
  /** loss per epoch; timings stay out so that the same data, spec, seed and code give the same digest */
  lossHistory: z.array(z.object({ epoch: z.number(), loss: z.number() })),
});
export type ModelCard = z.infer<typeof ModelCard>;

export interface LoadedModel {
  model: LayersModel;
  preprocessor: Preprocessor;
  spec: ModelSpec;
  card: ModelCard;
}

async function captureModel(tf: Tf, model: LayersModel): Promise<io.ModelArtifacts> {
  let captured: io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((artifacts) => {
      captured = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } });
    }),
  );
  if (!captured) throw new Error('model.save produced no artifacts');
  return captured;
}

/**
 * Write a trained model as a content-addressed directory: topology, weights, the fitted preprocessor, the spec
 * and a model card. Its digest (of a manifest of per-file sha256s) is what the registry records.
 */
export async function saveModelArtifact(
  store: ArtifactStore,
  tf: Tf,
  parts: { model: LayersModel; preprocessor: Preprocessor; spec: ModelSpec; card: Omit<ModelCard, 'format'> },
): Promise<ArtifactRef> {
  const dir = store.tempPath('model');
  fs.mkdirSync(dir, { recursive: true });
  const artifacts = await captureModel(tf, parts.model);
  fs.writeFileSync(
    path.join(dir, 'model.json'),
    JSON.stringify({ modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs }),
  );
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(joinWeightData(tf, artifacts.weightData!)));
  fs.writeFileSync(path.join(dir, 'preprocessor.json'), JSON.stringify(parts.preprocessor));
  fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(parts.spec, null, 2));
  fs.writeFileSync(path.join(dir, 'card.json'), JSON.stringify({ format: 'lumen-model/1', ...parts.card }, null, 2));
  return store.putDirectory(`models/${parts.spec.name}`, dir);
}

/** Load a model after re-verifying every byte against the registered digest. */
export async function loadModelArtifact(store: ArtifactStore, tf: Tf, ref: ArtifactRef): Promise<LoadedModel> {
  const dir = await store.verify(ref);
  const read = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
  const topology = read('model.json') as { modelTopology: object; weightSpecs: io.WeightsManifestEntry[] };
  const buf = fs.readFileSync(path.join(dir, 'weights.bin'));
  const expectedBytes = topology.weightSpecs.reduce(
    (sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * (s.dtype === 'float32' || s.dtype === 'int32' ? 4 : 1),
    0,
  );
  if (buf.byteLength !== expectedBytes) {
    throw new ArtifactIntegrityError(
      `model ${ref.uri}: weights.bin has ${buf.byteLength} bytes, topology needs ${expectedBytes}`,
    );
  }
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: topology.modelTopology,
      weightSpecs: topology.weightSpecs,
      weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    }),
  );
  return {
    model,
    preprocessor: read('preprocessor.json') as Preprocessor,
    spec: read('spec.json') as ModelSpec,
    card: ModelCard.parse(read('card.json')),
  };
}

/** A resumable training state: weights, optimizer moments and the epoch history, as one verified artifact. */
export async function saveCheckpoint(
  store: ArtifactStore,
  tf: Tf,
  kind: string,
  model: LayersModel,
  saved: SavedProgress,
  /** early stopping: the best epoch's weights, when they are not the model's own */
  best?: Tensor[],
): Promise<ArtifactRef> {
  const dir = store.tempPath('checkpoint');
  fs.mkdirSync(dir, { recursive: true });
  await writeTensors(tf, dir, 'weights', modelTensors(model.getWeights()));
  await writeTensors(tf, dir, 'optimizer', await optimizerState(model));
  if (best) await writeTensors(tf, dir, 'best', modelTensors(best));
  fs.writeFileSync(path.join(dir, 'progress.json'), JSON.stringify(saved));
  return store.putDirectory(kind, dir);
}

/** Training progress plus what it is only valid for (the exact preprocessing of the exact data). */
export interface SavedProgress extends TrainingProgress {
  preprocessorHash: string;
}

/**
 * Load a checkpoint into a model and its optimizer. `accept` sees the saved progress first and throws when the
 * checkpoint does not belong to this training, so a foreign checkpoint never touches the model.
 */
export async function restoreCheckpoint(
  store: ArtifactStore,
  tf: Tf,
  ref: ArtifactRef,
  model: LayersModel,
  accept: (saved: SavedProgress) => void,
): Promise<SavedProgress & { bestWeights?: Tensor[] }> {
  const dir = await store.verify(ref);
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'progress.json'), 'utf8')) as SavedProgress;
  accept(saved);
  const weights = readTensors(tf, dir, 'weights');
  model.setWeights(weights.map((w) => w.tensor));
  weights.forEach((w) => w.tensor.dispose());
  await restoreOptimizerState(model, readTensors(tf, dir, 'optimizer'));
  if (saved.best && !fs.existsSync(path.join(dir, 'best.json'))) {
    throw new Error(`it names epoch ${saved.best.epoch} as the best but holds no weights for it`);
  }
  const best = saved.best ? readTensors(tf, dir, 'best').map((w) => w.tensor) : undefined;
  return { ...saved, ...(best ? { bestWeights: best } : {}) };
}
