/**
 * Pipeline throughput on this machine: batches per hour with one training worker process against two, the rest
 * equal (one pipeline worker process, the same batches, the same spec), in one run.
 *
 *   npm run bench:throughput          # = tsx bench/pipeline-throughput.ts --batches 6
 *
 * Each pass starts the batches at once, for a model of its own, (months of real 2001 flights, trained as the flights-delay example with
 * 4 epochs) against a dev server of its own and a fresh Lumen home, and times until every run has ended.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { startTrainingPipeline } from '../client/pipeline';
import { monthWindow } from '../lib/data/source';
import { loadModelSpec, parseModelSpec } from '../lib/spec';
import { startDevServer, stopProcess } from '../tools/devserver';
import { searchAttributeTypes } from '../workflows/definitions';
import { repoRoot, uniqueQueues } from '../test/support/env';
import { spawnWorker, type WorkerProcess } from '../test/support/worker-process';

const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
// about throughput, not validation or the gate: every month passes and is promoted
const spec = parseModelSpec({
  ...base,
  name: 'flights-throughput',
  training: { ...base.training, epochs: 4 },
  validation: {
    drift: { numeric: { fail: 10 }, categorical: { fail: 10 }, time: { gapDays: { warn: 62, fail: 100_000 } } },
  },
  gate: { ...base.gate, beatBaseline: false, thresholds: {}, vsChampion: { minAbsoluteChange: -1 } },
});

async function pass(address: string, trainingWorkers: number, months: string[]): Promise<{ seconds: number }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-bench-throughput-'));
  const queues = uniqueQueues();
  const workers: WorkerProcess[] = [spawnWorker(home, queues, 'pipeline', address)];
  for (let i = 0; i < trainingWorkers; i++) workers.push(spawnWorker(home, queues, 'training', address));
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  try {
    const started = performance.now();
    const runs = await Promise.all(
      months.map((month) =>
        startTrainingPipeline(
          client,
          // a model of its own per pass: a run's workflow id comes from model and batch, so the same name would find
          // the first pass's runs already done
          parseModelSpec({ ...spec, name: `${spec.name}-${trainingWorkers}w` }),
          { uri: 'vega-datasets:flights-3m.parquet', window: monthWindow('date', month) },
          { trainingTaskQueue: queues.training, actor: 'bench' },
          queues.pipeline,
        ),
      ),
    );
    const results = await Promise.all(runs.map((r) => r.handle.result()));
    const seconds = (performance.now() - started) / 1000;
    const outcomes = results.map((r) => r.outcome);
    if (outcomes.some((o) => o !== 'promoted' && o !== 'registered')) {
      throw new Error(`a run did not end with a model: ${outcomes.join(', ')}`);
    }
    console.log(
      `${trainingWorkers} training worker(s): ${months.length} batches in ${seconds.toFixed(1)} s (${outcomes.join(', ')})`,
    );
    return { seconds };
  } finally {
    await Promise.all(workers.map((w) => stopProcess(w.child, 5000)));
    await connection.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const opts = new Command().option('--batches <n>', 'months of 2001 flights, started at once', '6').parse().opts<{
    batches: string;
  }>();
  const months = Array.from({ length: Number(opts.batches) }, (_, i) => `2001-${String(i + 1).padStart(2, '0')}`);
  const server = await startDevServer({ searchAttributes: searchAttributeTypes() });
  try {
    const one = await pass(server.address, 1, months);
    const two = await pass(server.address, 2, months);
    const perHour = (s: number): number => (months.length / s) * 3600;
    console.log(`\n${months.length} batches, ${os.cpus().length} cores\n`);
    console.log('| training workers | seconds | batches per hour | vs one worker |');
    console.log('|---:|---:|---:|---:|');
    console.log(`| 1 | ${one.seconds.toFixed(1)} | ${perHour(one.seconds).toFixed(0)} | 1.00 |`);
    console.log(
      `| 2 | ${two.seconds.toFixed(1)} | ${perHour(two.seconds).toFixed(0)} | ${(one.seconds / two.seconds).toFixed(2)} |`,
    );
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
