import { ArtifactRef, ArtifactStore } from './artifacts';
import { loadTable, type Table } from './data/table';
import type { DatasetRef } from './data/snapshot';
import { columnRequests, decodeRegression, encodeFeatures, encodeLabels, labelPresent, splitRows } from './features';
import { binaryMetrics, multiclassMetrics, regressionMetrics, type Metrics } from './metrics';
import { loadModelArtifact } from './model/artifact';
import { predictRows } from './model/predict';
import { loadTf } from './model/tf';
import type { ModelSpec } from './spec';

/**
 * Metrics of a model artifact on a set of rows of a dataset. Each model encodes the rows with its own frozen
 * preprocessor, so a champion trained on older data is judged on the new rows exactly as it would serve them.
 */
export async function evaluateArtifact(
  store: ArtifactStore,
  artifact: ArtifactRef,
  table: Table,
  rows: Uint32Array,
): Promise<Metrics> {
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
    const label = pre.label;
    if (label.task === 'binary') {
      return {
        ...binaryMetrics(
          keep.map((i) => y[i]),
          keep.map((i) => p[i]),
        ),
        rows: keep.length,
      };
    }
    if (label.task === 'multiclass') {
      const k = label.classes.length;
      const probs = new Float32Array(keep.length * k);
      keep.forEach((i, j) => probs.set(p.subarray(i * k, (i + 1) * k), j * k));
      return {
        ...multiclassMetrics(
          keep.map((i) => y[i]),
          probs,
          k,
        ),
        rows: keep.length,
      };
    }
    return {
      ...regressionMetrics(
        keep.map((i) => decodeRegression(pre, y[i])),
        keep.map((i) => decodeRegression(pre, p[i])),
      ),
      rows: keep.length,
    };
  } finally {
    loaded.model.dispose();
  }
}

/**
 * The deterministic holdout of a dataset under a spec: the rows training never saw. Columns that other models
 * (e.g. the champion, declared by an older spec) need are loaded too.
 */
export async function loadHoldout(
  spec: ModelSpec,
  dataset: DatasetRef,
  alsoFor: ModelSpec[] = [],
): Promise<{ table: Table; rows: Uint32Array }> {
  const requests = new Map([spec, ...alsoFor].flatMap(columnRequests).map((r) => [`${r.as}:${r.name}`, r]));
  const table = await loadTable(dataset, [...requests.values()]);
  const split = splitRows(table.rows, labelPresent(spec, table), spec.training);
  return { table, rows: split.holdout };
}
