import type { ArtifactRef, ArtifactStore } from '../artifacts';
import type { DatasetRef } from '../data/snapshot';
import { columnKey, loadTable, type ColumnData, type ColumnRequest, type Table } from '../data/table';
import {
  columnRequests,
  decodeRegression,
  encodeFeatures,
  encodeLabels,
  featureCodes,
  labelPresent,
  splitRows,
  type Preprocessor,
} from '../features';
import type { LayersModel } from '@tensorflow/tfjs';
import { permutationImportance, type Importance } from '../explain/importance';
import { comparedMetric, type ModelScore } from '../gate';
import { GatePolicy } from '../gate-policy';
import {
  binaryBaseline,
  binaryMetrics,
  majorityBaseline,
  multiclassMetrics,
  regressionMetrics,
  type Metrics,
} from '../metrics';
import { loadModelArtifact } from '../model/artifact';
import { predictRows } from '../model/predict';
import { loadTf, type Tf } from '../model/tf';
import { deriveSeed, permutation } from '../rng';
import type { ModelSpec } from '../spec';
import { bootstrapBinary, expectedCalibrationError } from './calibration';
import { sliceMetrics, type SliceMetrics } from './slices';

/** A model scored on a holdout: metrics, their bootstrap intervals, slices, fairness gaps and feature importance. */
export interface ModelEvaluation extends ModelScore {
  slices: SliceMetrics[];
  /** null: not measured (the policy's repeats are 0, or the metric is undefined on these rows) */
  importance: Importance | null;
}

export interface EvaluationOptions {
  sliceColumns: string[];
  minSliceRows: number;
  topSlices: number;
  bootstrapReplicates: number;
  bootstrapLevel: number;
  seed: number;
  /** permutation importance on the holdout (repeats 0: not measured), scored by `metric` */
  importance: { repeats: number; maxRows: number; metric: { name: string; higherIsBetter: boolean } };
}

export function evaluationOptions(spec: ModelSpec): EvaluationOptions {
  const g = spec.gate;
  return {
    sliceColumns: g.slices.columns,
    minSliceRows: g.slices.minRows,
    topSlices: g.slices.top,
    bootstrapReplicates: g.bootstrap.replicates,
    bootstrapLevel: g.bootstrap.level,
    seed: spec.training.seed,
    // a spec stored before importance was measured (a registered policy's gate) has no setting: the defaults
    importance: { ...GatePolicy.shape.importance.parse(g.importance), metric: comparedMetric(spec) },
  };
}

/**
 * Score a model artifact on rows of a dataset. Each model encodes the rows with its own frozen preprocessor, so a
 * champion trained on older data is judged on the new rows exactly as it would serve them. The artifact is
 * re-verified against its digest before it is loaded.
 */
export async function evaluateArtifact(
  store: ArtifactStore,
  artifact: ArtifactRef,
  table: Table,
  rows: Uint32Array,
  options: EvaluationOptions,
): Promise<ModelEvaluation> {
  const { tf } = await loadTf();
  const loaded = await loadModelArtifact(store, tf, artifact);
  try {
    const pre = loaded.preprocessor;
    const x = encodeFeatures(pre, table, rows);
    const y = encodeLabels(pre, table, rows);
    const p = predictRows(tf, loaded.model, x, rows.length, pre.width);
    // rows whose label this model cannot read (e.g. a class it never saw) are left out of its metrics
    const keep: number[] = [];
    for (let i = 0; i < y.length; i++) if (Number.isFinite(y[i])) keep.push(i);
    const labels = keep.map((i) => y[i]);
    const outputs = p.length / Math.max(1, rows.length);
    const kept = new Float32Array(keep.length * outputs);
    keep.forEach((i, j) => kept.set(p.subarray(i * outputs, (i + 1) * outputs), j * outputs));
    const metrics = { ...metricsOf(pre, labels, kept), rows: keep.length };
    const importance = await holdoutImportance(tf, loaded.model, pre, table, rows, keep, labels, options);
    const label = pre.label;
    if (label.task === 'binary') {
      const probabilities = Array.from(kept);
      const intervals =
        options.bootstrapReplicates > 0
          ? await bootstrapBinary(labels, probabilities, {
              replicates: options.bootstrapReplicates,
              seed: options.seed,
              level: options.bootstrapLevel,
            })
          : null;
      const slices: SliceMetrics[] = [];
      const gaps = options.sliceColumns.map((column) => {
        const values = stringsOf(table, column);
        const s = sliceMetrics(
          column,
          keep.map((i) => values[rows[i]]),
          labels,
          probabilities,
          { minRows: options.minSliceRows, top: options.topSlices },
        );
        slices.push(...s.slices);
        return s.gaps;
      });
      return { metrics, baseline: binaryBaseline(labels), intervals, slices, gaps, importance };
    }
    const baseline = label.task === 'multiclass' ? majorityBaseline(labels, label.classes.length) : { r2: 0 };
    return { metrics, baseline, intervals: null, slices: [], gaps: [], importance };
  } finally {
    loaded.model.dispose();
  }
}

/** A model's metrics on rows with readable labels (encoded as its preprocessor encodes them) and its outputs on them. */
function metricsOf(pre: Preprocessor, labels: number[], outputs: Float32Array): Metrics {
  const label = pre.label;
  if (label.task === 'binary') {
    const probabilities = Array.from(outputs);
    return {
      ...binaryMetrics(labels, probabilities),
      calibrationError: expectedCalibrationError(labels, probabilities),
    };
  }
  if (label.task === 'multiclass') return multiclassMetrics(labels, outputs, label.classes.length);
  return regressionMetrics(
    labels.map((v) => decodeRegression(pre, v)),
    Array.from(outputs, (v) => decodeRegression(pre, v)),
  );
}

/**
 * Permutation importance on the rows with readable labels among a seeded sample of at most `maxRows` holdout
 * positions (the same positions for every model scored on this holdout: a candidate and its champion are compared
 * on the same rows), scored by the policy's metric. Not measured when the policy says 0 repeats, or the metric is
 * undefined on these rows (an AUC of one class), since a loss of nothing from nothing would read as "relies on no
 * feature".
 */
async function holdoutImportance(
  tf: Tf,
  model: LayersModel,
  pre: Preprocessor,
  table: Table,
  rows: Uint32Array,
  keep: number[],
  labels: number[],
  options: EvaluationOptions,
): Promise<Importance | null> {
  const { repeats, maxRows, metric } = options.importance;
  if (!(repeats >= 2) || keep.length < 2) return null;
  const seed = deriveSeed(options.seed, 'importance');
  let positions: Set<number> | null = null;
  if (rows.length > maxRows) {
    positions = new Set(permutation(rows.length, deriveSeed(seed, 'rows')).subarray(0, maxRows));
  }
  // j: the index of a kept row among `keep` (and `labels`)
  const picked = keep.flatMap((i, j) => (positions === null || positions.has(i) ? [j] : []));
  if (picked.length < 2) return null;
  const sampleLabels = picked.map((j) => labels[j]);
  const measure = (x: Float32Array, n: number): number =>
    metricsOf(pre, sampleLabels, predictRows(tf, model, x, n, pre.width))[metric.name] ?? NaN;
  const codes = featureCodes(
    pre,
    table,
    picked.map((j) => rows[keep[j]]),
  );
  const result = await permutationImportance({ pre, codes, rows: picked.length, measure, metric, repeats, seed });
  return Number.isFinite(result.baseline) ? result : null;
}

function stringsOf(table: Table, column: string): (string | null)[] {
  const data = table.columns.get(columnKey({ name: column, as: 'string' }));
  if (data?.kind !== 'string') throw new Error(`slice column ${column} was not loaded as text`);
  return data.values;
}

/**
 * The deterministic holdout of a dataset under a spec: the rows training never saw. Columns that other models
 * (e.g. the champion, declared by an older spec) need are loaded too, and the slice columns as text.
 */
export async function loadHoldout(
  store: ArtifactStore,
  spec: ModelSpec,
  dataset: DatasetRef,
  alsoFor: ModelSpec[] = [],
): Promise<{ table: Table; rows: Uint32Array }> {
  const requests = [spec, ...alsoFor].flatMap(columnRequests);
  for (const column of spec.gate.slices.columns) requests.push({ name: column, as: 'string' });
  const unique = new Map(requests.map((r) => [columnKey(r), r]));
  const table = await loadTable(store, dataset, [...unique.values()]);
  const split = splitRows(table.rows, labelPresent(spec, table), spec.training);
  return { table, rows: split.holdout };
}

/** A few holdout rows, in the columns the model reads, with the predictions it made on them: the load check's canary. */
export interface Canary {
  requests: ColumnRequest[];
  columns: Record<string, (number | string | null)[]>;
  predictions: number[];
  outputs: number;
}

export async function makeCanary(
  store: ArtifactStore,
  spec: ModelSpec,
  artifact: ArtifactRef,
  table: Table,
  rows: Uint32Array,
  size = 32,
): Promise<Canary> {
  const picked = rows.subarray(0, Math.min(size, rows.length));
  const requests = columnRequests(spec);
  const columns: Canary['columns'] = {};
  for (const r of requests) {
    const data = table.columns.get(columnKey(r)) as ColumnData;
    columns[columnKey(r)] = Array.from(picked, (i) => {
      const v = data.values[i];
      return typeof v === 'number' && !Number.isFinite(v) ? null : v;
    });
  }
  const { tf } = await loadTf();
  const loaded = await loadModelArtifact(store, tf, artifact);
  try {
    const x = encodeFeatures(loaded.preprocessor, table, picked);
    const p = predictRows(tf, loaded.model, x, picked.length, loaded.preprocessor.width);
    return { requests, columns, predictions: Array.from(p), outputs: p.length / Math.max(1, picked.length) };
  } finally {
    loaded.model.dispose();
  }
}

/** Rebuild the canary rows as a table. */
export function canaryTable(canary: Canary): { table: Table; rows: Uint32Array } {
  const n = canary.predictions.length / Math.max(1, canary.outputs);
  const columns = new Map<string, ColumnData>();
  for (const r of canary.requests) {
    const values = canary.columns[columnKey(r)];
    columns.set(
      columnKey(r),
      r.as === 'string'
        ? { kind: 'string', values: values as (string | null)[] }
        : { kind: 'number', values: Float64Array.from(values, (v) => (v === null ? NaN : Number(v))) },
    );
  }
  return { table: { rows: n, columns }, rows: Uint32Array.from({ length: n }, (_, i) => i) };
}

/**
 * Predictions on the canary rows against those made at evaluation: every one finite, as many, and none further off
 * than the tolerance. Both the load check (a fresh process) and serving's warm-up hold a version to this.
 */
export function compareCanary(
  predictions: Float32Array,
  canary: Canary,
  tolerance: number,
): { passed: boolean; detail: string; maxAbsDiff?: number } {
  if (predictions.length !== canary.predictions.length) {
    return {
      passed: false,
      detail: `the model returned ${predictions.length} outputs for the canary, expected ${canary.predictions.length}`,
    };
  }
  let maxAbsDiff = 0;
  for (let i = 0; i < predictions.length; i++) {
    if (!Number.isFinite(predictions[i])) return { passed: false, detail: `canary output ${i} is ${predictions[i]}` };
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(predictions[i] - canary.predictions[i]));
  }
  const rows = canary.predictions.length / Math.max(1, canary.outputs);
  // written so that a tolerance that is not a number fails the check rather than passing everything
  if (!(maxAbsDiff <= tolerance)) {
    return {
      passed: false,
      detail: `canary predictions differ from evaluation by up to ${maxAbsDiff.toExponential(2)} (tolerance ${tolerance})`,
      maxAbsDiff,
    };
  }
  return { passed: true, detail: `${rows} canary rows predicted within ${maxAbsDiff.toExponential(2)}`, maxAbsDiff };
}
