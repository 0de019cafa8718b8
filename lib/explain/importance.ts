import { encodeCodes, type Preprocessor } from '../features';
import { featureColumns } from '../features/types';
import { deriveSeed, permutation } from '../rng';

/**
 * How much a version relies on each of the spec's features, over a set of rows: permutation importance. A
 * feature's values are shuffled among the rows (the others left alone), the rows scored again, and the metric's
 * loss is the feature's importance; shuffled `repeats` times with seeds derived from `seed`, its mean is reported
 * with the spread of the repeats as an interval (mean ± 1.96 standard errors). Shuffling feature codes, not encoded
 * inputs, keeps a one-hot feature's inputs together and a cross's combinations real.
 */
export interface FeatureImportance {
  feature: string;
  columns: string[];
  /** the metric lost when the feature is shuffled (positive: the model relies on it) */
  mean: number;
  /** 95% interval of the mean over the repeats */
  low: number;
  high: number;
}

export interface Importance {
  metric: string;
  /** the metric on the rows as they are */
  baseline: number;
  repeats: number;
  seed: number;
  rows: number;
  features: FeatureImportance[];
}

export interface ImportanceInput {
  pre: Preprocessor;
  /** feature codes of the rows (lib/features `featureCodes`), one array per feature */
  codes: Float64Array[];
  rows: number;
  /** encoded rows in (`rows × pre.width`), the metric of their outputs against the rows' labels out */
  measure: (x: Float32Array, rows: number) => number;
  metric: { name: string; higherIsBetter: boolean };
  repeats: number;
  seed: number;
}

export function permutationImportance(input: ImportanceInput): Importance {
  const { pre, codes, rows, measure, metric, repeats, seed } = input;
  if (repeats < 2) throw new Error(`permutation importance needs at least 2 repeats for an interval, got ${repeats}`);
  if (rows < 2) throw new Error(`permutation importance needs at least 2 rows, got ${rows}`);
  const baseline = measure(encodeCodes(pre, codes, rows), rows);
  const sign = metric.higherIsBetter ? 1 : -1;
  const features = pre.features.map((feature, f): FeatureImportance => {
    const losses: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const order = permutation(rows, deriveSeed(seed, `importance:${feature.name}:${r}`));
      const shuffled = codes.map((c, g) => (g === f ? Float64Array.from(order, (i) => c[i]) : c));
      losses.push(sign * (baseline - measure(encodeCodes(pre, shuffled, rows), rows)));
    }
    const mean = losses.reduce((s, v) => s + v, 0) / repeats;
    const sd = Math.sqrt(losses.reduce((s, v) => s + (v - mean) ** 2, 0) / (repeats - 1));
    const half = (1.96 * sd) / Math.sqrt(repeats);
    return { feature: feature.name, columns: featureColumns(feature), mean, low: mean - half, high: mean + half };
  });
  return { metric: metric.name, baseline, repeats, seed, rows, features };
}
