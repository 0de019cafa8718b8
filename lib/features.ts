import { DataValidationError } from './errors';

export { timePart } from './calendar';
export { CROSS_SEPARATOR } from './feature-cross';
import { deriveSeed, permutation, unitHash } from './rng';
import { PERIOD, timePart, WEEKDAYS } from './calendar';

/** milliseconds in a day: a time value is days since 1970 */
const DAY_MS = 86_400_000;
import { columnKey, type ColumnData, type ColumnRequest, type Table } from './data/table';
import { CROSS_SEPARATOR, crossIndexer, crossKeys } from './feature-cross';
import { labelReading, positiveTest } from './labels';
import type { LabelRule, ModelSpec } from './spec';

/**
 * Feature transforms fitted on training rows and frozen into the model artifact, so training, evaluation and
 * serving encode a row identically.
 */

export type FittedFeature =
  | {
      name: string;
      column: string;
      kind: 'numeric';
      log: boolean;
      standardize: boolean;
      mean: number;
      std: number;
      /** one more input: 1 where the value was missing (and imputed with the mean); absent in older artifacts */
      missingIndicator?: boolean;
      /** the smallest and largest raw value in the training rows: serving flags inputs outside (newer artifacts) */
      range?: [number, number];
      /**
       * piecewise-linear encoding: the pieces' edges (ascending, after the log), one input per piece after the
       * value's own; absent: the value alone
       */
      edges?: number[];
    }
  | {
      name: string;
      column: string;
      kind: 'hourOfDay' | 'dayOfWeek' | 'month';
      format?: string;
      /** two inputs, sine and cosine of the part's angle; absent: one-hot (and in older artifacts) */
      cyclical?: boolean;
    }
  | {
      name: string;
      column: string;
      kind: 'timeValue';
      format?: string;
      /** days since 1970 in the training rows: their mean and standard deviation */
      mean: number;
      std: number;
    }
  | {
      name: string;
      column: string;
      kind: 'categorical';
      vocabulary: string[];
      /** set: the category's index goes to an embedding of this many numbers; absent: one-hot */
      embeddingDim?: number;
    }
  | {
      name: string;
      kind: 'cross';
      /** the crossed features' columns and how each is read */
      parts: CrossPart[];
      /** the combinations kept, each its parts' values joined by CROSS_SEPARATOR */
      vocabulary: string[];
      embeddingDim?: number;
    };

export type CrossPart =
  | { column: string; kind: 'categorical' }
  | { column: string; kind: 'hourOfDay' | 'dayOfWeek' | 'month'; format?: string };

export type FittedLabel =
  | { task: 'binary'; rule: Extract<LabelRule, { kind: 'threshold' | 'oneOf' }>; as: 'number' | 'string' }
  | { task: 'multiclass'; column: string; classes: string[] }
  | { task: 'regression'; column: string; mean: number; std: number };

export interface Preprocessor {
  version: 1;
  features: FittedFeature[];
  label: FittedLabel;
  /**
   * number of input values per row: the one-hot, numeric and calendar inputs in feature order, then one index per
   * embedded feature (see `embeddingsOf`)
   */
  width: number;
  /** one name per input value, e.g. "origin=ATL", "dep_hour=7", "route#" (an embedded feature's index) */
  inputNames: string[];
}

/** An embedded feature: its index sits at `slot` of an encoded row and picks one of `rows` learned vectors. */
export interface EmbeddingInput {
  feature: string;
  slot: number;
  rows: number;
  dim: number;
}

type Categories = Extract<FittedFeature, { kind: 'categorical' | 'cross' }>;

function isEmbedded(f: FittedFeature): f is Categories & { embeddingDim: number } {
  return (f.kind === 'categorical' || f.kind === 'cross') && f.embeddingDim !== undefined;
}

/** The embedded features, in the order of their index slots at the end of an encoded row. */
export function embeddingsOf(pre: Preprocessor): EmbeddingInput[] {
  const embedded = pre.features.filter(isEmbedded);
  const first = pre.width - embedded.length;
  return embedded.map((f, j) => ({
    feature: f.name,
    slot: first + j,
    rows: f.vocabulary.length + 1,
    dim: f.embeddingDim,
  }));
}

/** The columns a fitted feature reads. */
export function featureColumns(f: FittedFeature): string[] {
  return f.kind === 'cross' ? f.parts.map((p) => p.column) : [f.column];
}

/** Where each feature's inputs start in an encoded row: embedded ones after all the others. */
function offsetsOf(features: FittedFeature[]): number[] {
  const dense = features.reduce((w, f) => w + (isEmbedded(f) ? 0 : widthOf(f)), 0);
  let offset = 0;
  let index = dense;
  return features.map((f) => {
    if (isEmbedded(f)) return index++;
    const at = offset;
    offset += widthOf(f);
    return at;
  });
}

/** The size of an embedding left to Lumen: 2 × the fourth root of the number of categories, between 2 and 32. */
export function derivedEmbeddingDim(categories: number): number {
  return Math.min(32, Math.max(2, Math.round(2 * categories ** 0.25)));
}

type SpecFeature = ModelSpec['features'][number];

/** The column a (non-cross) feature reads; the spec's check guarantees every other feature names one. */
function columnOf(feature: SpecFeature): string {
  if (feature.column === undefined) throw new Error(`feature "${feature.name}" names no column`);
  return feature.column;
}

function featureRequest(spec: ModelSpec, feature: SpecFeature): ColumnRequest {
  const column = columnOf(feature);
  switch (feature.transform.kind) {
    case 'numeric':
      return { name: column, as: 'number' };
    case 'categorical':
      return { name: column, as: 'string' };
    default: {
      const format = spec.source.columns.find((c) => c.name === column)?.format;
      return { name: column, as: 'timestamp', ...(format ? { format } : {}) };
    }
  }
}

/** The features a cross combines, as the spec declares them. */
function crossedFeatures(spec: ModelSpec, feature: SpecFeature): SpecFeature[] {
  if (feature.transform.kind !== 'cross') return [];
  return feature.transform.of.map((name) => {
    const part = spec.features.find((f) => f.name === name);
    if (!part) throw new Error(`cross "${feature.name}": no feature "${name}"`);
    return part;
  });
}

function labelRequest(spec: ModelSpec): ColumnRequest {
  const { rule, as } = labelReading(spec);
  return { name: rule.column, as };
}

/** The source columns a spec's features read (crosses read their features' columns). */
export function inputColumns(spec: ModelSpec): string[] {
  return [...new Set(spec.features.flatMap((f) => (f.transform.kind === 'cross' ? [] : [columnOf(f)])))];
}

/** The columns (and how to read them) that a spec needs from a dataset. */
export function columnRequests(spec: ModelSpec): ColumnRequest[] {
  const all = [
    ...spec.features.flatMap((f) =>
      f.transform.kind === 'cross'
        ? crossedFeatures(spec, f).map((p) => featureRequest(spec, p))
        : [featureRequest(spec, f)],
    ),
    labelRequest(spec),
  ];
  const seen = new Map(all.map((r) => [columnKey(r), r]));
  return [...seen.values()];
}

function column(table: Table, req: ColumnRequest): ColumnData {
  const data = table.columns.get(columnKey(req));
  if (!data) throw new Error(`column ${columnKey(req)} was not loaded`);
  return data;
}

function numbers(table: Table, req: ColumnRequest): Float64Array {
  const data = column(table, req);
  if (data.kind !== 'number') throw new Error(`column ${req.name} loaded as strings, needed numbers`);
  return data.values;
}

function strings(table: Table, req: ColumnRequest): (string | null)[] {
  const data = column(table, req);
  if (data.kind !== 'string') throw new Error(`column ${req.name} loaded as numbers, needed strings`);
  return data.values;
}

function widthOf(feature: FittedFeature): number {
  switch (feature.kind) {
    case 'numeric':
      return 1 + piecesOf(feature) + (feature.missingIndicator ? 1 : 0);
    case 'timeValue':
      return 1;
    case 'hourOfDay':
    case 'dayOfWeek':
    case 'month':
      return feature.cyclical ? 2 : PERIOD[feature.kind];
    case 'categorical':
    case 'cross':
      return feature.embeddingDim !== undefined ? 1 : feature.vocabulary.length + 1;
  }
}

function inputNamesOf(feature: FittedFeature): string[] {
  switch (feature.kind) {
    case 'numeric': {
      const edges = feature.edges ?? [];
      const pieces = edges.slice(1).map((to, k) => `${feature.name}∈[${edges[k]}, ${to}]`);
      return [feature.name, ...pieces, ...(feature.missingIndicator ? [`${feature.name}=<missing>`] : [])];
    }
    case 'timeValue':
      return [feature.name];
    case 'hourOfDay':
      if (feature.cyclical) return [`${feature.name}.sin`, `${feature.name}.cos`];
      return Array.from({ length: 24 }, (_, h) => `${feature.name}=${h}`);
    case 'dayOfWeek':
      if (feature.cyclical) return [`${feature.name}.sin`, `${feature.name}.cos`];
      return WEEKDAYS.map((d) => `${feature.name}=${d}`);
    case 'month':
      if (feature.cyclical) return [`${feature.name}.sin`, `${feature.name}.cos`];
      return Array.from({ length: 12 }, (_, m) => `${feature.name}=${m + 1}`);
    case 'categorical':
    case 'cross': {
      if (feature.embeddingDim !== undefined) return [`${feature.name}#`];
      const shown = (v: string): string => (feature.kind === 'cross' ? v.split(CROSS_SEPARATOR).join(' × ') : v);
      return [...feature.vocabulary.map((v) => `${feature.name}=${shown(v)}`), `${feature.name}=<unknown>`];
    }
  }
}

function numericValue(x: number, log: boolean): number {
  return log ? Math.log1p(Math.max(x, 0)) : x;
}

function piecesOf(feature: Extract<FittedFeature, { kind: 'numeric' }>): number {
  return feature.edges ? feature.edges.length - 1 : 0;
}

/**
 * The edges of at most `pieces` pieces between quantiles of the finite values on the given rows (after `map`),
 * equal edges merged; none when the values take fewer than two distinct values.
 */
function quantileEdges(
  values: Float64Array,
  rows: Uint32Array,
  map: (x: number) => number,
  pieces: number,
): number[] | undefined {
  const finite: number[] = [];
  for (const i of rows) if (Number.isFinite(values[i])) finite.push(map(values[i]));
  if (finite.length === 0) return undefined;
  const sorted = Float64Array.from(finite).sort();
  const edges: number[] = [];
  for (let k = 0; k <= pieces; k++) {
    const edge = sorted[Math.round((k / pieces) * (sorted.length - 1))];
    if (edges.length === 0 || edge > edges[edges.length - 1]) edges.push(edge);
  }
  return edges.length >= 2 ? edges : undefined;
}

/**
 * Mean and sample standard deviation (1 when constant) of the finite values on the given rows, after `map`, and how
 * many of the rows had no finite value.
 */
function meanStd(
  values: Float64Array,
  rows: Uint32Array,
  map: (x: number) => number,
): { mean: number; std: number; missing: number; min: number; max: number } {
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const i of rows) {
    const x = values[i];
    if (Number.isFinite(x)) {
      if (x < min) min = x;
      if (x > max) max = x;
      const v = map(x);
      sum += v;
      sumSq += v * v;
      n++;
    }
  }
  const mean = n > 0 ? sum / n : 0;
  const variance = n > 1 ? Math.max(0, (sumSq - n * mean * mean) / (n - 1)) : 0;
  return { mean, std: variance > 0 ? Math.sqrt(variance) : 1, missing: rows.length - n, min, max };
}

/** Learn transform state (means, vocabularies, classes) from the training rows only. */
export function fitPreprocessor(spec: ModelSpec, table: Table, trainRows: Uint32Array): Preprocessor {
  const features: FittedFeature[] = spec.features.map((feature) => {
    const t = feature.transform;
    if (t.kind === 'cross') return fitCross(spec, table, trainRows, feature, t);
    const base = { name: feature.name, column: columnOf(feature) };
    if (t.kind === 'numeric') {
      const values = numbers(table, featureRequest(spec, feature));
      const { mean, std, missing, min, max } = meanStd(values, trainRows, (x) => numericValue(x, t.log));
      const missingIndicator = t.missingIndicator === 'always' || (t.missingIndicator === 'auto' && missing > 0);
      const range: [number, number] | undefined = min <= max ? [min, max] : undefined;
      const edges = t.pieces ? quantileEdges(values, trainRows, (x) => numericValue(x, t.log), t.pieces) : undefined;
      return {
        ...base,
        kind: 'numeric',
        log: t.log,
        standardize: t.standardize,
        mean,
        std,
        missingIndicator,
        ...(range ? { range } : {}),
        ...(edges ? { edges } : {}),
      };
    }
    if (t.kind === 'categorical') {
      const values = strings(table, featureRequest(spec, feature));
      const vocabulary = learnVocabulary((i) => values[i], trainRows, t);
      return { ...base, kind: 'categorical', vocabulary, ...embedding(t, vocabulary) };
    }
    const format = spec.source.columns.find((c) => c.name === base.column)?.format;
    if (t.kind === 'timeValue') {
      const ms = numbers(table, featureRequest(spec, feature));
      const { mean, std } = meanStd(ms, trainRows, (x) => x / DAY_MS);
      return { ...base, kind: 'timeValue', ...(format ? { format } : {}), mean, std };
    }
    return {
      ...base,
      kind: t.kind,
      ...(format ? { format } : {}),
      ...(t.encoding === 'cyclical' ? { cyclical: true } : {}),
    };
  });
  const label = fitLabel(spec, table, trainRows);
  const width = features.reduce((w, f) => w + widthOf(f), 0);
  const inputNames = [
    ...features.filter((f) => !isEmbedded(f)).flatMap(inputNamesOf),
    ...features.filter(isEmbedded).flatMap(inputNamesOf),
  ];
  return { version: 1, features, label, width, inputNames };
}

function fitCross(
  spec: ModelSpec,
  table: Table,
  trainRows: Uint32Array,
  feature: SpecFeature,
  t: Extract<SpecFeature['transform'], { kind: 'cross' }>,
): FittedFeature {
  const parts = crossedFeatures(spec, feature).map((p): CrossPart => {
    const req = featureRequest(spec, p);
    if (p.transform.kind === 'categorical') return { column: req.name, kind: 'categorical' };
    if (p.transform.kind === 'numeric' || p.transform.kind === 'cross' || p.transform.kind === 'timeValue') {
      throw new Error(`cross "${feature.name}": "${p.name}" is a ${p.transform.kind} feature`);
    }
    return {
      column: req.name,
      kind: p.transform.kind,
      ...(req.as === 'timestamp' && req.format ? { format: req.format } : {}),
    };
  });
  const vocabulary = learnVocabulary(crossKeys(parts, table), trainRows, t);
  return { name: feature.name, kind: 'cross', parts, vocabulary, ...embedding(t, vocabulary) };
}

/** The categories seen at least `minCount` times on the training rows, most frequent first, at most `maxCategories`. */
function learnVocabulary(
  valueOf: (row: number) => string | null,
  trainRows: Uint32Array,
  limits: { maxCategories: number; minCount: number },
): string[] {
  const counts = new Map<string, number>();
  for (const i of trainRows) {
    const v = valueOf(i);
    if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return [...counts.entries()]
    .filter(([, c]) => c >= limits.minCount)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, limits.maxCategories)
    .map(([v]) => v);
}

function embedding(
  t: { encoding: 'oneHot' | 'embedding'; embeddingDim?: number },
  vocabulary: string[],
): { embeddingDim?: number } {
  if (t.encoding !== 'embedding') return {};
  return { embeddingDim: t.embeddingDim ?? derivedEmbeddingDim(vocabulary.length + 1) };
}

function fitLabel(spec: ModelSpec, table: Table, trainRows: Uint32Array): FittedLabel {
  const rule = spec.label;
  const req = labelRequest(spec);
  switch (rule.kind) {
    case 'threshold':
    case 'oneOf':
      return { task: 'binary', rule, as: req.as === 'string' ? 'string' : 'number' };
    case 'classes': {
      if (rule.classes) return { task: 'multiclass', column: rule.column, classes: rule.classes };
      const values = strings(table, req);
      const seen = new Set<string>();
      for (const i of trainRows) if (values[i] !== null) seen.add(values[i]);
      const classes = [...seen].sort();
      if (classes.length < 2) {
        throw new DataValidationError(
          `label column "${rule.column}" has ${classes.length} distinct value(s) in the training rows; multiclass needs at least 2`,
        );
      }
      return { task: 'multiclass', column: rule.column, classes };
    }
    case 'value': {
      const { mean, std } = meanStd(numbers(table, req), trainRows, (v) => v);
      return { task: 'regression', column: rule.column, mean, std };
    }
  }
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

export interface Split {
  train: Uint32Array;
  holdout: Uint32Array;
  /** rows dropped because their label is missing or not a declared class */
  unlabelled: number;
  /** training rows left out by maxTrainingRows */
  sampledOut: number;
}

/**
 * Deterministic split: a row is held out when a seeded hash of its position falls under the holdout fraction,
 * so the same snapshot and seed always give the same split, on any machine, with no shuffle state to store.
 */
export function splitRows(
  rows: number,
  labelled: (i: number) => boolean,
  settings: { seed: number; holdoutFraction: number; maxTrainingRows?: number },
): Split {
  const holdoutSeed = deriveSeed(settings.seed, 'holdout');
  const train: number[] = [];
  const holdout: number[] = [];
  let unlabelled = 0;
  for (let i = 0; i < rows; i++) {
    if (!labelled(i)) {
      unlabelled++;
      continue;
    }
    (unitHash(holdoutSeed, i) < settings.holdoutFraction ? holdout : train).push(i);
  }
  let trainRows = Uint32Array.from(train);
  let sampledOut = 0;
  if (settings.maxTrainingRows !== undefined && trainRows.length > settings.maxTrainingRows) {
    const order = permutation(trainRows.length, deriveSeed(settings.seed, 'sample'));
    const keep = order.subarray(0, settings.maxTrainingRows).slice().sort();
    sampledOut = trainRows.length - keep.length;
    trainRows = Uint32Array.from(keep, (k) => trainRows[k]);
  }
  return { train: trainRows, holdout: Uint32Array.from(holdout), unlabelled, sampledOut };
}

/**
 * Which rows carry a usable label — used before fitting, when classes may still be unknown. A learned class with
 * fewer rows than the rule's minClassRows is too rare to learn: its rows are not usable (rareClasses names them).
 */
export function labelPresent(spec: ModelSpec, table: Table): (i: number) => boolean {
  const req = labelRequest(spec);
  const data = column(table, req);
  const declared = spec.label.kind === 'classes' && spec.label.classes ? new Set(spec.label.classes) : undefined;
  if (data.kind === 'number') return (i) => Number.isFinite(data.values[i]);
  const rare = new Set(rareClasses(spec, table).map((c) => c.class));
  return (i) => data.values[i] !== null && (!declared || declared.has(data.values[i])) && !rare.has(data.values[i]);
}

/** The learned classes too rare to learn (fewer labelled rows than minClassRows), with their counts, rarest first. */
export function rareClasses(spec: ModelSpec, table: Table): { class: string; rows: number }[] {
  const rule = spec.label;
  if (rule.kind !== 'classes' || rule.classes) return [];
  const data = column(table, labelRequest(spec));
  if (data.kind !== 'string') return [];
  const counts = new Map<string, number>();
  for (const v of data.values) if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
  // a rule from a spec written before minClassRows existed has none: the default applies
  const least = rule.minClassRows ?? 10;
  return [...counts]
    .filter(([, n]) => n < least)
    .map(([c, n]) => ({ class: c, rows: n }))
    .sort((a, b) => a.rows - b.rows || a.class.localeCompare(b.class));
}
