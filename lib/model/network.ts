import { embeddingsOf, type EmbeddingInput, type Preprocessor } from '../features';
import { deriveSeed } from '../rng';
import type { ModelSpec } from '../spec';
import type { Tf } from './tf';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs';

/** Output width, activation and loss follow the task. */
export function headFor(pre: Preprocessor): {
  units: number;
  activation: 'sigmoid' | 'softmax' | 'linear';
  loss: string;
} {
  switch (pre.label.task) {
    case 'binary':
      return { units: 1, activation: 'sigmoid', loss: 'binaryCrossentropy' };
    case 'multiclass':
      return { units: pre.label.classes.length, activation: 'softmax', loss: 'sparseCategoricalCrossentropy' };
    case 'regression':
      return { units: 1, activation: 'linear', loss: 'meanSquaredError' };
  }
}

/** The hidden layers' kernel penalty the spec asks for (`training.l2`); undefined: none. */
function penalty(tf: Tf, spec: ModelSpec): ReturnType<Tf['regularizers']['l2']> | undefined {
  const l2 = spec.training.l2;
  return l2 ? tf.regularizers.l2({ l2 }) : undefined;
}

/**
 * A multilayer perceptron whose every initialiser is seeded from the spec's seed. With embedded features it takes
 * the encoded row in parts — `dense` (every other input), then `index_<j>` per embedded feature, each looked up in
 * `embedding_<j>` — and joins them before the first hidden layer; `modelInputs` cuts an encoded row so.
 */
export function buildNetwork(tf: Tf, spec: ModelSpec, pre: Preprocessor): LayersModel {
  const embeddings = embeddingsOf(pre);
  if (embeddings.length > 0) return buildEmbeddedNetwork(tf, spec, pre, embeddings);
  const { hiddenUnits, activation, learningRate, seed } = spec.training;
  const head = headFor(pre);
  const model = tf.sequential({ name: spec.name.replaceAll('-', '_') });
  hiddenUnits.forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation,
        inputShape: i === 0 ? [pre.width] : undefined,
        kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, `init:${i}`) }),
        biasInitializer: 'zeros',
        kernelRegularizer: penalty(tf, spec),
        name: `hidden_${i}`,
      }),
    );
  });
  model.add(
    tf.layers.dense({
      units: head.units,
      activation: head.activation,
      inputShape: hiddenUnits.length === 0 ? [pre.width] : undefined,
      kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, 'init:head') }),
      name: 'head',
    }),
  );
  model.compile({ optimizer: tf.train.adam(learningRate), loss: head.loss });
  return model;
}

function buildEmbeddedNetwork(tf: Tf, spec: ModelSpec, pre: Preprocessor, embeddings: EmbeddingInput[]): LayersModel {
  const { hiddenUnits, activation, learningRate, seed } = spec.training;
  const head = headFor(pre);
  const denseWidth = pre.width - embeddings.length;
  const inputs: SymbolicTensor[] = [];
  const parts: SymbolicTensor[] = [];
  if (denseWidth > 0) {
    const dense = tf.input({ shape: [denseWidth], name: 'dense' });
    inputs.push(dense);
    parts.push(dense);
  }
  embeddings.forEach((e, j) => {
    const index = tf.input({ shape: [1], name: `index_${j}` });
    inputs.push(index);
    const vectors = tf.layers
      .embedding({
        inputDim: e.rows,
        outputDim: e.dim,
        // Keras' default range, seeded
        embeddingsInitializer: tf.initializers.randomUniform({
          minval: -0.05,
          maxval: 0.05,
          seed: deriveSeed(seed, `embedding:${e.feature}`),
        }),
        name: `embedding_${j}`,
      })
      .apply(index) as SymbolicTensor;
    parts.push(tf.layers.flatten({ name: `flatten_${j}` }).apply(vectors) as SymbolicTensor);
  });
  let h = parts.length > 1 ? (tf.layers.concatenate({ name: 'joined' }).apply(parts) as SymbolicTensor) : parts[0];
  hiddenUnits.forEach((units, i) => {
    h = tf.layers
      .dense({
        units,
        activation,
        kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, `init:${i}`) }),
        biasInitializer: 'zeros',
        kernelRegularizer: penalty(tf, spec),
        name: `hidden_${i}`,
      })
      .apply(h) as SymbolicTensor;
  });
  const output = tf.layers
    .dense({
      units: head.units,
      activation: head.activation,
      kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(seed, 'init:head') }),
      name: 'head',
    })
    .apply(h) as SymbolicTensor;
  const model = tf.model({ inputs, outputs: output, name: spec.name.replaceAll('-', '_') });
  model.compile({ optimizer: tf.train.adam(learningRate), loss: head.loss });
  return model;
}
