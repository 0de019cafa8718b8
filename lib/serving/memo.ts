/**
 * Rows by what decides their encoding (their feature codes, `featureCodes`), for batch scoring to predict each
 * distinct row once. Real files repeat themselves: the 3M flights are 215,765 distinct inputs to the flights model
 * (hour, weekday, distance, origin, destination). A row's encoding, and so its prediction, is a function of its
 * codes alone, so a repeated row gets the answer its first occurrence got. (Computed again in another batch it could
 * differ in the last float32 bits: tfjs' matmul rounds a row by where it falls in the batch. The tests hold the
 * two to 1e-6, as they hold serving to batch scoring.)
 *
 * An open-addressing hash table kept in one Float64Array: each slot holds a row's codes and its entry number + 1
 * (0: empty), side by side, so finding a row touches one place in memory. No object or string per row. Bounded:
 * past `maxEntries` distinct rows nothing more is remembered, and a later row that is new is predicted on its own.
 */
const SEED = 0x811c9dc5;

export class DistinctRows {
  /** slot s: codes at [s * stride, s * stride + features), entry + 1 at s * stride + features */
  private table: Float64Array;
  private readonly stride: number;
  private mask: number;
  private readonly bits = new Float64Array(1);
  private readonly words = new Uint32Array(this.bits.buffer);
  size = 0;

  static readonly FULL = -0x7fffffff;

  constructor(
    private readonly features: number,
    readonly maxEntries = 1 << 21,
  ) {
    this.stride = features + 1;
    const slots = 1 << 17;
    this.table = new Float64Array(slots * this.stride);
    this.mask = slots - 1;
  }

  /**
   * The entry of row `r` of `codes` (one array per feature): an existing one, a new one (returned as -(entry + 1)),
   * or `DistinctRows.FULL` when the row is new and the table holds `maxEntries` already.
   */
  entryOf(codes: Float64Array[], r: number): number {
    const f = this.features;
    let hash = SEED;
    for (let j = 0; j < f; j++) hash = this.mix(hash, codes[j][r]);
    for (let slot = (hash ^ (hash >>> 15)) & this.mask; ; slot = (slot + 1) & this.mask) {
      const at = slot * this.stride;
      const held = this.table[at + f];
      if (held === 0) {
        if (this.size >= this.maxEntries) return DistinctRows.FULL;
        const entry = this.size++;
        for (let j = 0; j < f; j++) this.table[at + j] = codes[j][r];
        this.table[at + f] = entry + 1;
        if (this.size * 2 > this.mask + 1) this.grow();
        return -(entry + 1);
      }
      let same = true;
      for (let j = 0; j < f && same; j++) {
        const a = this.table[at + j];
        const b = codes[j][r];
        same = a === b || (a !== a && b !== b); // a missing value (NaN) equals a missing value
      }
      if (same) return held - 1;
    }
  }

  /** FNV-1a over the value's 8 bytes, a word at a time */
  private mix(hash: number, value: number): number {
    this.bits[0] = value;
    return Math.imul(Math.imul(hash ^ this.words[0], 0x01000193) ^ this.words[1], 0x01000193);
  }

  /** twice the slots, every row placed again (at most half the slots are ever used) */
  private grow(): void {
    const f = this.features;
    const stride = this.stride;
    const old = this.table;
    const slots = (this.mask + 1) * 2;
    const table = new Float64Array(slots * stride);
    const mask = slots - 1;
    for (let from = 0; from < old.length; from += stride) {
      if (old[from + f] === 0) continue;
      let hash = SEED;
      for (let j = 0; j < f; j++) hash = this.mix(hash, old[from + j]);
      let slot = (hash ^ (hash >>> 15)) & mask;
      while (table[slot * stride + f] !== 0) slot = (slot + 1) & mask;
      table.set(old.subarray(from, from + stride), slot * stride);
    }
    this.table = table;
    this.mask = mask;
  }
}
