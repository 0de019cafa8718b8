/**
 * Lumen with nothing but `schema infer` and `start`, against a strong classical baseline on the same rows: for each
 * example dataset, the spec `schema infer` proposes is trained as the pipeline trains it and scored on its holdout,
 * and scikit-learn's HistGradientBoosting (default settings, native categoricals, missing values as they are) is
 * fitted on the same training rows — the same source columns, the same split — and scored on the same holdout.
 * The primary metric of each task (binary AUC, multi-class macro-F1; regression R², which unlike RMSE reads the
 * same on every scale) and Lumen's difference to the baseline.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ArtifactStore } from '../lib/artifacts';
import { timePart } from '../lib/calendar';
import { snapshotSource, type DatasetRef } from '../lib/data/snapshot';
import type { SourceRef } from '../lib/data/source';
import { loadTable } from '../lib/data/table';
import { evaluateArtifact, evaluationOptions, loadHoldout } from '../lib/evaluation/evaluate';
import { columnRequests, encodeLabels, fitPreprocessor, labelPresent, splitRows } from '../lib/features';
import { primaryMetric, type ModelSpec, type Task } from '../lib/spec';
import { trainOnDataset } from '../lib/training';
import { proposeSpec } from '../lib/validation/infer';

export interface InferredCase {
  name: string;
  source: SourceRef;
  label: string;
}

export interface InferredRow {
  dataset: string;
  /** the spec's seed for this run: it draws the holdout, so Lumen and the baseline share each seed's split */
  seed: number;
  task: Task;
  rows: number;
  metric: string;
  lumen: number;
  baseline: number | null;
  settings: string;
  seconds: number;
  notes: string[];
}

/** The metric compared: the task's primary one, except R² for regression (RMSE depends on the label's scale). */
function compared(task: Task): 'auc' | 'macroF1' | 'r2' {
  return task === 'regression' ? 'r2' : (primaryMetric(task).name as 'auc' | 'macroF1');
}

function write(file: string, a: Float32Array): void {
  fs.writeFileSync(file, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}

/**
 * The rows as the baseline reads them: every source column the spec's features read — a number as it is, a text
 * column as codes (native categorical), a time as days since the epoch plus its hour, weekday and month — and the
 * label as Lumen encodes it (0/1, class index, value), for the spec's own training and holdout rows.
 */
async function baselineArrays(store: ArtifactStore, spec: ModelSpec, dataset: DatasetRef, dir: string, name: string) {
  const requests = columnRequests(spec);
  const table = await loadTable(store, dataset, requests);
  const split = splitRows(table.rows, labelPresent(spec, table), spec.training);
  const pre = fitPreprocessor(spec, table, split.train);
  const inputs: { values: (i: number) => number; categorical: boolean }[] = [];
  for (const r of requests) {
    if (r.name === spec.label.column) continue;
    const data = table.columns.get(`${r.as}:${r.name}`)!;
    if (data.kind === 'string') {
      const codes = new Map<string, number>();
      const values = data.values.map((v) => {
        if (v === null) return NaN;
        if (!codes.has(v)) codes.set(v, codes.size);
        return codes.get(v)!;
      });
      // HistGradientBoosting takes at most 255 categories natively; beyond that the codes are read as numbers
      inputs.push({ values: (i) => values[i], categorical: codes.size <= 255 });
    } else if (r.as === 'timestamp') {
      const ms = data.values;
      inputs.push({ values: (i) => ms[i] / 86_400_000, categorical: false });
      for (const part of ['hourOfDay', 'dayOfWeek', 'month'] as const) {
        inputs.push({ values: (i) => (Number.isFinite(ms[i]) ? timePart(part, ms[i]) : NaN), categorical: false });
      }
    } else {
      const x = data.values;
      inputs.push({ values: (i) => x[i], categorical: false });
    }
  }
  const width = inputs.length + 1;
  for (const [part, rows] of [
    ['train', split.train],
    ['holdout', split.holdout],
  ] as const) {
    const labels = encodeLabels(pre, table, rows);
    const out = new Float32Array(rows.length * width);
    rows.forEach((row, r) => {
      inputs.forEach((input, c) => (out[r * width + c] = input.values(row)));
      out[r * width + width - 1] = labels[r];
    });
    write(path.join(dir, `${name}-${part}.f32`), out);
  }
  fs.writeFileSync(
    path.join(dir, `${name}.json`),
    JSON.stringify({
      task: spec.task,
      width,
      categorical: inputs.map((i) => i.categorical),
      metric: compared(spec.task),
    }),
  );
}

/** The name a case's arrays are written under, one set per seed. */
function arrays(r: Pick<InferredRow, 'dataset' | 'seed'>): string {
  return `${r.dataset}-s${r.seed}`;
}

/**
 * Propose, train and score each case; write the baseline's arrays into `dir`. With `seeds`, each case is run once
 * per seed in place of the proposed one — a different holdout each time, the same one for both sides.
 */
export async function lumenOnInferred(
  store: ArtifactStore,
  cases: InferredCase[],
  dir: string,
  seeds?: number[],
): Promise<InferredRow[]> {
  const out: InferredRow[] = [];
  for (const c of cases) {
    const dataset = await snapshotSource(store, c.source);
    const proposed = await proposeSpec(store, dataset, { label: c.label, name: c.name, sourceName: c.name });
    for (const seed of seeds ?? [proposed.spec.training.seed]) {
      out.push(
        await lumenOnce(
          store,
          dataset,
          { ...proposed.spec, training: { ...proposed.spec.training, seed } },
          proposed.notes,
          dir,
        ),
      );
    }
  }
  return out;
}

async function lumenOnce(
  store: ArtifactStore,
  dataset: DatasetRef,
  spec: ModelSpec,
  notes: string[],
  dir: string,
): Promise<InferredRow> {
  const t = spec.training;
  const started = performance.now();
  const trained = await trainOnDataset(store, spec, dataset, {
    checkpointKind: `checkpoints/bench-inferred/${spec.name}-s${t.seed}`,
    onCheckpoint: () => Promise.resolve(),
  });
  const seconds = (performance.now() - started) / 1000;
  const { table, rows } = await loadHoldout(store, spec, dataset);
  const evaluation = await evaluateArtifact(store, trained.artifact, table, rows, evaluationOptions(spec));
  const metric = compared(spec.task);
  await baselineArrays(store, spec, dataset, dir, arrays({ dataset: spec.name, seed: t.seed }));
  return {
    dataset: spec.name,
    seed: t.seed,
    task: spec.task,
    rows: dataset.rows,
    metric,
    lumen: evaluation.metrics[metric],
    baseline: null,
    settings:
      `${trained.epochs} of ${t.epochs} epochs${trained.bestEpoch ? ` (kept ${trained.bestEpoch})` : ''}, batch ${t.batchSize}` +
      (t.classWeight ? `, classWeight ${t.classWeight}` : ''),
    seconds,
    notes,
  };
}

/** Fit the baseline on every case's arrays (Python with scikit-learn); null values where it cannot run. */
export function baselineOnInferred(python: string | null, rows: InferredRow[], dir: string): void {
  if (!python) return;
  const run = spawnSync(python, [path.join(__dirname, 'hgb_baseline.py'), dir, ...rows.map(arrays)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (run.status !== 0) throw new Error(`the HistGradientBoosting baseline failed: ${run.stderr.slice(-2000)}`);
  const scores = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, number>;
  for (const r of rows) r.baseline = scores[arrays(r)] ?? null;
}

export function printInferred(rows: InferredRow[]): void {
  console.log(
    'dataset           seed  task        rows  metric   Lumen  HGB     Lumen−HGB  within 0.02  train s  settings',
  );
  for (const r of rows) {
    const diff = r.baseline === null ? null : r.lumen - r.baseline;
    console.log(
      [
        r.dataset.padEnd(16),
        String(r.seed).padStart(4),
        r.task.padEnd(10),
        String(r.rows).padStart(7),
        r.metric.padEnd(7),
        r.lumen.toFixed(4),
        r.baseline === null ? '  —   ' : r.baseline.toFixed(4),
        diff === null ? '      —' : `${diff >= 0 ? '+' : ''}${diff.toFixed(4)}`.padStart(9),
        (diff === null ? '—' : diff >= -0.02 ? 'yes' : 'NO').padStart(11),
        r.seconds.toFixed(1).padStart(8),
        r.settings,
      ].join('  '),
    );
  }
}

/**
 * Over several seeds, each dataset's mean of both sides and of their difference, with the difference's standard
 * deviation: one holdout of a few hundred rows moves R² or macro-F1 by a few hundredths, so one split alone
 * cannot tell a gap of 0.02 from the draw.
 */
export function printInferredMeans(rows: InferredRow[]): void {
  const datasets = [...new Set(rows.map((r) => r.dataset))];
  console.log('dataset           seeds  metric   Lumen   HGB     mean Lumen−HGB  sd     within 0.02');
  for (const name of datasets) {
    const runs = rows.filter((r) => r.dataset === name && r.baseline !== null);
    if (runs.length === 0) continue;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const diffs = runs.map((r) => r.lumen - r.baseline!);
    const d = mean(diffs);
    const sd = diffs.length > 1 ? Math.sqrt(diffs.reduce((a, x) => a + (x - d) ** 2, 0) / (diffs.length - 1)) : NaN;
    console.log(
      [
        name.padEnd(16),
        String(runs.length).padStart(5),
        runs[0].metric.padEnd(7),
        mean(runs.map((r) => r.lumen)).toFixed(4),
        mean(runs.map((r) => r.baseline!)).toFixed(4),
        `${d >= 0 ? '+' : ''}${d.toFixed(4)}`.padStart(14),
        Number.isNaN(sd) ? '  —   ' : sd.toFixed(4),
        (d >= -0.02 ? 'yes' : 'NO').padStart(11),
      ].join('  '),
    );
  }
}
