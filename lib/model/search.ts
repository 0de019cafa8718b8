import { deriveSeed, permutation } from '../rng';
import type { ModelSpec, TrainingSettings } from '../spec';

/**
 * The trials of a hyperparameter search, as pure functions of the spec: the pipeline workflow enumerates them (the
 * same list on every replay) and trains each as its own activity. Nothing here touches the machine.
 */

const KEYS = ['hiddenUnits', 'activation', 'epochs', 'batchSize', 'learningRate'] as const;
type SearchKey = (typeof KEYS)[number];

export type TrialOptions = Partial<Pick<TrainingSettings, SearchKey>>;

export interface Trial {
  /** 0-based, in the order trials are listed (grid: the declared order, last setting fastest) */
  index: number;
  options: TrialOptions;
}

/** What a trial came to: its validation loss, or why it failed. */
export interface TrialResult {
  index: number;
  options: TrialOptions;
  validationLoss: number | null;
  error?: string;
}

/** The default share of training rows trials are compared on, when early stopping does not name one. */
export const SEARCH_VALIDATION_FRACTION = 0.1;

/** Every combination (grid), or a seeded random sample of them without repeats (random). */
export function searchTrials(training: TrainingSettings): Trial[] {
  const search = training.search;
  if (!search) return [];
  const axes = KEYS.flatMap((key) => {
    const options = search.space[key] as TrialOptions[SearchKey][] | undefined;
    return options ? [{ key, options }] : [];
  });
  const total = axes.reduce((n, axis) => n * axis.options.length, 1);
  const combination = (c: number): TrialOptions => {
    const options: Record<string, unknown> = {};
    let rest = c;
    for (let i = axes.length - 1; i >= 0; i--) {
      const axis = axes[i];
      options[axis.key] = axis.options[rest % axis.options.length];
      rest = Math.floor(rest / axis.options.length);
    }
    // in the declared order, for reading
    return Object.fromEntries(axes.map((a) => [a.key, options[a.key]]));
  };
  const picks =
    search.method === 'grid'
      ? Array.from({ length: total }, (_, c) => c)
      : Array.from(
          permutation(total, deriveSeed(training.seed, 'search')).subarray(0, Math.min(search.trials ?? total, total)),
        );
  return picks.map((c, index) => ({ index, options: combination(c) }));
}

/** The spec a trial trains: the declared one with the trial's settings, and no search of its own. */
export function trialSpec(spec: ModelSpec, trial: Trial): ModelSpec {
  const { search: _search, ...training } = spec.training;
  return { ...spec, training: { ...training, ...trial.options } };
}

/** The share of training rows a search compares its trials on. */
export function searchValidationFraction(training: TrainingSettings): number {
  return (
    training.earlyStopping?.validationFraction ?? training.search?.validationFraction ?? SEARCH_VALIDATION_FRACTION
  );
}

/** The trial with the lowest validation loss (the first of equals); null when every trial failed. */
export function bestTrial(results: TrialResult[]): TrialResult | null {
  let best: TrialResult | null = null;
  for (const r of results) {
    if (r.validationLoss === null || !Number.isFinite(r.validationLoss)) continue;
    if (
      !best ||
      r.validationLoss < best.validationLoss! ||
      (r.validationLoss === best.validationLoss && r.index < best.index)
    )
      best = r;
  }
  return best;
}

/** A trial's settings as one line: "hiddenUnits [128,64], learningRate 0.002". */
export function describeTrial(options: TrialOptions): string {
  return Object.entries(options)
    .map(([key, value]) => `${key} ${Array.isArray(value) ? `[${value.join(',')}]` : String(value)}`)
    .join(', ');
}
