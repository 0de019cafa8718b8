/**
 * Serving throughput and latency on loopback, against the ceiling of this machine: a bare fastify route that
 * returns a constant, loaded by the same generator (autocannon, in its own process) with the same connections.
 * Then: single-row predict with and without micro-batching, latency at half the maximum load, the cost of the
 * prediction log, and `lumen predict` on all 3M flights.
 *
 *   npm run bench:serve          (= tsx bench/serve.ts --seconds 8 --connections 16 --rounds 5)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import Fastify from 'fastify';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { scoreFile } from '../lib/serving/batch';
import { startServer, type ServeOptions } from '../serve/server';
import { tempHome, vegaPath } from '../test/support/env';
import { trainBenchFlightsModel } from '../test/support/serving';
import type { FsyncPolicy } from '../lib/serving/log-wal';
import { DEFAULT_LOG_OPTIONS } from '../lib/serving/prediction-log';
import { autocannon, type Load } from './load';

/** Each server's own load before it is measured: JIT, caches and the log's buffers warm, as in service. */
const WARM_UP_SECONDS = 3;

async function run(): Promise<void> {
  const opts = new Command()
    .option('--seconds <n>', 'seconds per load run', '8')
    .option('--connections <n>', 'concurrent connections', '16')
    .option('--rounds <n>', 'measure the ceiling, micro-batching and the log off this many times, interleaved', '1')
    .option('--no-batch-scoring', 'skip lumen predict on 3M rows')
    .option(
      '--log-fsync <when>',
      "the prediction log's fsync policy: always, interval (the default), never",
      'interval',
    )
    .parse()
    .opts<{ seconds: string; connections: string; rounds: string; batchScoring: boolean; logFsync: FsyncPolicy }>();
  if (!['always', 'interval', 'never'].includes(opts.logFsync)) throw new Error(`--log-fsync: "${opts.logFsync}"?`);
  const rounds = Math.max(1, Number(opts.rounds));
  const seconds = Number(opts.seconds);
  const connections = Number(opts.connections);
  const t = tempHome('lumen-bench-serve-');
  const { spec, version: v } = await trainBenchFlightsModel(t.deps);
  const row = JSON.stringify({ date: '2001-02-14 08:30:00', distance: 722, origin: 'ATL', destination: 'ORD' });
  console.log(
    `${os.cpus()[0].model.trim()}, ${os.cpus().length} cores, Node ${process.version}; ${seconds} s per run, ${connections} connections`,
  );
  console.log(`model: ${spec.name} v${v.version} (MLP 154→64→32→1)\n`);

  const results: { name: string; load: Load }[] = [];
  const report = (name: string, load: Load): void => {
    results.push({ name, load });
    const ceiling = results[0].load.rps;
    console.log(
      `${name.padEnd(58)} ${load.rps.toFixed(0).padStart(7)} req/s  p50 ${load.p50.toFixed(2).padStart(6)} ms  p99 ${load.p99.toFixed(2).padStart(6)} ms  ${(load.rps / ceiling).toFixed(2)}× ceiling${load.cpuUs ? `  ${load.cpuUs.toFixed(0)} µs CPU/request` : ''}${load.errors || load.non2xx ? `  ERRORS ${load.errors} non-2xx ${load.non2xx}` : ''}`,
    );
  };

  // the ceiling: fastify answering a constant, nothing else
  const startCeiling = async (): Promise<{ url: string; close: () => Promise<void> }> => {
    const bare = Fastify({ logger: false });
    bare.post('/constant', async () => ({
      model: 'x',
      version: 1,
      predictions: [{ id: '0', probability: 0.5, flags: [] }],
    }));
    await bare.listen({ host: '127.0.0.1', port: 0 });
    return {
      url: `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/constant`,
      close: () => bare.close(),
    };
  };

  const serveOptions = (overrides: Partial<ServeOptions>): ServeOptions => ({
    host: '127.0.0.1',
    port: 0,
    // what `lumen serve` uses by default (--max-batch 256, --max-wait-ms 0); BENCH_WAIT=2 tries a 2 ms wait
    batch: { maxBatch: 256, maxWaitMs: Number(process.env.BENCH_WAIT ?? 0) },
    bodyLimit: 1024 * 1024,
    maxRows: 10_000,
    rateLimit: null,
    tokens: { admin: 'bench', feedback: 'bench', predict: null },
    watchMs: 60_000,
    log: {
      root: path.join(t.home, 'predictions'),
      options: { ...DEFAULT_LOG_OPTIONS, flushEveryMs: 1000, retentionDays: 1, fsync: opts.logFsync },
    },
    feedbackFile: path.join(t.home, 'feedback.sqlite'),
    corsOrigin: null,
    ...overrides,
  });
  /** One run of the load generator against a running server, with this process's CPU time per request. */
  const burst = async (url: string, rate?: number): Promise<Load> => {
    const cpu = process.cpuUsage();
    const result = await autocannon(url, row, seconds, connections, rate);
    const used = process.cpuUsage(cpu);
    result.cpuUs = (used.user + used.system) / (result.rps * seconds);
    return result;
  };
  const predictUrl = (server: { url: string }): string => `${server.url}/v1/models/${spec.name}/predict`;
  const measure = async (name: string, overrides: Partial<ServeOptions>, rate?: number): Promise<Load> => {
    const server = await startServer(t.deps, serveOptions(overrides));
    try {
      await autocannon(predictUrl(server), row, WARM_UP_SECONDS, connections);
      const result = await burst(predictUrl(server), rate);
      report(name, result);
      return result;
    } finally {
      await server.close();
    }
  };

  // The three runs the ratios are about — the ceiling, Lumen with its log, Lumen without — against three servers
  // started once in this process and warmed up by a load of their own, as a server in service is. Their runs are
  // interleaved round by round, log on and log off taking turns going first, so that a change in the machine's
  // speed (it is shared: the ceiling alone moves by a third between rounds) falls on all three alike.
  const bare = await startCeiling();
  const withLog = await startServer(t.deps, serveOptions({}));
  const withoutLog = await startServer(t.deps, serveOptions({ log: null }));
  const urls = { ceiling: bare.url, batched: predictUrl(withLog), logOff: predictUrl(withoutLog) };
  for (const url of Object.values(urls)) await autocannon(url, row, WARM_UP_SECONDS, connections);
  const runs: Record<'ceiling' | 'batched' | 'logOff', Load[]> = { ceiling: [], batched: [], logOff: [] };
  for (let r = 0; r < rounds; r++) {
    runs.ceiling.push(await burst(urls.ceiling));
    if (r % 2 === 0) {
      runs.batched.push(await burst(urls.batched));
      runs.logOff.push(await burst(urls.logOff));
    } else {
      runs.logOff.push(await burst(urls.logOff));
      runs.batched.push(await burst(urls.batched));
    }
    if (rounds > 1) {
      const [c, b, o] = [runs.ceiling[r], runs.batched[r], runs.logOff[r]];
      console.log(
        `round ${r + 1}: ceiling ${c.rps.toFixed(0)}, micro-batching ${b.rps.toFixed(0)} (${(b.rps / c.rps).toFixed(2)}×, ${b.cpuUs?.toFixed(0)} µs CPU/request), log off ${o.rps.toFixed(0)} (${o.cpuUs?.toFixed(0)} µs CPU/request; log costs ${((1 - b.rps / o.rps) * 100).toFixed(0)}%)`,
      );
    }
  }
  await Promise.all([bare.close(), withLog.close(), withoutLog.close()]);
  const median = (list: Load[]): Load => [...list].sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)];
  report('ceiling: bare fastify route returning a constant', median(runs.ceiling));
  const batched = median(runs.batched);
  report(`lumen predict, 1 row, micro-batching (≤256 rows, ${process.env.BENCH_WAIT ?? 0} ms wait)`, batched);
  const logOff = median(runs.logOff);
  report('lumen predict, 1 row, micro-batching, prediction log off', logOff);
  // each round's own ratio: the medians above may come from different rounds; and over all rounds, requests
  // served with the log against without it, in the same total time
  const costs = runs.batched.map((b, r) => (1 - b.rps / runs.logOff[r].rps) * 100);
  const total = (list: Load[]): number => list.reduce((sum, l) => sum + l.rps, 0);
  const cpu = (list: Load[]): number => list.reduce((sum, l) => sum + (l.cpuUs ?? 0) * l.rps, 0) / total(list);
  console.log(
    `the prediction log costs ${((1 - total(runs.batched) / total(runs.logOff)) * 100).toFixed(1)}% of throughput over all ` +
      `rounds (${cpu(runs.batched).toFixed(1)} against ${cpu(runs.logOff).toFixed(1)} µs CPU/request); ` +
      `${[...costs].sort((a, b) => a - b)[Math.floor(costs.length / 2)].toFixed(0)}% in the median round (rounds: ${costs.map((c) => `${c.toFixed(0)}%`).join(', ')})`,
  );
  await measure('lumen predict, 1 row, no micro-batching (one model call per request)', {
    batch: { maxBatch: 1, maxWaitMs: 0 },
  });
  const half = Math.round(batched.rps / 2);
  await measure(`lumen predict at half the maximum load (${half} req/s), micro-batching`, {}, half);

  if (opts.batchScoring) {
    const out = path.join(t.home, 'scored.parquet');
    const scored = await scoreFile(t.deps.store, v, { uri: 'vega-datasets:flights-3m.parquet' }, out);
    const check = await withDuckDB(async (con) =>
      Number(
        (await con.runAndReadAll(`SELECT count(probability) FROM read_parquet(${sqlString(out)})`)).getRowsJS()[0][0],
      ),
    );
    console.log(
      `\nlumen predict on ${vegaPath('flights-3m.parquet').split('/').pop()}: ${scored.rows} rows in ${scored.seconds.total.toFixed(2)} s = ${(scored.rows / scored.seconds.total / 1e6).toFixed(2)}M rows/s ` +
        `(read ${scored.seconds.read.toFixed(2)} s, encode + predict ${scored.seconds.predict.toFixed(2)} s, write ${scored.seconds.write.toFixed(2)} s; ${check} predictions written)`,
    );
  }
  fs.rmSync(t.home, { recursive: true, force: true });
}

run().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
