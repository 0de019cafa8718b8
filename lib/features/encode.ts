import { PERIOD, timePart } from '../calendar';
import type { Table } from '../data/table';
import { positiveTest } from '../labels';
import { crossIndexer } from './cross';
import { numbers, strings } from './columns';
import { isEmbedded, offsetsOf, piecesOf, type Preprocessor } from './types';

/** milliseconds in a day: a time value is days since 1970 */
export const DAY_MS = 86_400_000;

export function numericValue(x: number, log: boolean): number {
  return log ? Math.log1p(Math.max(x, 0)) : x;
}

/**
 * Encode rows into a row-major Float32Array of `rows.length × width` — into `into` when it is given and large
 * enough (scoring a big file reuses one buffer instead of allocating tens of megabytes per chunk).
 */
export function encodeFeatures(
  pre: Preprocessor,
  table: Table,
  rows: ArrayLike<number>,
  into?: Float32Array,
): Float32Array {
  return encodeCodes(pre, featureCodes(pre, table, rows), rows.length, into);
}

/**
 * What decides how each row is encoded: one number per feature — a categorical, cross or calendar feature's index
 * (-1: no value; a category outside the vocabulary has the index after it), a numeric feature's value as read
 * (NaN: missing or not finite; its log and scaling are applied in `encodeCodes`, to the rows encoded). Rows with the same numbers encode to the same inputs, which lets batch scoring predict each
 * distinct row once. One Float64Array per feature, `rows.length` long — views of `into`'s arrays when they are
 * given and long enough (a file scored chunk by chunk reuses them instead of allocating megabytes per chunk).
 */
export function featureCodes(
  pre: Preprocessor,
  table: Table,
  rows: ArrayLike<number>,
  into?: Float64Array[],
): Float64Array[] {
  const n = rows.length;
  return pre.features.map((feature, f) => {
    const codes = into && into[f].length >= n ? into[f].subarray(0, n) : new Float64Array(n);
    switch (feature.kind) {
      case 'numeric': {
        const values = numbers(table, { name: feature.column, as: 'number' });
        for (let r = 0; r < n; r++) {
          const x = values[rows[r]];
          codes[r] = Number.isFinite(x) ? x : NaN;
        }
        break;
      }
      case 'categorical':
      case 'cross': {
        const unknown = feature.vocabulary.length;
        if (feature.kind === 'cross') {
          const indexOf = crossIndexer(feature, table);
          for (let r = 0; r < n; r++) codes[r] = indexOf(rows[r]);
          break;
        }
        const coded = table.columns.get(`code:${feature.column}`);
        if (coded?.kind === 'number') {
          // positions looked up by DuckDB (batch scoring reads them so): 1-based, 0 = not in the vocabulary
          const c = coded.values;
          for (let r = 0; r < n; r++) {
            const code = c[rows[r]];
            codes[r] = code > 0 ? code - 1 : unknown;
          }
          break;
        }
        const values = strings(table, { name: feature.column, as: 'string' });
        const index = new Map(feature.vocabulary.map((v, i) => [v, i]));
        for (let r = 0; r < n; r++) {
          const v = values[rows[r]];
          codes[r] = v === null ? unknown : (index.get(v) ?? unknown);
        }
        break;
      }
      case 'timeValue': {
        const values = numbers(table, { name: feature.column, as: 'timestamp' });
        for (let r = 0; r < n; r++) {
          const ms = values[rows[r]];
          codes[r] = Number.isFinite(ms) ? ms / DAY_MS : NaN;
        }
        break;
      }
      default: {
        const values = numbers(table, { name: feature.column, as: 'timestamp' });
        for (let r = 0; r < n; r++) codes[r] = timePart(feature.kind, values[rows[r]]);
      }
    }
    return codes;
  });
}

/**
 * Rows encoded from their feature codes (`featureCodes`): `n × width`, row-major, into `into` when it is large
 * enough. Row r is the codes' row `pick[r]` (the codes' first n rows when `pick` is absent).
 */
export function encodeCodes(
  pre: Preprocessor,
  codes: Float64Array[],
  n: number,
  into?: Float32Array,
  pick?: ArrayLike<number>,
): Float32Array {
  const width = pre.width;
  const out = into && into.length >= n * width ? into.subarray(0, n * width).fill(0) : new Float32Array(n * width);
  const offsets = offsetsOf(pre.features);
  pre.features.forEach((feature, f) => {
    const offset = offsets[f];
    const c = codes[f];
    switch (feature.kind) {
      case 'numeric': {
        const edges = feature.edges;
        const pieces = piecesOf(feature);
        for (let r = 0; r < n; r++) {
          const code = c[pick ? pick[r] : r];
          const present = !Number.isNaN(code);
          const v = present ? numericValue(code, feature.log) : feature.mean;
          const at = r * width + offset;
          out[at] = feature.standardize ? (v - feature.mean) / feature.std : v;
          // each piece: 0 below it, 1 above it, linear across it (a missing value is encoded as the mean it takes)
          for (let k = 0; k < pieces; k++) {
            const from = edges![k];
            const to = edges![k + 1];
            out[at + 1 + k] = v <= from ? 0 : v >= to ? 1 : (v - from) / (to - from);
          }
          if (feature.missingIndicator) out[at + 1 + pieces] = present ? 0 : 1;
        }
        break;
      }
      case 'timeValue':
        for (let r = 0; r < n; r++) {
          const days = c[pick ? pick[r] : r];
          // missing: the training mean, which standardises to 0
          out[r * width + offset] = Number.isNaN(days) ? 0 : (days - feature.mean) / feature.std;
        }
        break;
      case 'categorical':
      case 'cross':
        // one-hot: a 1 at the category's input; embedded: the category's index in the one slot
        if (isEmbedded(feature)) for (let r = 0; r < n; r++) out[r * width + offset] = c[pick ? pick[r] : r];
        else for (let r = 0; r < n; r++) out[r * width + offset + c[pick ? pick[r] : r]] = 1;
        break;
      default: {
        const period = PERIOD[feature.kind];
        for (let r = 0; r < n; r++) {
          const k = c[pick ? pick[r] : r];
          if (k < 0) continue; // missing: all zeros (for cyclical, the clock's centre)
          if (feature.cyclical) {
            const angle = (2 * Math.PI * k) / period;
            out[r * width + offset] = Math.sin(angle);
            out[r * width + offset + 1] = Math.cos(angle);
          } else {
            out[r * width + offset + k] = 1;
          }
        }
      }
    }
  });
  return out;
}

/**
 * Encode labels: binary → 0/1, multiclass → class index, regression → standardised value.
 * NaN marks a missing or unusable label; such rows are excluded by `labelledRows`.
 */
export function encodeLabels(pre: Preprocessor, table: Table, rows: ArrayLike<number>): Float32Array {
  const n = rows.length;
  const out = new Float32Array(n);
  const label = pre.label;
  if (label.task === 'binary') {
    const rule = label.rule;
    if (label.as === 'string') {
      const values = strings(table, { name: rule.column, as: 'string' });
      const test = positiveTest(rule, 'string');
      for (let r = 0; r < n; r++) {
        const v = values[rows[r]];
        out[r] = v === null ? NaN : test(v) ? 1 : 0;
      }
    } else {
      const values = numbers(table, { name: rule.column, as: 'number' });
      const test = positiveTest(rule, 'number');
      for (let r = 0; r < n; r++) {
        const v = values[rows[r]];
        out[r] = Number.isFinite(v) ? (test(v) ? 1 : 0) : NaN;
      }
    }
  } else if (label.task === 'multiclass') {
    const values = strings(table, { name: label.column, as: 'string' });
    const index = new Map(label.classes.map((c, i) => [c, i]));
    for (let r = 0; r < n; r++) {
      const v = values[rows[r]];
      out[r] = v === null ? NaN : (index.get(v) ?? NaN);
    }
  } else {
    const values = numbers(table, { name: label.column, as: 'number' });
    for (let r = 0; r < n; r++) {
      const v = values[rows[r]];
      out[r] = Number.isFinite(v) ? (v - label.mean) / label.std : NaN;
    }
  }
  return out;
}

/** Undo the regression label scaling. */
export function decodeRegression(pre: Preprocessor, y: number): number {
  return pre.label.task === 'regression' ? y * pre.label.std + pre.label.mean : y;
}
