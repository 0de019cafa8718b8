/**
 * Model quality against classical baselines on the same rows, in one run:
 * - flights, January 2001: Lumen's two flights specs (the plain one-hot example and the crossed one with
 *   embeddings and early stopping), trained as the pipeline trains them, against scikit-learn's
 *   HistGradientBoosting (500 iterations, native categoricals) on the same training and holdout rows;
 * - movies (IMDB rating, regression): the example spec under its declared settings, against Ridge on the same
 *   encoded inputs.
 * Holdout AUC / R² and training seconds for each, and Lumen's ratio to the baseline.
 * First, the example datasets with only `schema infer` + `start` against HistGradientBoosting (inferred-quality.ts).
 *
 *   npm run bench:quality                      (both; --inferred-only for the first table alone)
 *   npm run bench:quality -- --inferred-only --seeds 42,1,2,3,4 [--datasets movies,cars]
 *                                              (each inferred case on five splits, with the mean gap and its spread)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileArtifactStore, type ArtifactStore } from '../lib/artifacts';
import { snapshotSource, type DatasetRef } from '../lib/data/snapshot';
import { monthWindow } from '../lib/data/source';
import { evaluateArtifact, evaluationOptions, loadHoldout } from '../lib/evaluation/evaluate';
import { columnRequests, encodeFeatures, encodeLabels, fitPreprocessor, timePart } from '../lib/features';
import { loadTable } from '../lib/data/table';
import { labelPresent, splitRows } from '../lib/features';
import { trainOnDataset } from '../lib/training';
import { loadModelSpec, type ModelSpec } from '../lib/spec';
import {
  baselineOnInferred,
  lumenOnInferred,
  printInferred,
  printInferredMeans,
  type InferredCase,
} from './inferred-quality';
import { kerasPython, sklearnPython } from './python-venv';

const root = path.resolve(__dirname, '..');
const example = (name: string): ModelSpec => loadModelSpec(path.join(root, 'examples', 'models', `${name}.json`));

interface Row {
  name: string;
  metric: string;
  value: number;
  seconds: number;
}

async function lumen(store: ArtifactStore, spec: ModelSpec, dataset: DatasetRef, metric: 'auc' | 'r2'): Promise<Row> {
  const started = performance.now();
  const out = await trainOnDataset(store, spec, dataset, {
    checkpointKind: `checkpoints/bench-quality/${spec.name}`,
    onCheckpoint: () => Promise.resolve(),
  });
  const seconds = (performance.now() - started) / 1000;
  const { table, rows } = await loadHoldout(store, spec, dataset);
  const evaluation = await evaluateArtifact(store, out.artifact, table, rows, evaluationOptions(spec));
  const epochs = out.bestEpoch ? `${out.epochs} epochs, kept ${out.bestEpoch}` : `${out.epochs} epochs`;
  return { name: `Lumen ${spec.name} (${epochs})`, metric, value: evaluation.metrics[metric], seconds };
}

function write(dir: string, name: string, a: Float32Array): void {
  fs.writeFileSync(path.join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}

/** Flights rows as the gradient-boosting baseline reads them: hour, weekday, ln(1+distance), origin, destination codes. */
async function flightsColumns(store: ArtifactStore, spec: ModelSpec, dataset: DatasetRef, dir: string): Promise<void> {
  const table = await loadTable(store, dataset, columnRequests(spec));
  const split = splitRows(table.rows, labelPresent(spec, table), spec.training);
  const get = (key: string) => table.columns.get(key)!;
  const date = get('timestamp:date').values as Float64Array;
  const distance = get('number:distance').values as Float64Array;
  const delay = get('number:delay').values as Float64Array;
  const origin = get('string:origin').values as (string | null)[];
  const destination = get('string:destination').values as (string | null)[];
  const codes = new Map<string, number>();
  const code = (s: string | null): number => {
    if (s === null) return NaN;
    if (!codes.has(s)) codes.set(s, codes.size);
    return codes.get(s)!;
  };
  for (const [name, rows] of [
    ['flights-train.f32', split.train],
    ['flights-holdout.f32', split.holdout],
  ] as const) {
    const out = new Float32Array(rows.length * 6);
    rows.forEach((i, r) => {
      out.set(
        [
          timePart('hourOfDay', date[i]),
          timePart('dayOfWeek', date[i]),
          Math.log1p(Math.max(distance[i], 0)),
          code(origin[i]),
          code(destination[i]),
          delay[i] > 15 ? 1 : 0,
        ],
        r * 6,
      );
    });
    write(dir, name, out);
  }
}

/** Movies as Ridge reads them: the inputs Lumen's preprocessor encodes (fitted on the same training rows). */
async function moviesInputs(store: ArtifactStore, spec: ModelSpec, dataset: DatasetRef, dir: string): Promise<number> {
  const table = await loadTable(store, dataset, columnRequests(spec));
  const split = splitRows(table.rows, labelPresent(spec, table), spec.training);
  const pre = fitPreprocessor(spec, table, split.train);
  write(dir, 'movies-x.f32', encodeFeatures(pre, table, split.train));
  write(dir, 'movies-y.f32', encodeLabels(pre, table, split.train));
  write(dir, 'movies-hx.f32', encodeFeatures(pre, table, split.holdout));
  write(dir, 'movies-hy.f32', encodeLabels(pre, table, split.holdout));
  return pre.width;
}

/** The example datasets, each with only `schema infer` and `start` (flights: one month, as `--month` cuts it). */
const INFERRED: InferredCase[] = [
  { name: 'cars', source: { uri: 'vega-datasets:cars.json' }, label: 'Miles_per_Gallon' },
  { name: 'penguins', source: { uri: 'vega-datasets:penguins.json' }, label: 'Species' },
  { name: 'movies', source: { uri: 'vega-datasets:movies.json' }, label: 'IMDB Rating' },
  { name: 'seattle-weather', source: { uri: 'vega-datasets:seattle-weather.csv' }, label: 'weather' },
  {
    name: 'flights',
    source: { uri: 'vega-datasets:flights-3m.parquet', window: monthWindow('date', '2001-01') },
    label: 'delay',
  },
];

/** `--seeds 42,1,2`: run each inferred case once per seed (each a different split) in place of the proposed one. */
function seedsOption(): number[] | undefined {
  const i = process.argv.indexOf('--seeds');
  if (i < 0) return undefined;
  const seeds = (process.argv[i + 1] ?? '').split(',').map(Number);
  if (seeds.length === 0 || !seeds.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new Error(
      `--seeds takes whole numbers separated by commas, e.g. --seeds 42,1,2 (got "${process.argv[i + 1] ?? ''}")`,
    );
  }
  return seeds;
}

/** `--datasets movies,cars`: only these inferred cases. */
function datasetsOption(): InferredCase[] {
  const i = process.argv.indexOf('--datasets');
  if (i < 0) return INFERRED;
  const names = (process.argv[i + 1] ?? '').split(',');
  const unknown = names.filter((n) => !INFERRED.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `--datasets: no case named ${unknown.join(', ')} (the cases: ${INFERRED.map((c) => c.name).join(', ')})`,
    );
  }
  return INFERRED.filter((c) => names.includes(c.name));
}

async function run(): Promise<void> {
  const store = new FileArtifactStore(fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-quality-')));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-quality-arrays-'));
  console.log(`${os.cpus()[0].model.trim()}, ${os.availableParallelism()} cores\n`);
  const only = process.argv.includes('--inferred-only');
  try {
    const seeds = seedsOption();
    const cases = datasetsOption();
    const inferred = await lumenOnInferred(store, cases, dir, seeds);
    baselineOnInferred(sklearnPython(), inferred, dir);
    console.log('With only `lumen schema infer` + `lumen start`, against HistGradientBoosting on the same split:\n');
    printInferred(inferred);
    if (seeds && seeds.length > 1) {
      console.log('\nOver the seeds (each one a different holdout, shared by both sides):\n');
      printInferredMeans(inferred);
    }
    for (const r of inferred.filter((r, i) => inferred.findIndex((o) => o.dataset === r.dataset) === i))
      for (const n of r.notes) if (/left out|rare|settings/.test(n)) console.log(`  ${r.dataset}: ${n}`);
    console.log('');
  } finally {
    if (only) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(store.root, { recursive: true, force: true });
    }
  }
  if (only) return;
  const rows: Row[] = [];
  try {
    const plain = example('flights-delay');
    const crossed = example('flights-delay-crossed');
    const january = await snapshotSource(store, {
      uri: 'vega-datasets:flights-3m.parquet',
      window: monthWindow('date', '2001-01'),
    });
    rows.push(await lumen(store, plain, january, 'auc'));
    rows.push(await lumen(store, crossed, january, 'auc'));
    // the same split: both flights specs share seed and holdout fraction
    if (plain.training.seed !== crossed.training.seed) throw new Error('the flights specs split differently');
    await flightsColumns(store, crossed, january, dir);

    const moviesSpec = example('movies-imdb');
    const movies = await snapshotSource(store, { uri: 'vega-datasets:movies.json' });
    rows.push(await lumen(store, moviesSpec, movies, 'r2'));
    const width = await moviesInputs(store, moviesSpec, movies, dir);

    const python = kerasPython();
    if (python) {
      const out = spawnSync(python, [path.join(__dirname, 'quality_baselines.py'), dir, String(width)], {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      if (out.status !== 0) throw new Error(`the baselines failed: ${out.stderr.slice(-2000)}`);
      rows.push(...(JSON.parse(out.stdout.trim().split('\n').pop()!) as Row[]));
    } else {
      console.log('[bench] the Python baselines are unavailable (venv or pip failed): Lumen only');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(store.root, { recursive: true, force: true });
  }

  const baseline = (metric: string): Row | undefined =>
    rows.find((r) => r.metric === metric && r.name.startsWith('baseline'));
  console.log(
    'model                                                              metric   holdout  × baseline   train s',
  );
  for (const r of rows) {
    const b = baseline(r.metric);
    const ratio = b && r !== b ? `${(r.value / b.value).toFixed(3)}×` : '';
    console.log(
      `${r.name.padEnd(66)} ${r.metric.padEnd(6)} ${r.value.toFixed(4).padStart(8)}  ${ratio.padStart(10)}  ${r.seconds.toFixed(1).padStart(8)}`,
    );
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
