import { DataValidationError } from './errors';
import { deriveSeed, permutation, unitHash } from './rng';
import { columnKey, type ColumnData, type ColumnRequest, type Table } from './data/table';
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
    }
  | {
      name: string;
      column: string;
      kind: 'hourOfDay' | 'dayOfWeek' | 'month';
      format?: string;
      /** two inputs, sine and cosine of the part's angle; absent: one-hot (and in older artifacts) */
      cyclical?: boolean;
    }
  | { name: string; column: string; kind: 'categorical'; vocabulary: string[] };

export type FittedLabel =
  | { task: 'binary'; rule: Extract<LabelRule, { kind: 'threshold' | 'oneOf' }>; as: 'number' | 'string' }
  | { task: 'multiclass'; column: string; classes: string[] }
  | { task: 'regression'; column: string; mean: number; std: number };

export interface Preprocessor {
  version: 1;
  features: FittedFeature[];
  label: FittedLabel;
  /** number of input values per row */
  width: number;
  /** one name per input value, e.g. "origin=ATL", "dep_hour=7" */
  inputNames: string[];
}

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

function featureRequest(spec: ModelSpec, feature: ModelSpec['features'][number]): ColumnRequest {
  switch (feature.transform.kind) {
    case 'numeric':
      return { name: feature.column, as: 'number' };
    case 'categorical':
      return { name: feature.column, as: 'string' };
    default: {
      const format = spec.source.columns.find((c) => c.name === feature.column)?.format;
      return { name: feature.column, as: 'timestamp', ...(format ? { format } : {}) };
    }
  }
}

function labelRequest(spec: ModelSpec): ColumnRequest {
  const rule = spec.label;
  if (rule.kind === 'threshold' || rule.kind === 'value') return { name: rule.column, as: 'number' };
  if (rule.kind === 'classes') return { name: rule.column, as: 'string' };
  const type = spec.source.columns.find((c) => c.name === rule.column)?.type;
  return { name: rule.column, as: type === 'string' ? 'string' : 'number' };
}

/** The columns (and how to read them) that a spec needs from a dataset. */
export function columnRequests(spec: ModelSpec): ColumnRequest[] {
  const all = [...spec.features.map((f) => featureRequest(spec, f)), labelRequest(spec)];
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
      return feature.missingIndicator ? 2 : 1;
    case 'hourOfDay':
    case 'dayOfWeek':
    case 'month':
      return feature.cyclical ? 2 : PERIOD[feature.kind];
    case 'categorical':
      return feature.vocabulary.length + 1;
  }
}

/** slots of a one-hot time part, and the period of a cyclical one */
const PERIOD = { hourOfDay: 24, dayOfWeek: 7, month: 12 } as const;

function inputNamesOf(feature: FittedFeature): string[] {
  switch (feature.kind) {
    case 'numeric':
      return feature.missingIndicator ? [feature.name, `${feature.name}=<missing>`] : [feature.name];
    case 'hourOfDay':
      if (feature.cyclical) return [`${feature.name}.sin`, `${feature.name}.cos`];
      return Array.from({ length: 24 }, (_, h) => `${feature.name}=${h}`);
    case 'dayOfWeek':
      if (feature.cyclical) return [`${feature.name}.sin`, `${feature.name}.cos`];
      return ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => `${feature.name}=${d}`);
    case 'month':
      if (feature.cyclical) return [`${feature.name}.sin`, `${feature.name}.cos`];
      return Array.from({ length: 12 }, (_, m) => `${feature.name}=${m + 1}`);
    case 'categorical':
      return [...feature.vocabulary.map((v) => `${feature.name}=${v}`), `${feature.name}=<unknown>`];
  }
}

function numericValue(x: number, log: boolean): number {
  return log ? Math.log1p(Math.max(x, 0)) : x;
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
    const base = { name: feature.name, column: feature.column };
    if (t.kind === 'numeric') {
      const values = numbers(table, featureRequest(spec, feature));
      const { mean, std, missing, min, max } = meanStd(values, trainRows, (x) => numericValue(x, t.log));
      const missingIndicator = t.missingIndicator === 'always' || (t.missingIndicator === 'auto' && missing > 0);
      const range: [number, number] | undefined = min <= max ? [min, max] : undefined;
      return {
        ...base,
        kind: 'numeric',
        log: t.log,
        standardize: t.standardize,
        mean,
        std,
        missingIndicator,
        ...(range ? { range } : {}),
      };
    }
    if (t.kind === 'categorical') {
      const values = strings(table, featureRequest(spec, feature));
      const counts = new Map<string, number>();
      for (const i of trainRows) {
        const v = values[i];
        if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const vocabulary = [...counts.entries()]
        .filter(([, c]) => c >= t.minCount)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .slice(0, t.maxCategories)
        .map(([v]) => v);
      return { ...base, kind: 'categorical', vocabulary };
    }
    const format = spec.source.columns.find((c) => c.name === feature.column)?.format;
    return {
      ...base,
      kind: t.kind,
      ...(format ? { format } : {}),
      ...(t.encoding === 'cyclical' ? { cyclical: true } : {}),
    };
  });
  const label = fitLabel(spec, table, trainRows);
  const width = features.reduce((w, f) => w + widthOf(f), 0);
  return { version: 1, features, label, width, inputNames: features.flatMap(inputNamesOf) };
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
  const n = rows.length;
  const out =
    into && into.length >= n * pre.width ? into.subarray(0, n * pre.width).fill(0) : new Float32Array(n * pre.width);
  let offset = 0;
  for (const feature of pre.features) {
    const w = widthOf(feature);
    switch (feature.kind) {
      case 'numeric': {
        const values = numbers(table, { name: feature.column, as: 'number' });
        for (let r = 0; r < n; r++) {
          const x = values[rows[r]];
          const present = Number.isFinite(x);
          const v = present ? numericValue(x, feature.log) : feature.mean;
          out[r * pre.width + offset] = feature.standardize ? (v - feature.mean) / feature.std : v;
          if (feature.missingIndicator) out[r * pre.width + offset + 1] = present ? 0 : 1;
        }
        break;
      }
      case 'categorical': {
        const unknown = feature.vocabulary.length;
        const codes = table.columns.get(`code:${feature.column}`);
        if (codes?.kind === 'number') {
          // positions looked up by DuckDB (batch scoring reads them so): 1-based, 0 = not in the vocabulary
          const c = codes.values;
          for (let r = 0; r < n; r++) {
            const code = c[rows[r]];
            out[r * pre.width + offset + (code > 0 ? code - 1 : unknown)] = 1;
          }
          break;
        }
        const values = strings(table, { name: feature.column, as: 'string' });
        const index = new Map(feature.vocabulary.map((v, i) => [v, i]));
        for (let r = 0; r < n; r++) {
          const v = values[rows[r]];
          const k = v === null ? unknown : (index.get(v) ?? unknown);
          out[r * pre.width + offset + k] = 1;
        }
        break;
      }
      default: {
        const values = numbers(table, { name: feature.column, as: 'timestamp' });
        const period = PERIOD[feature.kind];
        for (let r = 0; r < n; r++) {
          const k = timePart(feature.kind, values[rows[r]]);
          if (k < 0) continue; // missing: all zeros (for cyclical, the clock's centre)
          if (feature.cyclical) {
            const angle = (2 * Math.PI * k) / period;
            out[r * pre.width + offset] = Math.sin(angle);
            out[r * pre.width + offset + 1] = Math.cos(angle);
          } else {
            out[r * pre.width + offset + k] = 1;
          }
        }
      }
    }
    offset += w;
  }
  return out;
}

/** Index of the one-hot slot for a timestamp part; -1 (all zeros) when the timestamp is missing. */
export function timePart(kind: 'hourOfDay' | 'dayOfWeek' | 'month', epochMs: number): number {
  if (!Number.isFinite(epochMs)) return -1;
  switch (kind) {
    case 'hourOfDay':
      return (((Math.floor(epochMs / MS_PER_HOUR) % 24) + 24) % 24) | 0;
    case 'dayOfWeek':
      // 1970-01-01 was a Thursday, i.e. index 3 with Monday = 0.
      return ((((Math.floor(epochMs / MS_PER_DAY) + 3) % 7) + 7) % 7) | 0;
    case 'month':
      return new Date(epochMs).getUTCMonth();
  }
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
      const positive = new Set(rule.kind === 'oneOf' ? rule.positive.map(String) : []);
      for (let r = 0; r < n; r++) {
        const v = values[rows[r]];
        out[r] = v === null ? NaN : positive.has(v) ? 1 : 0;
      }
    } else {
      const values = numbers(table, { name: rule.column, as: 'number' });
      const test = binaryTest(rule);
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

function binaryTest(rule: Extract<LabelRule, { kind: 'threshold' | 'oneOf' }>): (v: number) => boolean {
  if (rule.kind === 'oneOf') {
    const positive = new Set(rule.positive.map(Number));
    return (v) => positive.has(v);
  }
  const t = rule.value;
  switch (rule.op) {
    case '>':
      return (v) => v > t;
    case '>=':
      return (v) => v >= t;
    case '<':
      return (v) => v < t;
    case '<=':
      return (v) => v <= t;
  }
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

/** Which rows carry a usable label — used before fitting, when classes may still be unknown. */
export function labelPresent(spec: ModelSpec, table: Table): (i: number) => boolean {
  const req = labelRequest(spec);
  const data = column(table, req);
  const declared = spec.label.kind === 'classes' && spec.label.classes ? new Set(spec.label.classes) : undefined;
  if (data.kind === 'number') return (i) => Number.isFinite(data.values[i]);
  return (i) => data.values[i] !== null && (!declared || declared.has(data.values[i]));
}
