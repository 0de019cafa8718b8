import { logFactorialOverPower } from './special';

/**
 * The two-sided one-sample Kolmogorov–Smirnov distribution, P(D_n ≥ x), as scipy.stats.kstwo.sf computes it:
 * the regime choices of Simard & L'Ecuyer (2011) — exact formulas at the extremes, the Durbin matrix algorithm
 * (in Marsaglia–Tsang–Wang form) for small n·x², Pelz–Good's expansion for large n, and twice Smirnov's
 * one-sided distribution in the upper tail. Using the same approximation in the same regime is what makes the
 * p-values agree with scipy's, not only with the true distribution.
 */

const clip = (p: number): number => Math.min(1, Math.max(0, p));

export function kolmogorovSf(n: number, x: number): number {
  if (!Number.isInteger(n) || n <= 0) return NaN;
  if (Number.isNaN(x)) return NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben–Gambino: P(D_n ≤ x) = n!/n^n (2t − 1)^n for 1/(2n) ≤ x ≤ 1/n
    if (t <= 0.5) return 1;
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      for (let i = 1; i <= n; i++) cdf *= (i / n) * (2 * t - 1);
    } else {
      cdf = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return clip(1 - cdf);
  }
  if (t >= n - 1) return clip(2 * Math.pow(1 - x, n));
  if (x >= 0.5) return clip(2 * smirnovSf(n, x));
  const nxx = t * x;
  if (n <= 140) {
    // exact: the matrix algorithm (scipy uses the equally exact Pomeranz recursion for 0.754693 < n·x² ≤ 4)
    if (nxx <= 4) return clip(1 - durbinCdf(n, x));
    return clip(2 * smirnovSf(n, x));
  }
  if (nxx >= 370) return 0;
  if (nxx >= 2.2) return clip(2 * smirnovSf(n, x));
  let cdf: number;
  if (nxx >= 18) cdf = 1;
  else if (n <= 100_000 && n * Math.pow(x, 1.5) <= 1.4) cdf = durbinCdf(n, x);
  else cdf = pelzGoodCdf(n, x);
  return clip(1 - cdf);
}

const E128 = 2 ** 128;
const EM128 = 2 ** -128;

/** P(D_n ≤ d), Durbin (1968) via Marsaglia, Tsang & Wang (2003): a power of a (2k−1)² matrix, rescaled as it grows. */
export function durbinCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  let H: Float64Array = new Float64Array(m * m);
  // H[i][j] = 1/(i−j+1)! for i−j+1 ≥ 0; first column and last row corrected by h^p/p!
  const invFact = new Float64Array(m + 2);
  invFact[0] = 1;
  for (let i = 1; i <= m + 1; i++) invFact[i] = invFact[i - 1] / i;
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) if (i - j + 1 >= 0) H[i * m + j] = invFact[i - j + 1];
  for (let i = 0; i < m; i++) {
    H[i * m] -= Math.pow(h, i + 1) * invFact[i + 1];
    H[(m - 1) * m + i] -= Math.pow(h, m - i) * invFact[m - i];
  }
  if (2 * h - 1 > 0) H[(m - 1) * m] += Math.pow(2 * h - 1, m) * invFact[m];

  let result: Float64Array | undefined;
  let resultExp = 0;
  let hExp = 0;
  for (let e = n; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) {
      result = result ? multiply(result, H, m) : H.slice();
      resultExp += hExp;
      if (Math.abs(result[(k - 1) * m + (k - 1)]) > E128) {
        scale(result, EM128);
        resultExp += 128;
      }
    }
    if (e > 1) {
      H = multiply(H, H, m);
      hExp *= 2;
      if (Math.abs(H[(k - 1) * m + (k - 1)]) > E128) {
        scale(H, EM128);
        hExp += 128;
      }
    }
  }
  let p = result![(k - 1) * m + (k - 1)];
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= E128;
      resultExp -= 128;
    }
  }
  return clip(p * Math.pow(2, resultExp));
}

function multiply(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let l = 0; l < m; l++) {
      const ail = a[i * m + l];
      if (ail === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j] += ail * b[l * m + j];
    }
  }
  return out;
}

function scale(a: Float64Array, f: number): void {
  for (let i = 0; i < a.length; i++) a[i] *= f;
}

/**
 * Pelz & Good (1976): the Li-Chien/Korolyuk expansion K0 + K1/√n + K2/n + K3/n^1.5 in z = x√n, with each term
 * rewritten through Jacobi theta functions so that it converges for small z.
 */
export function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const pi2 = Math.PI * Math.PI;
  const pi4 = pi2 * pi2;
  const pi6 = pi4 * pi2;
  const qlog = -pi2 / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = pi2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * pi2) / 4;
  const k2c = (pi4 * (1 - 2 * z2)) / 16;
  const k3d = (pi6 * (5 - 30 * z2)) / 64;
  const k3c = (pi4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (pi2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z4 * z4;
  const K = [0, 0, 0, 0];
  // Σ over odd m = 2k−1 of c(m) q^(m²), by Horner in q^(8k)
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const qp = Math.pow(q, 8 * k);
    const c = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m2 * m2, k3a + k3b * m2 + k3c * m2 * m2 + k3d * m2 * m2 * m2];
    for (let i = 0; i < 4; i++) K[i] = K[i] * qp + c[i];
  }
  const sqrt2pi = Math.sqrt(2 * Math.PI);
  const denominators = [z, 6 * z4, 72 * z4 * z3, 6480 * z4 * z6];
  for (let i = 0; i < 4; i++) K[i] = (K[i] * q * sqrt2pi) / denominators[i];
  // the terms of K2 and K3 that run over all integers k
  q = Math.exp(-pi2 / 2 / z2);
  let k2extra = 0;
  let k3extra = 0;
  const sqrt3z = Math.sqrt(3) * z;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qk = Math.pow(q, k2);
    k2extra += k2 * qk;
    const kpi = Math.PI * k;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk;
  }
  K[2] += (k2extra * pi2 * sqrt2pi) / (-36 * z3);
  K[3] += (k3extra * pi2 * sqrt2pi) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i] / Math.pow(n, i / 2);
  return sum;
}

const MIN_LOG = -708.3964185322641;
/** Above this n scipy replaces Smirnov's sum by the approximation exp(−(6nx+1)²/(18n)). */
const SMIRNOV_MAX_COMPUTE_N = 1_000_000;

/**
 * One-sided P(D_n⁺ ≥ x), Smirnov (1944) / Birnbaum–Tingey (1951):
 *   x Σ_{v=0}^{⌊n(1−x)⌋} C(n,v) (x + v/n)^(v−1) (1 − x − v/n)^(n−v)
 * Every term is positive; each is formed in log space (binomial built up incrementally) and the sum stops once
 * the remaining terms cannot change it.
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const nx = n * x;
  const nxFloor = Math.floor(nx);
  const alpha = nx - nxFloor;
  if (nxFloor === 0 || (nxFloor === 1 && alpha === 0)) {
    // x ≤ 1/n: P(D⁺ < x) = x (1 + x)^(n−1)
    return clip(1 - x * Math.pow(1 + x, n - 1));
  }
  if (-2 * n * x * x < MIN_LOG) return 0;
  if (nxFloor >= n - 1) return clip(Math.pow(1 - x, n));
  if (n > SMIRNOV_MAX_COMPUTE_N) {
    const logp = -Math.pow(6 * n * x + 1, 2) / 18 / n;
    return clip(logp < -Math.LN2 ? Math.exp(logp) : 1 - -Math.expm1(logp));
  }
  // terms v = 0 … ⌊n(1 − x)⌋; when n·x is an integer the final term is exactly zero, so it is left out
  const last = n - nxFloor - 1;
  let sum = 0;
  let logBinom = 0;
  let previous = 0;
  for (let v = 0; v <= last; v++) {
    if (v > 0) logBinom += Math.log((n - v + 1) / v);
    const a = x + v / n;
    const b = (n - v) / n - x;
    if (b <= 0) break;
    const term = Math.exp(logBinom + (v - 1) * Math.log(a) + (n - v) * Math.log(b));
    sum += term;
    // Past the peak the terms shrink at least geometrically (they are log-concave in v), so the rest of the
    // series is below term·r/(1 − r) for the current ratio r: stop once that cannot change the sum.
    const ratio = previous > 0 ? term / previous : 1;
    if (ratio < 1 && (term * ratio) / (1 - ratio) < Number.EPSILON * sum * 0.25) break;
    previous = term;
  }
  return clip(x * sum);
}
