/**
 * Evaluation metrics as pure functions over typed arrays. Definitions follow scikit-learn's
 * (roc_auc_score, accuracy_score, log_loss, f1_score(average="macro"), mean_squared_error, r2_score).
 */

export type Metrics = Record<string, number>;

const EPS = 1e-15;

/** Area under the ROC curve via the rank statistic; tied scores get their average rank. NaN if one class is absent. */
export function auc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSumPositives = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        rankSumPositives += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function binaryAccuracy(labels: ArrayLike<number>, probabilities: ArrayLike<number>, threshold = 0.5): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if ((probabilities[i] >= threshold ? 1 : 0) === labels[i]) correct++;
  return correct / labels.length;
}

export function binaryLogLoss(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - EPS, Math.max(EPS, probabilities[i]));
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / labels.length;
}

/** Index of the largest of `k` values starting at row * k. */
export function argmaxRow(probabilities: ArrayLike<number>, row: number, k: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let c = 0; c < k; c++) {
    const v = probabilities[row * k + c];
    if (v > bestValue) {
      bestValue = v;
      best = c;
    }
  }
  return best;
}

/** Multiclass metrics from class indices and an n × k row-major probability matrix. */
export function multiclassMetrics(labels: ArrayLike<number>, probabilities: ArrayLike<number>, k: number): Metrics {
  const n = labels.length;
  const tp = new Float64Array(k);
  const predicted = new Float64Array(k);
  const actual = new Float64Array(k);
  let correct = 0;
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    const yhat = argmaxRow(probabilities, i, k);
    predicted[yhat]++;
    actual[y]++;
    if (yhat === y) {
      correct++;
      tp[y]++;
    }
    logLoss -= Math.log(Math.min(1 - EPS, Math.max(EPS, probabilities[i * k + y])));
  }
  let f1Sum = 0;
  let classes = 0;
  for (let c = 0; c < k; c++) {
    if (actual[c] === 0 && predicted[c] === 0) continue; // sklearn: labels present in y_true ∪ y_pred
    classes++;
    const denominator = actual[c] + predicted[c];
    f1Sum += denominator === 0 ? 0 : (2 * tp[c]) / denominator;
  }
  return { accuracy: correct / n, macroF1: classes ? f1Sum / classes : 0, logLoss: logLoss / n };
}

export function regressionMetrics(actual: ArrayLike<number>, predicted: ArrayLike<number>): Metrics {
  const n = actual.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += actual[i];
  mean /= n;
  let se = 0;
  let ae = 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const e = actual[i] - predicted[i];
    se += e * e;
    ae += Math.abs(e);
    ss += (actual[i] - mean) ** 2;
  }
  return { rmse: Math.sqrt(se / n), mae: ae / n, r2: ss === 0 ? NaN : 1 - se / ss };
}

export function binaryMetrics(labels: ArrayLike<number>, probabilities: ArrayLike<number>): Metrics {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  return {
    auc: auc(labels, probabilities),
    accuracy: binaryAccuracy(labels, probabilities),
    logLoss: binaryLogLoss(labels, probabilities),
    positiveRate: positives / labels.length,
  };
}

/** Scores of a model that ignores its inputs and always predicts the share of positives seen on these rows. */
export function binaryBaseline(labels: ArrayLike<number>): Metrics {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  const rate = positives / labels.length;
  return { logLoss: binaryLogLoss(labels, new Float64Array(labels.length).fill(rate)), positiveRate: rate };
}

/** Accuracy of always predicting the commonest class among these labels (class indices 0…k−1). */
export function majorityBaseline(labels: ArrayLike<number>, k: number): Metrics {
  const counts = new Float64Array(k);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  const share = Math.max(...counts) / labels.length;
  // its macro-F1 over the classes present (as multiclassMetrics counts them): the commonest class's F1, 2p/(1+p),
  // and 0 for each of the others
  const present = counts.filter((c) => c > 0).length;
  return { accuracy: share, commonestShare: share, macroF1: present ? (2 * share) / (1 + share) / present : 0 };
}
