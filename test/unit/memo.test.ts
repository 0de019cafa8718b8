import assert from 'node:assert/strict';
import { DistinctRows } from '../../lib/serving/memo';

describe('distinct rows (batch scoring predicts each once)', () => {
  it('finds a repeated row, tells new ones apart, and survives growing far past its first size', () => {
    const n = 300_000;
    // two features: 1,000 × 100 combinations, so every row repeats three times over
    const a = Float64Array.from({ length: n }, (_, i) => i % 1000);
    const b = Float64Array.from({ length: n }, (_, i) => Math.floor(i / 1000) % 100);
    const memo = new DistinctRows(2);
    const entryOf = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const e = memo.entryOf([a, b], r);
      entryOf[r] = e < 0 ? -e - 1 : e;
      assert.equal(e < 0, r < 100_000, `row ${r}: new only the first time`);
    }
    assert.equal(memo.size, 100_000);
    for (let r = 100_000; r < n; r++) assert.equal(entryOf[r], entryOf[r - 100_000]);
    assert.equal(new Set(entryOf).size, 100_000);
  });

  it('a missing value (NaN) equals a missing value; 0.1 and 0.1000001 are different rows', () => {
    const memo = new DistinctRows(2);
    const x = Float64Array.from([NaN, NaN, 0.1, 0.1000001, 0.1]);
    const y = Float64Array.from([3, 3, 3, 3, 3]);
    const got = [0, 1, 2, 3, 4].map((r) => memo.entryOf([x, y], r));
    assert.deepEqual(got, [-1, 0, -2, -3, 1]);
  });

  it('holds at most maxEntries: a new row past them is FULL, a known one is still found', () => {
    const memo = new DistinctRows(1, 3);
    const x = Float64Array.from([1, 2, 3, 4, 2]);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((r) => memo.entryOf([x], r)),
      [-1, -2, -3, DistinctRows.FULL, 1],
    );
    assert.equal(memo.size, 3);
  });
});
