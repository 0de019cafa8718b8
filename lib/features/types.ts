import { PERIOD, WEEKDAYS } from '../calendar';
import type { LabelRule } from '../spec';

/**
 * Feature transforms fitted on training rows and frozen into the model artifact, so training, evaluation and
 * serving encode a row identically.
 */

/** joins a cross's part values into one category (the ASCII unit separator: no value in a flights file has it) */
export const CROSS_SEPARATOR = '\u001f';

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

export type Categories = Extract<FittedFeature, { kind: 'categorical' | 'cross' }>;

export function isEmbedded(f: FittedFeature): f is Categories & { embeddingDim: number } {
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
export function offsetsOf(features: FittedFeature[]): number[] {
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

export function widthOf(feature: FittedFeature): number {
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

export function inputNamesOf(feature: FittedFeature): string[] {
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

export function piecesOf(feature: Extract<FittedFeature, { kind: 'numeric' }>): number {
  return feature.edges ? feature.edges.length - 1 : 0;
}
