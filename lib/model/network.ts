import type { Preprocessor } from '../features';
import { deriveSeed } from '../rng';
import type { ModelSpec } from '../spec';
import type { Tf } from './tf';
import type { LayersModel } from '@tensorflow/tfjs';

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

/** A multilayer perceptron whose every initialiser is seeded from the spec's seed. */
export function buildNetwork(tf: Tf, spec: ModelSpec, pre: Preprocessor): LayersModel {
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
