/**
 * Training throughput on one month of real flights, same model and data, three tfjs backends in one process.
 * Baseline: tfjs-cpu (pure JavaScript kernels). Run: npm run bench:train [-- --month 2001-01 --epochs 2]
 */
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { fitPreprocessor } from '../lib/features';
import { buildNetwork } from '../lib/model/network';
import { flightsMonth } from './flights-data';
import { loadTf, useWasm, type Tf } from '../lib/model/tf';
import { trainLoop } from '../lib/model/trainer';
import { loadModelSpec } from '../lib/spec';

const root = path.resolve(__dirname, '..');

async function run(): Promise<void> {
  const opts = new Command()
    .option('--month <YYYY-MM>', 'month of flights', '2001-01')
    .option('--epochs <n>', 'epochs per backend (the first is a warm-up when > 1)', '2')
    .parse()
    .opts<{ month: string; epochs: string }>();
  const epochs = Number(opts.epochs);
  const spec = loadModelSpec(path.join(root, 'examples', 'models', 'flights-delay.json'));
  const { pre, data } = await flightsMonth(spec, opts.month);
  console.log(
    `flights ${opts.month}: ${data.rows} training rows × ${data.width} inputs; MLP ${spec.training.hiddenUnits.join('→')}→1, ` +
      `batch ${spec.training.batchSize}, ${epochs} epoch(s) per backend; ${os.cpus()[0].model}, ${os.availableParallelism()} cores`,
  );

  const { tf } = await loadTf(); // registers the native 'tensorflow' backend
  await useWasm(tf); // registers 'wasm'
  const results: { backend: string; samplesPerSecond: number; loss: number }[] = [];
  for (const backend of ['cpu', 'wasm', 'tensorflow']) {
    if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} unavailable`);
    results.push({ backend, ...(await measure(tf, spec, pre, data, epochs)) });
    const r = results[results.length - 1];
    console.log(
      `  ${backend.padEnd(10)} ${Math.round(r.samplesPerSecond).toLocaleString('en-US').padStart(9)} samples/s  loss ${r.loss.toFixed(4)}`,
    );
  }
  const baseline = results[0];
  console.log('\nbackend      samples/s   × baseline (tfjs-cpu)');
  for (const r of results) {
    console.log(
      `${r.backend.padEnd(10)} ${Math.round(r.samplesPerSecond).toLocaleString('en-US').padStart(11)}   ${(r.samplesPerSecond / baseline.samplesPerSecond).toFixed(2)}×`,
    );
  }
}

async function measure(
  tf: Tf,
  spec: ReturnType<typeof loadModelSpec>,
  pre: ReturnType<typeof fitPreprocessor>,
  data: { x: Float32Array; y: Float32Array; rows: number; width: number },
  epochs: number,
): Promise<{ samplesPerSecond: number; loss: number }> {
  const model = buildNetwork(tf, spec, pre);
  try {
    const progress = await trainLoop(tf, model, data, {
      epochs,
      batchSize: spec.training.batchSize,
      seed: spec.training.seed,
    });
    const timed = progress.history.length > 1 ? progress.history.slice(1) : progress.history;
    const seconds = timed.reduce((s, h) => s + h.seconds, 0);
    return {
      samplesPerSecond: (timed.length * data.rows) / seconds,
      loss: progress.history[progress.history.length - 1].loss,
    };
  } finally {
    model.dispose();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
