/**
 * Intervals the monitor judges with: an error rate (Wilson score interval, which stays inside [0, 1] and is right
 * for small counts and rates near 0 or 1) and a mean error (normal approximation). Both at 95%.
 */
export interface ErrorEstimate {
  /** labelled predictions it rests on */
  n: number;
  /** share wrong (classification) or mean absolute error (regression) */
  value: number;
  low: number;
  high: number;
}

const Z95 = 1.959963984540054;

export function wilson(errors: number, n: number): ErrorEstimate {
  if (n === 0) return { n, value: NaN, low: NaN, high: NaN };
  const p = errors / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return { n, value: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export function meanInterval(values: ArrayLike<number>): ErrorEstimate {
  const n = values.length;
  if (n === 0) return { n, value: NaN, low: NaN, high: NaN };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  const half = n > 1 ? Z95 * Math.sqrt(ss / (n - 1) / n) : Infinity;
  return { n, value: mean, low: mean - half, high: mean + half };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
