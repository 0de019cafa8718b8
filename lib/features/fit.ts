import { DataValidationError } from '../errors';
import type { Table } from '../data/table';
import type { ModelSpec } from '../spec';
import { crossKeys } from './cross';
import { columnOf, crossedFeatures, featureRequest, labelRequest, numbers, strings, type SpecFeature } from './columns';
import { DAY_MS, numericValue } from './encode';
import {
  derivedEmbeddingDim,
  inputNamesOf,
  isEmbedded,
  widthOf,
  type CrossPart,
  type FittedFeature,
  type FittedLabel,
  type Preprocessor,
} from './types';

/**
 * The edges of at most `pieces` pieces between quantiles of the finite values on the given rows (after `map`),
 * equal edges merged; none when the values take fewer than two distinct values.
 */
export function quantileEdges(
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
export function meanStd(
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

export function fitCross(
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
export function learnVocabulary(
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

export function embedding(
  t: { encoding: 'oneHot' | 'embedding'; embeddingDim?: number },
  vocabulary: string[],
): { embeddingDim?: number } {
  if (t.encoding !== 'embedding') return {};
  return { embeddingDim: t.embeddingDim ?? derivedEmbeddingDim(vocabulary.length + 1) };
}

export function fitLabel(spec: ModelSpec, table: Table, trainRows: Uint32Array): FittedLabel {
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
