/**
 * Sort float64 values ascending with an LSD radix sort on their IEEE-754 bits (4 passes of 16 bits):
 * about twice as fast as Float64Array.prototype.sort on a million values. NaN must be removed first;
 * −0 is normalised to +0 so equal values stay adjacent.
 */
export function sortFloat64(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = values[i] === 0 ? 0 : values[i];
  if (n < 512) return out.sort();
  let keys = new Uint32Array(out.buffer);
  let tmp = new Uint32Array(2 * n);
  // One read pass: map each value to an unsigned key (flip all bits of negatives, the sign bit of positives;
  // little-endian words [lo, hi]) and count all four 16-bit digits at once.
  const counts = new Uint32Array(4 * 65536);
  for (let i = 0; i < n; i++) {
    let hi = keys[2 * i + 1];
    let lo = keys[2 * i];
    if (hi & 0x80000000) {
      hi = ~hi >>> 0;
      lo = ~lo >>> 0;
    } else {
      hi = (hi | 0x80000000) >>> 0;
    }
    keys[2 * i] = lo;
    keys[2 * i + 1] = hi;
    counts[lo & 0xffff]++;
    counts[65536 + (lo >>> 16)]++;
    counts[131072 + (hi & 0xffff)]++;
    counts[196608 + (hi >>> 16)]++;
  }
  for (let pass = 0; pass < 4; pass++) {
    const base = pass * 65536;
    // a digit that is the same in every key orders nothing: skip its pass
    if (counts[base + digit(keys, 0, pass)] === n) continue;
    let sum = 0;
    for (let k = 0; k < 65536; k++) {
      const c = counts[base + k];
      counts[base + k] = sum;
      sum += c;
    }
    const word = pass >> 1;
    const shift = (pass & 1) * 16;
    for (let i = 0; i < n; i++) {
      const d = counts[base + ((keys[2 * i + word] >>> shift) & 0xffff)]++;
      tmp[2 * d] = keys[2 * i];
      tmp[2 * d + 1] = keys[2 * i + 1];
    }
    [keys, tmp] = [tmp, keys];
  }
  for (let i = 0; i < n; i++) {
    const hi = keys[2 * i + 1];
    if (hi & 0x80000000) {
      keys[2 * i + 1] = hi & 0x7fffffff;
    } else {
      keys[2 * i + 1] = ~hi;
      keys[2 * i] = ~keys[2 * i];
    }
  }
  return new Float64Array(keys.buffer);
}

function digit(keys: Uint32Array, i: number, pass: number): number {
  return (keys[2 * i + (pass >> 1)] >>> ((pass & 1) * 16)) & 0xffff;
}

/** The finite values of a column, sorted. NaN and ±Inf are counted by the profile, not compared by drift tests. */
export function sortedFinite(values: ArrayLike<number>): Float64Array {
  let count = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) count++;
  const finite = new Float64Array(count);
  let k = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) finite[k++] = values[i];
  return sortFloat64(finite);
}
