import fs from 'node:fs';
import { z } from 'zod';
import { SpecError } from './errors';
import { GatePolicy } from './gate-policy';
import { MonitorPolicy } from './monitor/policy';
import { ServingPolicy } from './serving/policy';
import { hashJson } from './hash';
import {
  ColumnName,
  SourceColumn,
  ValidationPolicy,
  contractHash,
  type ColumnType,
  type Contract,
} from './validation/contract';

/**
 * A model is declared, not coded: the spec names the source columns, the label and its rule, the features and
 * their transforms, the task, and the training settings. Its canonical hash goes into lineage.
 */

export { ColumnType, SourceColumn } from './validation/contract';

/** feature names become input names ("origin=ATL") and keys in reports: plain identifiers */
const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier (letters, digits, _)');

export const Task = z.enum(['binary', 'multiclass', 'regression']);
export type Task = z.infer<typeof Task>;

export const LabelRule = z.discriminatedUnion('kind', [
  /** binary: positive when `column op value`, e.g. delay > 15 */
  z.strictObject({
    kind: z.literal('threshold'),
    column: ColumnName,
    op: z.enum(['>', '>=', '<', '<=']),
    value: z.number(),
  }),
  /** binary: positive when the column takes one of these values */
  z.strictObject({
    kind: z.literal('oneOf'),
    column: ColumnName,
    positive: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1),
  }),
  /** multiclass: one class per distinct value; declared classes fix the order, otherwise learned (sorted) */
  z.strictObject({
    kind: z.literal('classes'),
    column: ColumnName,
    classes: z.array(z.string()).min(2).optional(),
    /**
     * learned classes with fewer labelled rows than this are too rare to learn (or to measure on a holdout): their
     * rows are left out of training and evaluation, and the run names them with their counts
     */
    minClassRows: z.number().int().min(1).default(10),
  }),
  /** regression: the column's value */
  z.strictObject({ kind: z.literal('value'), column: ColumnName }),
]);
export type LabelRule = z.infer<typeof LabelRule>;

const CategoryEncoding = {
  encoding: z.enum(['oneHot', 'embedding']).default('oneHot'),
  /** numbers per category of an embedding; default: 2 × the vocabulary size's fourth root, between 2 and 32 */
  embeddingDim: z.number().int().min(1).max(256).optional(),
};

export const Transform = z.discriminatedUnion('kind', [
  /**
   * number, optionally ln(1 + max(x, 0)), standardised with the training mean/std; missing → mean, plus an input
   * that says "this value was missing" (auto: when the training rows have missing values), so a model can tell
   * an imputed mean from a real one
   */
  z.strictObject({
    kind: z.literal('numeric'),
    log: z.boolean().default(false),
    standardize: z.boolean().default(true),
    missingIndicator: z.enum(['auto', 'always', 'never']).default('auto'),
    /**
     * also encode the value in this many pieces between quantiles of the training rows (after the log): each piece
     * an input that is 0 below it, 1 above it and rises linearly across it — so a network can bend its response to
     * the number where the data bends, as a tree's splits do (piecewise-linear encoding); absent: the value alone
     */
    pieces: z.number().int().min(2).max(64).optional(),
  }),
  /**
   * hour 0–23 of a timestamp (wall-clock, as stored): one-hot, or cyclical — two inputs, the sine and cosine of
   * the hour's angle on the clock, so 23:00 sits next to 00:00
   */
  z.strictObject({ kind: z.literal('hourOfDay'), encoding: z.enum(['oneHot', 'cyclical']).default('oneHot') }),
  /** weekday, Monday = 0: one-hot or cyclical */
  z.strictObject({ kind: z.literal('dayOfWeek'), encoding: z.enum(['oneHot', 'cyclical']).default('oneHot') }),
  /** month 1–12: one-hot or cyclical */
  z.strictObject({ kind: z.literal('month'), encoding: z.enum(['oneHot', 'cyclical']).default('oneHot') }),
  /**
   * the time itself as a number — days since 1970, standardised with the training mean/std; missing → the mean —
   * so a model sees the year of a car, the day of a storm, the drift of a season (what the calendar parts cannot)
   */
  z.strictObject({ kind: z.literal('timeValue') }),
  /**
   * the vocabulary learned from training data, plus one bucket for unknown/rare/missing; as a one-hot input per
   * category, or as an embedding — a learned vector of `embeddingDim` numbers per category (default: derived from
   * the vocabulary's size), which costs one lookup a row however large the vocabulary
   */
  z.strictObject({
    kind: z.literal('categorical'),
    maxCategories: z.number().int().min(1).max(100_000).default(100),
    minCount: z.number().int().min(1).default(1),
    ...CategoryEncoding,
  }),
  /**
   * the combination of two or more categorical or calendar features' values ("ATL on a Monday"), learned as a
   * vocabulary of its own: lets the network tell apart what happens at one airport on one weekday without having
   * to discover the interaction itself. The feature names no column; `of` names the features crossed.
   */
  z.strictObject({
    kind: z.literal('cross'),
    of: z.array(identifier).min(2).max(4),
    maxCategories: z.number().int().min(1).max(100_000).default(1000),
    minCount: z.number().int().min(1).default(1),
    ...CategoryEncoding,
  }),
]);
export type Transform = z.infer<typeof Transform>;

export const Feature = z.strictObject({
  name: identifier,
  /** the source column it reads; a cross reads its features' columns and names none */
  column: ColumnName.optional(),
  transform: Transform,
});
export type Feature = z.infer<typeof Feature>;

const HiddenUnits = z.array(z.number().int().min(1).max(4096)).max(8);
const Activation = z.enum(['relu', 'tanh', 'elu']);
const Epochs = z.number().int().min(1).max(1000);
const BatchSize = z.number().int().min(1).max(65_536);
const LearningRate = z.number().positive().max(1);

/** the most combinations a search may declare, and the most trials it may run */
export const MAX_SEARCH_GRID = 10_000;
export const MAX_SEARCH_TRIALS = 64;

/**
 * Hyperparameter search: every combination of the declared options (grid), or a seeded random sample of them
 * (random, `trials` of them). Each trial trains as its own activity on the training queue — `parallelism` at once,
 * spread over the training workers — with the spec's seed, on the training rows minus a validation share; the
 * trial with the lowest validation loss becomes the candidate, and every trial is recorded in its lineage.
 */
export const SearchSettings = z
  .strictObject({
    method: z.enum(['grid', 'random']).default('grid'),
    /** random: how many combinations to try (at most all of them) */
    trials: z.number().int().min(1).max(MAX_SEARCH_TRIALS).optional(),
    /** how many trials train at once */
    parallelism: z.number().int().min(1).max(16).default(2),
    /** share of training rows the trials are compared on (default 0.1); with early stopping, its validation rows */
    validationFraction: z.number().gt(0).lt(0.5).optional(),
    space: z
      .strictObject({
        hiddenUnits: z.array(HiddenUnits).min(1).optional(),
        activation: z.array(Activation).min(1).optional(),
        epochs: z.array(Epochs).min(1).optional(),
        batchSize: z.array(BatchSize).min(1).optional(),
        learningRate: z.array(LearningRate).min(1).optional(),
      })
      .refine((space) => Object.values(space).some((options) => options !== undefined), {
        message: 'declare at least one setting to search over',
      }),
  })
  .superRefine((search, ctx) => {
    const combinations = Object.values(search.space).reduce((n, options) => n * (options?.length ?? 1), 1);
    if (combinations > MAX_SEARCH_GRID) {
      ctx.addIssue({
        code: 'custom',
        path: ['space'],
        message: `${combinations} combinations; at most ${MAX_SEARCH_GRID}`,
      });
    }
    if (search.method === 'grid' && combinations > MAX_SEARCH_TRIALS) {
      ctx.addIssue({
        code: 'custom',
        path: ['space'],
        message: `a grid of ${combinations} combinations is more than ${MAX_SEARCH_TRIALS} trials: use method "random" with trials`,
      });
    }
    if (search.method === 'random' && search.trials === undefined) {
      ctx.addIssue({ code: 'custom', path: ['trials'], message: 'a random search needs a number of trials' });
    }
    if (search.method === 'grid' && search.trials !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['trials'],
        message: 'a grid tries every combination: trials is for "random"',
      });
    }
  });
export type SearchSettings = z.infer<typeof SearchSettings>;

export const TrainingSettings = z.strictObject({
  hiddenUnits: HiddenUnits.default([64, 32]),
  activation: Activation.default('relu'),
  epochs: Epochs.default(5),
  batchSize: BatchSize.default(512),
  learningRate: LearningRate.default(0.001),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(42),
  /** share of rows (chosen by a seeded hash of the row position) held out for evaluation */
  holdoutFraction: z.number().gt(0).lte(0.9).default(0.2),
  /** cap on training rows (a seeded, deterministic sample) — for fast experiments on large batches */
  maxTrainingRows: z.number().int().positive().optional(),
  /**
   * the learning rate by epoch: exponential (×rate each epoch) or cosine (from the spec's rate down to
   * minFactor × it at the last epoch); none: constant
   */
  schedule: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('exponential'), rate: z.number().gt(0).lte(1) }),
      z.strictObject({ kind: z.literal('cosine'), minFactor: z.number().min(0).lt(1).default(0) }),
    ])
    .optional(),
  /**
   * stop when the loss on a validation share of the training rows (chosen by a seeded hash, never trained on) has
   * not improved by `minDelta` for `patience` epochs, and keep the weights of the best epoch
   */
  earlyStopping: z
    .strictObject({
      validationFraction: z.number().gt(0).lt(0.5).default(0.1),
      patience: z.number().int().min(1).max(100).default(3),
      minDelta: z.number().min(0).default(0),
    })
    .optional(),
  /**
   * the penalty l2 · Σw² on every hidden layer's weights (not the biases, the output layer or embeddings), added
   * to the training loss, as Keras' kernel_regularizer l2 — it keeps weights small, so a network fitted to a few
   * thousand rows learns their pattern rather than the rows; absent or 0: none
   */
  l2: z.number().min(0).max(1).optional(),
  search: SearchSettings.optional(),
  /**
   * balanced (binary and multi-class): every class is drawn equally often into the training batches (rows of rare
   * classes are drawn again, with a seeded choice), as weighting each class by the inverse of its share would — so
   * a model cannot score well by predicting the commonest class for every row; none: rows as they come
   */
  classWeight: z.enum(['balanced']).optional(),
});
export type TrainingSettings = z.infer<typeof TrainingSettings>;

const Sentence = z.string().trim().min(1, 'must not be empty');

/**
 * What a version's model card says that no measurement can: what the model is for and not for, who answers for it,
 * what its makers know of its limits (`lumen card`, docs/explanations.md). Part of the spec, so part of the
 * version's lineage: a card says what was declared when the version was trained.
 */
export const CardSection = z.strictObject({
  overview: Sentence.optional(),
  owners: z.array(z.strictObject({ name: Sentence, contact: Sentence.optional() })).default([]),
  intendedUses: z.array(Sentence).default([]),
  intendedUsers: z.array(Sentence).default([]),
  outOfScopeUses: z.array(Sentence).default([]),
  limitations: z.array(Sentence).default([]),
  ethicalConsiderations: z.array(z.strictObject({ name: Sentence, mitigation: Sentence })).default([]),
  references: z.array(Sentence).default([]),
  license: Sentence.optional(),
});
export type CardSection = z.infer<typeof CardSection>;

const ModelSpecObject = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, starting with a letter'),
  description: z.string().optional(),
  task: Task,
  source: z.strictObject({
    columns: z.array(SourceColumn).min(1),
    /** column used to cut arriving batches into time windows */
    timeColumn: ColumnName.optional(),
  }),
  label: LabelRule,
  features: z.array(Feature).min(1),
  training: TrainingSettings.prefault({}),
  gate: GatePolicy.prefault({}),
  validation: ValidationPolicy.prefault({}),
  /** how the model's traffic is split when served, until `lumen serving set` changes it (docs/serving.md) */
  serving: ServingPolicy.optional(),
  /** what the monitor watches once the model serves, and what it does about it (docs/monitoring.md) */
  monitor: MonitorPolicy.optional(),
  /** what the version's model card declares: intended and out-of-scope uses, owners, known limitations */
  card: CardSection.optional(),
});

export const ModelSpec = ModelSpecObject.superRefine((spec, ctx) => {
  const columns = new Map(spec.source.columns.map((c) => [c.name, c]));
  if (columns.size !== spec.source.columns.length) {
    ctx.addIssue({ code: 'custom', path: ['source', 'columns'], message: 'column names must be unique' });
  }
  const expectedLabel = { binary: ['threshold', 'oneOf'], multiclass: ['classes'], regression: ['value'] }[spec.task];
  if (!expectedLabel.includes(spec.label.kind)) {
    ctx.addIssue({
      code: 'custom',
      path: ['label', 'kind'],
      message: `task "${spec.task}" needs a label rule of kind ${expectedLabel.join(' or ')}, got "${spec.label.kind}"`,
    });
  }
  if (spec.training.classWeight && spec.task === 'regression') {
    ctx.addIssue({
      code: 'custom',
      path: ['training', 'classWeight'],
      message: 'classWeight balances classes: a regression has none',
    });
  }
  const labelColumn = columns.get(spec.label.column);
  if (!labelColumn) {
    ctx.addIssue({
      code: 'custom',
      path: ['label', 'column'],
      message: `"${spec.label.column}" is not a source column`,
    });
  } else if ((spec.label.kind === 'threshold' || spec.label.kind === 'value') && !isNumeric(labelColumn.type)) {
    ctx.addIssue({
      code: 'custom',
      path: ['label', 'column'],
      message: `label rule "${spec.label.kind}" needs a numeric column, "${labelColumn.name}" is ${labelColumn.type}`,
    });
  }
  for (const name of Object.keys(spec.validation.drift.columns)) {
    if (!columns.has(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['validation', 'drift', 'columns', name],
        message: `"${name}" is not a source column`,
      });
    }
  }
  spec.gate.slices.columns.forEach((name, i) => {
    if (!columns.has(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['gate', 'slices', 'columns', i],
        message: `"${name}" is not a source column`,
      });
    }
  });
  if (spec.gate.slices.columns.length > 0 && spec.task !== 'binary') {
    ctx.addIssue({ code: 'custom', path: ['gate', 'slices'], message: 'slice fairness checks need a binary task' });
  }
  if (spec.source.timeColumn && columns.get(spec.source.timeColumn)?.type !== 'timestamp') {
    ctx.addIssue({ code: 'custom', path: ['source', 'timeColumn'], message: 'must name a timestamp source column' });
  }
  const search = spec.training.search;
  const early = spec.training.earlyStopping;
  if (search?.validationFraction !== undefined && early && search.validationFraction !== early.validationFraction) {
    ctx.addIssue({
      code: 'custom',
      path: ['training', 'search', 'validationFraction'],
      message: `trials are compared on early stopping's validation rows (${early.validationFraction}); leave it out or make them equal`,
    });
  }
  const names = new Set<string>();
  spec.features.forEach((feature, i) => {
    if (names.has(feature.name)) {
      ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate feature "${feature.name}"` });
    }
    names.add(feature.name);
    if (feature.transform.kind === 'cross') {
      checkCross(spec, i, ctx);
      return;
    }
    if (feature.column === undefined) {
      ctx.addIssue({ code: 'custom', path: ['features', i, 'column'], message: 'a feature needs a source column' });
      return;
    }
    if (
      feature.transform.kind === 'categorical' &&
      feature.transform.encoding === 'oneHot' &&
      feature.transform.embeddingDim !== undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['features', i, 'transform', 'embeddingDim'],
        message: 'embeddingDim applies to encoding "embedding" only',
      });
    }
    const column = columns.get(feature.column);
    if (!column) {
      ctx.addIssue({
        code: 'custom',
        path: ['features', i, 'column'],
        message: `"${feature.column}" is not a source column`,
      });
      return;
    }
    if (feature.column === spec.label.column) {
      ctx.addIssue({
        code: 'custom',
        path: ['features', i, 'column'],
        message: 'the label column cannot be a feature',
      });
    }
    const kind = feature.transform.kind;
    const ok =
      kind === 'numeric'
        ? isNumeric(column.type) || column.type === 'boolean'
        : kind === 'categorical'
          ? column.type !== 'float' && column.type !== 'timestamp'
          : column.type === 'timestamp';
    if (!ok) {
      ctx.addIssue({
        code: 'custom',
        path: ['features', i, 'transform'],
        message: `transform "${kind}" cannot apply to column "${column.name}" of type ${column.type}`,
      });
    }
  });
});
export type ModelSpec = z.infer<typeof ModelSpec>;
export type ModelSpecInput = z.input<typeof ModelSpec>;

/** A cross names no column, and crosses two or more distinct categorical or calendar features declared in the spec. */
function checkCross(spec: z.infer<typeof ModelSpecObject>, i: number, ctx: z.RefinementCtx): void {
  const feature = spec.features[i];
  const transform = feature.transform;
  if (transform.kind !== 'cross') return;
  if (feature.column !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['features', i, 'column'],
      message: `a cross reads the columns of the features it crosses (${transform.of.join(', ')}) and names none`,
    });
  }
  if (transform.encoding === 'oneHot' && transform.embeddingDim !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['features', i, 'transform', 'embeddingDim'],
      message: 'embeddingDim applies to encoding "embedding" only',
    });
  }
  if (new Set(transform.of).size !== transform.of.length) {
    ctx.addIssue({ code: 'custom', path: ['features', i, 'transform', 'of'], message: 'crosses a feature twice' });
  }
  transform.of.forEach((name, j) => {
    const part = spec.features.find((f) => f.name === name);
    const problem = !part
      ? `"${name}" is not a feature of this spec`
      : part.transform.kind === 'numeric' || part.transform.kind === 'cross' || part.transform.kind === 'timeValue'
        ? `"${name}" is a ${part.transform.kind} feature; a cross takes categorical and calendar features`
        : null;
    if (problem) ctx.addIssue({ code: 'custom', path: ['features', i, 'transform', 'of', j], message: problem });
  });
}

function isNumeric(type: ColumnType): boolean {
  return type === 'float' || type === 'integer';
}

/** Parse a spec, turning zod issues into one message that names every offending field. */
export function parseModelSpec(value: unknown, origin = 'model spec'): ModelSpec {
  const result = ModelSpec.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new SpecError(`${origin} is invalid:\n  ${issues.join('\n  ')}`, { issues });
  }
  return result.data;
}

export function loadModelSpec(file: string): ModelSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SpecError(`cannot read model spec ${file}: ${(err as Error).message}`);
  }
  return parseModelSpec(raw, `model spec ${file}`);
}

/** The hash recorded in lineage: of the fully defaulted spec, so omitting a default does not change it. */
export function specHash(spec: ModelSpec): string {
  return hashJson(spec);
}

/** The data contract part of a spec. */
export function contractOf(spec: ModelSpec): Contract {
  return { columns: spec.source.columns, label: spec.label.column, policy: spec.validation };
}

export function specContractHash(spec: ModelSpec): string {
  return contractHash(contractOf(spec));
}

/** The metric that decides "better", and which way is better, per task. */
export function primaryMetric(task: Task): { name: string; higherIsBetter: boolean } {
  switch (task) {
    case 'binary':
      return { name: 'auc', higherIsBetter: true };
    case 'multiclass':
      return { name: 'macroF1', higherIsBetter: true };
    case 'regression':
      return { name: 'rmse', higherIsBetter: false };
  }
}
