import { auc } from '../metrics';

/** Metrics of one slice of the holdout (rows sharing a value of a slice column). */
export interface SliceMetrics {
  column: string;
  value: string;
  rows: number;
  positiveRate: number;
  /** share predicted positive at the 0.5 threshold */
  predictedPositiveRate: number;
  truePositiveRate: number;
  falsePositiveRate: number;
  accuracy: number;
  auc: number;
}

export interface FairnessGaps {
  column: string;
  slices: number;
  /** max − min across slices with enough rows */
  truePositiveRate: number;
  falsePositiveRate: number;
  predictedPositiveRate: number;
  auc: number;
}

/**
 * Binary classification metrics per value of a column, for the most frequent values with at least `minRows`
 * rows, and the gaps between the best and the worst slice (equal opportunity: TPR; equalised odds: TPR and FPR;
 * demographic parity: predicted positive rate).
 */
export function sliceMetrics(
  column: string,
  values: (string | null)[],
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  options: { minRows: number; top: number },
): { slices: SliceMetrics[]; gaps: FairnessGaps } {
  const groups = new Map<string, number[]>();
  values.forEach((v, i) => {
    const key = v ?? '<missing>';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(i);
  });
  const chosen = [...groups.entries()]
    .filter(([, rows]) => rows.length >= options.minRows)
    .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
    .slice(0, options.top);
  const slices = chosen.map(([value, rows]): SliceMetrics => {
    let tp = 0;
    let fp = 0;
    let pos = 0;
    let predictedPositive = 0;
    let correct = 0;
    for (const i of rows) {
      const y = labels[i];
      const yhat = probabilities[i] >= 0.5 ? 1 : 0;
      pos += y;
      predictedPositive += yhat;
      if (yhat === y) correct++;
      if (yhat === 1 && y === 1) tp++;
      if (yhat === 1 && y === 0) fp++;
    }
    const neg = rows.length - pos;
    return {
      column,
      value,
      rows: rows.length,
      positiveRate: pos / rows.length,
      predictedPositiveRate: predictedPositive / rows.length,
      truePositiveRate: pos ? tp / pos : NaN,
      falsePositiveRate: neg ? fp / neg : NaN,
      accuracy: correct / rows.length,
      auc: auc(
        rows.map((i) => labels[i]),
        rows.map((i) => probabilities[i]),
      ),
    };
  });
  const gap = (pick: (s: SliceMetrics) => number): number => {
    const xs = slices.map(pick).filter(Number.isFinite);
    return xs.length >= 2 ? Math.max(...xs) - Math.min(...xs) : 0;
  };
  return {
    slices,
    gaps: {
      column,
      slices: slices.length,
      truePositiveRate: gap((s) => s.truePositiveRate),
      falsePositiveRate: gap((s) => s.falsePositiveRate),
      predictedPositiveRate: gap((s) => s.predictedPositiveRate),
      auc: gap((s) => s.auc),
    },
  };
}
