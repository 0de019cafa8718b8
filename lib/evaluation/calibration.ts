import { prng } from '../rng';

/**
 * Expected calibration error: predictions split into `bins` equal-width probability bins; the mean gap between
 * the predicted probability and the observed positive rate, weighted by bin size.
 */
export function expectedCalibrationError(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  bins = 10,
): number {
  const count = new Float64Array(bins);
  const predicted = new Float64Array(bins);
  const observed = new Float64Array(bins);
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    const p = probabilities[i];
    const b = Math.min(bins - 1, Math.floor(p * bins));
    count[b]++;
    predicted[b] += p;
    observed[b] += labels[i];
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b] > 0) ece += Math.abs(predicted[b] - observed[b]) / n;
  return ece;
}

export interface Interval {
  low: number;
  high: number;
}

/**
 * Percentile bootstrap intervals for binary metrics with Poisson(1) weights (the "Poisson bootstrap"): scores are
 * sorted once, so each replicate's AUC is one weighted pass instead of a new sort. Seeded: the same inputs and
 * seed give the same intervals.
 */
export async function bootstrapBinary(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  options: { replicates: number; seed: number; level: number },
): Promise<Record<'auc' | 'accuracy' | 'logLoss', Interval>> {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probabilities[a] - probabilities[b]);
  const rand = prng(options.seed);
  const weights = new Float64Array(n);
  const samples = { auc: [] as number[], accuracy: [] as number[], logLoss: [] as number[] };
  let lastYield = performance.now();
  for (let r = 0; r < options.replicates; r++) {
    // seconds of work on a big holdout: let the event loop breathe (an activity's heartbeat runs on it)
    if (performance.now() - lastYield > 100) {
      await new Promise((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    for (let i = 0; i < n; i++) weights[i] = poisson1(rand);
    samples.auc.push(weightedAuc(labels, probabilities, order, weights));
    let w = 0;
    let correct = 0;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const wi = weights[i];
      if (wi === 0) continue;
      const p = Math.min(1 - 1e-15, Math.max(1e-15, probabilities[i]));
      w += wi;
      if ((p >= 0.5 ? 1 : 0) === labels[i]) correct += wi;
      loss -= wi * (labels[i] === 1 ? Math.log(p) : Math.log(1 - p));
    }
    samples.accuracy.push(correct / w);
    samples.logLoss.push(loss / w);
  }
  const alpha = (1 - options.level) / 2;
  const interval = (xs: number[]): Interval => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return { low: quantile(s, alpha), high: quantile(s, 1 - alpha) };
  };
  return { auc: interval(samples.auc), accuracy: interval(samples.accuracy), logLoss: interval(samples.logLoss) };
}

/** AUC with case weights, over a precomputed ascending order of the scores; ties count one half. */
export function weightedAuc(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  order: number[],
  weights: ArrayLike<number>,
): number {
  let negativesBelow = 0;
  let totalPositive = 0;
  let totalNegative = 0;
  let sum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    let tiedPositive = 0;
    let tiedNegative = 0;
    while (j < order.length && scores[order[j]] === scores[order[i]]) {
      const k = order[j];
      if (labels[k] === 1) tiedPositive += weights[k];
      else tiedNegative += weights[k];
      j++;
    }
    sum += tiedPositive * (negativesBelow + tiedNegative / 2);
    negativesBelow += tiedNegative;
    totalPositive += tiedPositive;
    totalNegative += tiedNegative;
    i = j;
  }
  return totalPositive > 0 && totalNegative > 0 ? sum / (totalPositive * totalNegative) : NaN;
}

/** A Poisson(1) draw by inversion (the CDF of Poisson(1) reaches 1 − 1e-16 by k = 18). */
function poisson1(rand: () => number): number {
  const u = rand();
  let k = 0;
  let p = Math.exp(-1);
  let cdf = p;
  while (u > cdf && k < 20) {
    k++;
    p /= k;
    cdf += p;
  }
  return k;
}

/** Linear-interpolated quantile of sorted values (numpy's default). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
