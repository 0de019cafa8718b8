/**
 * Seeded randomness. Everything random in Lumen (row splits, shuffles, weight initialisation) derives from the
 * spec's seed through these functions, so a run is reproducible from its lineage record.
 */

/** A 32-bit integer hash (from the "lowbias32" family of xorshift-multiply mixers). */
export function hash32(x: number): number {
  x = x >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Uniform in [0, 1) determined only by (seed, index). */
export function unitHash(seed: number, index: number): number {
  return hash32(hash32(seed) ^ index) / 4294967296;
}

/** mulberry32: a small, fast, seedable PRNG with 32 bits of state. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates permutation of 0..n-1 from a seed. */
export function permutation(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rand = prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/** Derive an independent seed for a named purpose (e.g. "shuffle:3", "init:dense_1"). */
export function deriveSeed(seed: number, purpose: string): number {
  let h = hash32(seed);
  for (let i = 0; i < purpose.length; i++) h = hash32(h ^ purpose.charCodeAt(i));
  return h & 0x7fffffff;
}
