import { kolmogorovSf } from './kolmogorov';

/**
 * Two-sample Kolmogorov–Smirnov test, two-sided, defined as scipy.stats.ks_2samp(method="auto"): the exact
 * distribution when both samples have at most 10,000 values, otherwise the one-sample distribution at
 * n = round(n₁n₂/(n₁+n₂)).
 */
export interface KsResult {
  statistic: number;
  pValue: number;
  method: 'exact' | 'asymptotic';
}

const MAX_EXACT_N = 10_000;

/**
 * D = sup |F₁ − F₂|. Unsorted samples are sorted (a copy), as scipy does; a NaN, which has no place in an
 * empirical distribution function, is refused with its position.
 */
export function ksStatistic(sampleA: ArrayLike<number>, sampleB: ArrayLike<number>): number {
  const a = ascending(sampleA, 'a');
  const b = ascending(sampleB, 'b');
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && a[i] <= b[j]) ? a[i] : b[j];
    while (i < n1 && a[i] === v) i++;
    while (j < n2 && b[j] === v) j++;
    const diff = Math.abs(i / n1 - j / n2);
    if (diff > d) d = diff;
  }
  return d;
}

function ascending(values: ArrayLike<number>, name: string): ArrayLike<number> {
  let sorted = true;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i]))
      throw new RangeError(`ks_2samp: sample ${name}[${i}] is NaN (drop missing values first)`);
    if (i > 0 && values[i] < values[i - 1]) sorted = false;
  }
  return sorted ? values : Float64Array.from(values).sort();
}

/** `statistic`, when the caller already swept the samples (sorted, NaN-free), saves a pass. */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>, statistic?: number): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new Error('ks_2samp needs two non-empty samples');
  let d = statistic ?? ksStatistic(a, b);
  if (Math.max(n1, n2) <= MAX_EXACT_N) {
    const g = gcd(n1, n2);
    const lcm = (n1 / g) * n2;
    const h = roundHalfEven(d * lcm);
    d = h / lcm;
    if (h === 0) return { statistic: d, pValue: 1, method: 'exact' };
    const p = n1 === n2 ? outsideSquare(n1, h) : outsideBand(n1, n2, g, h);
    if (p >= 0 && p <= 1) return { statistic: d, pValue: p, method: 'exact' };
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  return { statistic: d, pValue: kolmogorovSf(roundHalfEven(en), d), method: 'asymptotic' };
}

/**
 * n₁ = n₂ = n: P(D ≥ h/n) = 2 Σ_{k≥1} (−1)^{k+1} C(2n, n−kh) / C(2n, n), summed in nested (Horner) form so the
 * alternating terms never cancel catastrophically.
 */
function outsideSquare(n: number, h: number): number {
  let p = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let ratio = 1;
    for (let j = 0; j < h; j++) ratio = ((n - k * h - j) * ratio) / (n + k * h + j + 1);
    p = ratio * (1 - p);
  }
  return 2 * p;
}

/**
 * n₁ ≠ n₂: the share of monotone lattice paths from (0,0) to (m,n) that leave the band |x/m − y/n| < d.
 * U(i,j), the probability that a random path to (i,j) has already left, obeys U = (i·U(i−1,j) + j·U(i,j−1))/(i+j)
 * inside the band and U = 1 outside it (the "1 − p" form of Hodges' inside method, after Viehmann 2021),
 * computed one column at a time over the band only.
 */
function outsideBand(n1: number, n2: number, g: number, h: number): number {
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const mg = m / g;
  const ng = n / g;
  // inside cells of column i: |ng·i − mg·j| < h
  const lo = (i: number): number => Math.max(0, Math.floor((ng * i - h) / mg) + 1);
  const hi = (i: number): number => Math.min(n, Math.ceil((ng * i + h) / mg) - 1);
  // two columns; each array reads 1 outside the window it last held
  let prev = new Float64Array(n + 1).fill(1);
  let cur = new Float64Array(n + 1).fill(1);
  let prevLo = 0;
  let prevHi = hi(0);
  let curLo = 1;
  let curHi = 0;
  for (let j = prevLo; j <= prevHi; j++) prev[j] = 0; // column 0: paths along the y axis, still inside
  for (let i = 1; i <= m; i++) {
    const a = lo(i);
    const b = hi(i);
    if (b < a) return 1;
    for (let j = curLo; j <= curHi; j++) if (j < a || j > b) cur[j] = 1;
    for (let j = a; j <= b; j++) {
      const left = j === 0 ? 0 : j === a ? 1 : cur[j - 1];
      cur[j] = (i * prev[j] + j * left) / (i + j);
    }
    [prev, cur] = [cur, prev];
    [curLo, curHi] = [prevLo, prevHi];
    [prevLo, prevHi] = [a, b];
  }
  return prev[n];
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** numpy's round: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
