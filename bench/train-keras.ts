/**
 * Training speed against Keras on the same machine: the flights model (MLP 154→64→32→1, Adam, batch 1024) on
 * January's training rows, with the same initial weights and the same batches in the same order, trained by
 * Lumen's dense step, by tfjs-layers' trainOnBatch (both on one thread per op, as Lumen's training worker runs
 * them), and by Keras 3 on TensorFlow 2.18 (CPU) — batch by batch (train_on_batch), and at its best, fit() running
 * 64 steps inside one compiled call (steps_per_execution), with and without XLA — each with TensorFlow's default
 * threads and with one; Python in .tools/keras-venv (bench/python-venv.ts). Ratios against the fastest Keras run;
 * and the time each takes to reach the holdout AUC that Keras run reaches after all its epochs.
 *
 *   npm run bench:keras            (= tsx bench/train-keras.ts --epochs 4)
 */
import { spawnSync } from 'node:child_process';
import { kerasPython } from './python-venv';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { auc } from '../lib/metrics';
import { encodeFeatures, encodeLabels } from '../lib/features';
import { buildNetwork } from '../lib/model/network';
import { flightsMonth } from './flights-data';
import { predictRows } from '../lib/model/predict';
import { loadTf, preferSingleThreadedOps } from '../lib/model/tf';
import { trainLoop } from '../lib/model/trainer';
import { deriveSeed, permutation } from '../lib/rng';
import { loadModelSpec, parseModelSpec } from '../lib/spec';

const root = path.resolve(__dirname, '..');

interface Epoch {
  epoch: number;
  seconds: number;
  samplesPerSecond: number;
  loss: number;
  auc: number;
}

async function run(): Promise<void> {
  const opts = new Command()
    .option('--month <YYYY-MM>', 'month of flights', '2001-01')
    .option('--epochs <n>', 'epochs for each', '4')
    .option('--lumen-only', "Lumen's dense step alone, to compare changes to it quickly")
    .parse()
    .opts<{ month: string; epochs: string; lumenOnly?: boolean }>();
  const epochs = Number(opts.epochs);
  const base = loadModelSpec(path.join(root, 'examples', 'models', 'flights-delay.json'));
  const spec = parseModelSpec({ ...base, training: { ...base.training, epochs } });
  const { table, split, pre, data } = await flightsMonth(spec, opts.month);
  const hx = encodeFeatures(pre, table, split.holdout);
  const hy = encodeLabels(pre, table, split.holdout);
  // Lumen's side trains as its training worker does
  const userThreads = process.env.TF_NUM_INTRAOP_THREADS;
  preferSingleThreadedOps();
  const { tf } = await loadTf();
  console.log(`[bench] tfjs-node: ${process.env.TF_NUM_INTRAOP_THREADS} thread(s) per op`);
  console.log(
    `flights ${opts.month}: ${data.rows} training rows × ${data.width} inputs, ${split.holdout.length} held out; MLP ${spec.training.hiddenUnits.join('→')}→1, ` +
      `Adam ${spec.training.learningRate}, batch ${spec.training.batchSize}, ${epochs} epochs; ${os.cpus()[0].model.trim()}, ${os.availableParallelism()} cores\n`,
  );

  // the arrays, the initial weights and the batch order, for Keras
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-keras-'));
  const write = (name: string, a: Float32Array | Uint32Array): void =>
    fs.writeFileSync(path.join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  write('x.f32', data.x);
  write('y.f32', data.y);
  write('hx.f32', hx);
  write('hy.f32', hy);
  const initial = buildNetwork(tf, spec, pre);
  initial.getWeights().forEach((w, i) => write(`w${i}.f32`, w.dataSync() as Float32Array));
  for (let e = 0; e < epochs; e++)
    write(`order-${e}.u32`, permutation(data.rows, deriveSeed(spec.training.seed, `shuffle:${e}`)));
  fs.writeFileSync(
    path.join(dir, 'meta.json'),
    JSON.stringify({
      rows: data.rows,
      width: data.width,
      batchSize: spec.training.batchSize,
      epochs,
      learningRate: spec.training.learningRate,
      units: [...spec.training.hiddenUnits, 1],
    }),
  );

  const runs: { name: string; history: Epoch[] }[] = [];
  // --lumen-only: the dense step alone, to compare changes to it quickly (no ratio printed against a peer then)
  const lumenOnly = Boolean(opts.lumenOnly);
  for (const engine of lumenOnly ? (['dense'] as const) : (['dense', 'layers'] as const)) {
    const model = buildNetwork(tf, spec, pre);
    model.setWeights(initial.getWeights());
    const history: Epoch[] = [];
    await trainLoop(tf, model, data, {
      epochs,
      batchSize: spec.training.batchSize,
      seed: spec.training.seed,
      engine,
      onEpochEnd: async (p) => {
        const h = p.history[p.history.length - 1];
        const scores = predictRows(tf, model, hx, split.holdout.length, data.width);
        history.push({ ...h, auc: auc(hy, scores) });
      },
    });
    model.dispose();
    runs.push({
      name: engine === 'dense' ? "Lumen's dense step (tfjs-node)" : 'tfjs-layers trainOnBatch (tfjs-node)',
      history,
    });
  }
  initial.dispose();

  const python = lumenOnly ? null : kerasPython();
  if (python) {
    // Keras as it comes (TensorFlow's default threads), and on one thread per op as Lumen's worker runs
    const { TF_NUM_INTRAOP_THREADS: _ours, ...inherited } = process.env;
    // and Keras at its best: fit() with 64 steps inside one compiled call, with and without XLA
    const modes: [string, string[]][] = [
      ['train_on_batch', []],
      ['fit, steps_per_execution=64', ['fit', '64']],
      ['fit, steps_per_execution=64, jit_compile', ['fit', '64', 'jit']],
    ];
    for (const [mode, args] of modes) {
      for (const [label, threads] of [
        ['default threads', userThreads],
        ['1 thread per op', '1'],
      ] as const) {
        const out = spawnSync(python, [path.join(__dirname, 'train_keras.py'), dir, ...args], {
          encoding: 'utf8',
          maxBuffer: 1 << 24,
          env: threads === undefined ? inherited : { ...inherited, TF_NUM_INTRAOP_THREADS: threads },
        });
        if (out.status !== 0) throw new Error(`Keras baseline failed: ${out.stderr.slice(-2000)}`);
        const k = JSON.parse(out.stdout.trim().split('\n').pop()!) as { tensorflow: string; history: Epoch[] };
        runs.push({ name: `Keras 3 ${mode} (TF ${k.tensorflow}, ${label})`, history: k.history });
      }
    }
  } else {
    console.log('[bench] the Keras baseline is unavailable (venv or pip failed): Lumen only');
  }
  fs.rmSync(dir, { recursive: true, force: true });

  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  // the baseline: the fastest Keras run, whichever mode and threads
  const keras = runs
    .filter((r) => r.name.startsWith('Keras'))
    .sort(
      (a, b) => median(b.history.map((h) => h.samplesPerSecond)) - median(a.history.map((h) => h.samplesPerSecond)),
    )[0];
  const target = keras ? keras.history[keras.history.length - 1].auc : NaN;
  console.log(
    "run                                                          samples/s (median epoch)  × Keras   loss (last)  AUC (last)  seconds to Keras' final AUC",
  );
  for (const r of runs) {
    const sps = median(r.history.map((h) => h.samplesPerSecond));
    let elapsed = 0;
    let reached: number | null = null;
    for (const h of r.history) {
      elapsed += h.seconds;
      if (reached === null && h.auc >= target - 1e-9) reached = elapsed;
    }
    const last = r.history[r.history.length - 1];
    console.log(
      `${r.name.padEnd(60)} ${Math.round(sps).toLocaleString('en-US').padStart(10)}  ${keras ? `${(sps / median(keras.history.map((h) => h.samplesPerSecond))).toFixed(2)}×`.padStart(10) : '      –'}   ${last.loss.toFixed(4).padStart(10)}  ${last.auc.toFixed(4).padStart(10)}  ${reached === null ? 'not reached' : `${reached.toFixed(1)} s`}`,
    );
  }
  console.log('\nper epoch (seconds, loss, holdout AUC):');
  for (const r of runs) {
    console.log(
      `  ${r.name}: ${r.history.map((h) => `${h.seconds.toFixed(1)} s ${h.loss.toFixed(4)} ${h.auc.toFixed(4)}`).join(' | ')}`,
    );
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
