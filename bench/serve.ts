/**
 * Serving throughput and latency on loopback, against the ceiling of this machine: a bare fastify route that
 * returns a constant, loaded by the same generator (autocannon, in its own process) with the same connections.
 * Then: single-row predict with and without micro-batching, latency at half the maximum load, the cost of the
 * prediction log, and `lumen predict` on all 3M flights.
 *
 *   npm run bench:serve          (= tsx bench/serve.ts --seconds 8 --connections 16 --rounds 5)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import Fastify from 'fastify';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { scoreFile } from '../lib/serving/batch';
import { startServer, type ServeOptions } from '../serve/server';
import { startTracing } from '../lib/telemetry';
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
      '--tracing <ratio>',
      'also measure predict with tracing on, this share of requests sampled (0.1), exported over OTLP to a receiver in a process of its own',
    )
    .option(
      '--log-fsync <when>',
      "the prediction log's fsync policy: always, interval (the default), never",
      'interval',
    )
    .parse()
    .opts<{
      seconds: string;
      connections: string;
      rounds: string;
      batchScoring: boolean;
      logFsync: FsyncPolicy;
      tracing?: string;
    }>();
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
  const withLog = await startServer(t.deps, serveOptions({ tracing: false }));
  const withoutLog = await startServer(t.deps, serveOptions({ log: null, tracing: false }));
  const urls = { ceiling: bare.url, batched: predictUrl(withLog), logOff: predictUrl(withoutLog) };
  for (const url of Object.values(urls)) await autocannon(url, row, WARM_UP_SECONDS, connections);
  const runs: Record<'ceiling' | 'batched' | 'logOff' | 'traced', Load[]> = {
    ceiling: [],
    batched: [],
    logOff: [],
    traced: [],
  };
  // --tracing: a fourth server, the same as the second with its requests traced and exported
  const collector = opts.tracing === undefined ? null : await otlpSink();
  let traced: Awaited<ReturnType<typeof startServer>> | null = null;
  let tracing: Awaited<ReturnType<typeof startTracing>> = null;
  if (collector) {
    Object.assign(process.env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: opts.tracing,
    });
    tracing = await startTracing('lumen-serve-bench');
    traced = await startServer(t.deps, serveOptions({ tracing: true }));
    await autocannon(predictUrl(traced), row, WARM_UP_SECONDS, connections);
  }
  // after the ceiling, the servers take turns going first, round by round: the one measured first in a round runs
  // on a machine as it was left by the last (measured: a few percent either way)
  const turns: ['batched' | 'logOff' | 'traced', string][] = [
    ['batched', urls.batched],
    ['logOff', urls.logOff],
    ...(traced ? [['traced', predictUrl(traced)] as ['traced', string]] : []),
  ];
  for (let r = 0; r < rounds; r++) {
    runs.ceiling.push(await burst(urls.ceiling));
    for (let i = 0; i < turns.length; i++) {
      const [name, url] = turns[(r + i) % turns.length];
      runs[name].push(await burst(url));
    }
    if (rounds > 1) {
      const [c, b, o] = [runs.ceiling[r], runs.batched[r], runs.logOff[r]];
      console.log(
        `round ${r + 1}: ceiling ${c.rps.toFixed(0)}, micro-batching ${b.rps.toFixed(0)} (${(b.rps / c.rps).toFixed(2)}×, ${b.cpuUs?.toFixed(0)} µs CPU/request), log off ${o.rps.toFixed(0)} (${o.cpuUs?.toFixed(0)} µs CPU/request; log costs ${((1 - b.rps / o.rps) * 100).toFixed(0)}%)`,
      );
    }
  }
  await Promise.all([bare.close(), withLog.close(), withoutLog.close(), traced?.close()]);
  await tracing?.shutdown();
  const spans = collector ? await collector.count() : 0;
  collector?.stop();
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
  if (traced) {
    report(`lumen predict, 1 row, micro-batching, traced (${opts.tracing} sampled, OTLP/HTTP)`, median(runs.traced));
    console.log(
      `tracing costs ${((1 - total(runs.traced) / total(runs.batched)) * 100).toFixed(1)}% of throughput over all rounds ` +
        `(${cpu(runs.traced).toFixed(1)} against ${cpu(runs.batched).toFixed(1)} µs CPU/request); the receiver took ` +
        `${spans} spans`,
    );
  }
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

/**
 * An OTLP/HTTP receiver in a process of its own (its work is not the server's): counts the spans it is sent, decoded
 * with the protobuf definitions OpenTelemetry's exporter encodes with (or, sent as JSON, scanned for span ids).
 */
async function otlpSink(): Promise<{ url: string; count: () => Promise<number>; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `let n = 0;
       const otlp = require(${JSON.stringify(require.resolve('@opentelemetry/otlp-transformer/build/src/generated/root'))})
         .opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
       const server = require('node:http').createServer((req, res) => {
         const chunks = [];
         req.on('data', (d) => chunks.push(d));
         req.on('end', () => {
           const body = Buffer.concat(chunks);
           if (req.headers['content-type'] === 'application/json') n += (body.toString().match(/"spanId"/g) || []).length;
           else for (const r of otlp.decode(body).resourceSpans) for (const s of r.scopeSpans) n += s.spans.length;
           res.end();
         });
       });
       process.on('message', () => process.send(n));
       server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const port = await new Promise<number>((resolve) =>
    child.once('message', (m) => resolve((m as { port: number }).port)),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    count: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as number));
        child.send('count');
      }),
    stop: () => child.kill(),
  };
}

run().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
