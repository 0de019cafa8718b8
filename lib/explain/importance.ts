import { setImmediate as nextTurn } from 'node:timers/promises';
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

/**
 * Each shuffle is scored in one go; the event loop gets a turn between shuffles, so an activity computing this keeps
 * heartbeating however many rows and repeats the policy asks for.
 */
export async function permutationImportance(input: ImportanceInput): Promise<Importance> {
  const { pre, codes, rows, measure, metric, repeats, seed } = input;
  if (repeats < 2) throw new Error(`permutation importance needs at least 2 repeats for an interval, got ${repeats}`);
  if (rows < 2) throw new Error(`permutation importance needs at least 2 rows, got ${rows}`);
  const baseline = measure(encodeCodes(pre, codes, rows), rows);
  const sign = metric.higherIsBetter ? 1 : -1;
  const features: FeatureImportance[] = [];
  for (const [f, feature] of pre.features.entries()) {
    const losses: number[] = [];
    for (let r = 0; r < repeats; r++) {
      await nextTurn();
      const order = permutation(rows, deriveSeed(seed, `importance:${feature.name}:${r}`));
      const shuffled = codes.map((c, g) => (g === f ? Float64Array.from(order, (i) => c[i]) : c));
      losses.push(sign * (baseline - measure(encodeCodes(pre, shuffled, rows), rows)));
    }
    const mean = losses.reduce((s, v) => s + v, 0) / repeats;
    const sd = Math.sqrt(losses.reduce((s, v) => s + (v - mean) ** 2, 0) / (repeats - 1));
    const half = (1.96 * sd) / Math.sqrt(repeats);
    features.push({
      feature: feature.name,
      columns: featureColumns(feature),
      mean,
      low: mean - half,
      high: mean + half,
    });
  }
  return { metric: metric.name, baseline, repeats, seed, rows, features };
}

/** A feature's importance to the candidate beside its importance to the champion, measured on the same rows. */
export interface ComparedFeature extends FeatureImportance {
  /** 1: the feature the candidate relies on most */
  rank: number;
  champion: { mean: number; low: number; high: number; rank: number } | null;
  /** candidate minus champion (null: the champion does not read the feature) */
  change: number | null;
  /** the two 95% intervals do not overlap: the reliance changed by more than the repeats' noise */
  shifted: boolean;
}

/** Permutation importance of a candidate, compared with its champion's: what the gate report and a card show. */
export interface ImportanceComparison {
  metric: string;
  rows: number;
  repeats: number;
  seed: number;
  championVersion: number | null;
  features: ComparedFeature[];
  /** features the champion reads and the candidate no longer does */
  dropped: { feature: string; mean: number; rank: number }[];
}

const byMean = (list: FeatureImportance[]): FeatureImportance[] =>
  [...list].sort((a, b) => b.mean - a.mean || a.feature.localeCompare(b.feature));

export function compareImportance(
  candidate: Importance,
  champion: { version: number; importance: Importance } | null,
): ImportanceComparison {
  const theirs = new Map(
    byMean(champion?.importance.features ?? []).map((f, i) => [
      f.feature,
      { mean: f.mean, low: f.low, high: f.high, rank: i + 1 },
    ]),
  );
  const features = byMean(candidate.features).map((f, i): ComparedFeature => {
    const c = theirs.get(f.feature) ?? null;
    return {
      ...f,
      rank: i + 1,
      champion: c,
      change: c ? f.mean - c.mean : null,
      shifted: c !== null && (f.low > c.high || f.high < c.low),
    };
  });
  const mine = new Set(candidate.features.map((f) => f.feature));
  return {
    metric: candidate.metric,
    rows: candidate.rows,
    repeats: candidate.repeats,
    seed: candidate.seed,
    championVersion: champion?.version ?? null,
    features,
    dropped: [...theirs]
      .filter(([name]) => !mine.has(name))
      .map(([feature, c]) => ({ feature, mean: c.mean, rank: c.rank })),
  };
}
