import assert from 'node:assert/strict';
import type { Preprocessor } from '../../lib/features';
import { FilePredictions } from '../../lib/serving/batch';
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

describe('a file’s predictions, each distinct row computed once', () => {
  // two features: a category (3 known + unknown, one-hot) and a number; three outputs, as a multiclass model has
  const pre: Preprocessor = {
    version: 1,
    features: [
      { name: 'c', column: 'c', kind: 'categorical', vocabulary: ['x', 'y', 'z'] },
      { name: 'n', column: 'n', kind: 'numeric', log: false, standardize: true, mean: 10, std: 4 },
    ],
    label: { task: 'multiclass', column: 'k', classes: ['a', 'b', 'c'] },
    width: 5,
    inputNames: ['c=x', 'c=y', 'c=z', 'c=<unknown>', 'n'],
  };
  /** a stand-in model: each output a different weighted sum of the encoded row (tfjs is not what is tested here) */
  const model =
    (calls: number[]) =>
    (x: Float32Array, rows: number): Float32Array => {
      calls.push(rows);
      const out = new Float32Array(rows * 3);
      for (let r = 0; r < rows; r++)
        for (let k = 0; k < 3; k++) {
          let sum = 0;
          for (let j = 0; j < 5; j++) sum += x[r * 5 + j] * (j + 1) * (k + 2);
          out[r * 3 + k] = sum;
        }
      return out;
    };
  const expected = (c: number, n: number, k: number): number => {
    const z = Number.isNaN(n) ? 0 : Math.fround((n - 10) / 4);
    return Math.fround((c + 1) * (k + 2) + z * 5 * (k + 2));
  };
  const chunk = (from: number, n: number, numberOf: (i: number) => number): Float64Array[] => [
    Float64Array.from({ length: n }, (_, r) => (from + r) % 4),
    Float64Array.from({ length: n }, (_, r) => numberOf(from + r)),
  ];

  /** each chunk handed over in the same arrays, as batch scoring does: what `add` kept of them would be overwritten */
  function addReusing(predictions: FilePredictions, chunks: Float64Array[][], n: number): void {
    const shared = [new Float64Array(n), new Float64Array(n)];
    const buffer = new Float32Array(n * 5);
    for (const c of chunks) {
      shared.forEach((array, f) => array.set(c[f]));
      predictions.add(shared, n, buffer);
    }
  }

  function check(parts: Float32Array[], chunks: Float64Array[][]): void {
    parts.forEach((part, p) => {
      const [c, n] = chunks[p];
      for (let r = 0; r < c.length; r++)
        for (let k = 0; k < 3; k++) assert.equal(part[r * 3 + k], expected(c[r], n[r], k), `chunk ${p} row ${r}`);
    });
  }

  it('answers every row of a repetitive file, in order, computing its 100 distinct rows in one call', () => {
    const calls: number[] = [];
    const predictions = new FilePredictions(pre, 3, model(calls), 1 << 21);
    // row i: category i mod 4, number i mod 50 (one of them missing): 100 distinct rows (lcm 100) among 300,000
    const numberOf = (i: number): number => (i % 50 === 7 ? NaN : i % 50);
    const chunks = [0, 1, 2].map((k) => chunk(k * 100_000, 100_000, numberOf));
    addReusing(predictions, chunks, 100_000);
    const parts = predictions.finish();
    check(parts, chunks);
    assert.deepEqual([predictions.computed, predictions.remembered, calls], [100, true, [100]]);
  });

  it('past its bound, a new row is computed on its own, with the same answer', () => {
    const calls: number[] = [];
    const predictions = new FilePredictions(pre, 3, model(calls), 10);
    const chunks = [chunk(0, 5_000, (i) => i % 40)];
    predictions.add(chunks[0], 5_000, new Float32Array(5_000 * 5));
    check(predictions.finish(), chunks);
    // 40 distinct rows (row i is i mod 40): the 10 kept are computed once; the other 3,750 rows each time
    assert.equal(predictions.computed, 10 + 3_750);
  });

  it('a file whose rows keep being new stops remembering, and its later chunks are computed as they come', () => {
    const calls: number[] = [];
    const predictions = new FilePredictions(pre, 3, model(calls), 1 << 21);
    const chunks = [0, 1, 2, 3, 4].map((k) => chunk(k * 65_536, 65_536, (i) => i));
    addReusing(predictions, chunks, 65_536);
    assert.equal(predictions.remembered, false);
    check(predictions.finish(), chunks);
    assert.equal(predictions.computed, 5 * 65_536);
  });
});
