/**
 * `lumen stream score` end to end on a real broker on this machine, against the ceiling of the same client and
 * broker: a consume-and-produce loop that does no work (each event's bytes go out as they came, offsets committed
 * per batch, the same batch size). Both read the same events of the same topic, in their own consumer groups,
 * round after round taking turns going first.
 *
 *   npm run bench:stream      (= tsx bench/stream-score.ts --events 300000 --rounds 3)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { Message } from '@platformatic/kafka';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { DEFAULT_LOG_OPTIONS } from '../lib/serving/prediction-log';
import { consumer, ensureTopic, producer } from '../lib/stream/clients';
import type { KafkaConnection } from '../lib/stream/connection';
import { startServer } from '../serve/server';
import { StreamScorer } from '../serve/stream-scorer';
import { tempHome, vegaPath } from '../test/support/env';
import { trainBenchFlightsModel } from '../test/support/serving';
import { startKafkaBroker } from '../tools/kafka-broker';

const BATCH = Number(process.env.BENCH_BATCH ?? 8192);

/** The ceiling: consume, produce the same bytes, commit; nothing else. Events per second over `events`. */
async function noWorkLoop(connection: KafkaConnection, topic: string, out: string, events: number): Promise<number> {
  await ensureTopic(connection, out, 2);
  const c = consumer(connection, 'bench-baseline', `baseline-${Date.now()}`);
  const p = producer(connection, 'bench-baseline');
  const stream = await c.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 100 });
  const waiting: Message<Buffer, Buffer, Buffer, Buffer>[] = [];
  stream.on('data', (m) => waiting.push(m));
  let done = 0;
  let started = 0;
  // the scorer's loop without its work: a batch's send and commit overlap the taking of the next
  let sending: Promise<void> | null = null;
  while (done < events) {
    if (waiting.length === 0) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    started ||= performance.now();
    const batch = waiting.splice(0, BATCH);
    const messages = batch.map((m) => ({ topic: out, key: m.key, value: m.value }));
    await sending;
    sending = (async () => {
      await p.send({ messages });
      const next = new Map<number, bigint>();
      for (const m of batch) next.set(m.partition, m.offset + 1n);
      await c.commit({
        offsets: [...next].map(([partition, offset]) => ({ topic, partition, offset, leaderEpoch: -1 })),
      });
    })();
    done += batch.length;
  }
  await sending;
  const seconds = (performance.now() - started) / 1000;
  await stream.close();
  await c.close();
  await p.close();
  return events / seconds;
}

async function run(): Promise<void> {
  const opts = new Command()
    .option('--events <n>', 'events per run', '300000')
    .option('--rounds <n>', 'rounds of both runs', '3')
    .parse()
    .opts<{ events: string; rounds: string }>();
  const events = Number(opts.events);
  const rounds = Number(opts.rounds);
  const t = tempHome('lumen-bench-stream-');
  const kafkaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-bench-kafka-'));
  const broker = await startKafkaBroker({ dataDir: kafkaDir, defaultPartitions: 2 });
  const connection = { brokers: [broker.bootstrap] };
  try {
    const { spec, version } = await trainBenchFlightsModel(t.deps);
    console.log(
      `${os.cpus()[0].model.trim()}, ${os.cpus().length} cores, Node ${process.version}; Kafka broker on this machine; ${events} events a run`,
    );
    console.log(`model: ${spec.name} v${version.version} (MLP 154→64→32→1); prediction log on (fsync interval)\n`);
    // February 2001's flights, as the events a booking system would send (keyed by a flight's number in the file)
    const rows = await withDuckDB(async (con) => {
      const r = await con.runAndReadAll(
        `SELECT strftime(date, '%Y-%m-%d %H:%M:%S') AS date, CAST(distance AS DOUBLE) AS distance, origin, destination
           FROM read_parquet(${sqlString(vegaPath('flights-3m.parquet'))})
          WHERE date >= '2001-02-01' LIMIT ${events}`,
      );
      return r.getRowObjectsJson();
    });
    const topic = 'flights-events';
    await ensureTopic(connection, topic, 2);
    const p = producer(connection, 'bench-events');
    for (let i = 0; i < rows.length; i += 5000) {
      await p.send({
        messages: rows
          .slice(i, i + 5000)
          .map((row, k) => ({ topic, key: Buffer.from(`f${i + k}`), value: Buffer.from(JSON.stringify(row)) })),
      });
    }
    await p.close();
    console.log(`${rows.length} events in ${topic} (2 partitions), ${JSON.stringify(rows[0])}\n`);

    const server = await startServer(t.deps, {
      host: '127.0.0.1',
      port: 0,
      batch: { maxBatch: BATCH, maxWaitMs: 0 },
      bodyLimit: 1024 * 1024,
      maxRows: 10_000,
      rateLimit: null,
      tokens: { admin: 'bench', feedback: 'bench', predict: null },
      watchMs: 60_000,
      log: { root: path.join(t.home, 'predictions'), options: { ...DEFAULT_LOG_OPTIONS, retentionDays: 1 } },
      feedbackFile: path.join(t.home, 'feedback.sqlite'),
      corsOrigin: null,
    });
    const lumenRun = async (round: number): Promise<number> => {
      const scorer = new StreamScorer(
        server.host,
        connection,
        { model: spec.name, inTopic: topic, outTopic: `answers-${round}`, group: `lumen-${round}`, maxBatch: BATCH },
        server.metrics,
      );
      await scorer.start();
      let started = 0;
      for (;;) {
        const s = scorer.current();
        if (!started && s.answered > 0) started = performance.now();
        if (s.answered + s.refused + s.malformed >= events) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      const seconds = (performance.now() - started) / 1000;
      await scorer.stop();
      return events / seconds;
    };
    const baseline: number[] = [];
    const lumen: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? ['baseline', 'lumen'] : ['lumen', 'baseline'];
      for (const which of order) {
        if (which === 'baseline') baseline.push(await noWorkLoop(connection, topic, `echo-${round}`, events));
        else lumen.push(await lumenRun(round));
      }
      console.log(
        `round ${round + 1}: no-work loop ${baseline[round].toFixed(0)} events/s, lumen stream score ${lumen[round].toFixed(0)} events/s (${(lumen[round] / baseline[round]).toFixed(2)}×)`,
      );
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `\nmedian: no-work consume-and-produce loop ${median(baseline).toFixed(0)} events/s; lumen stream score ${median(lumen).toFixed(0)} events/s = ${(median(lumen) / median(baseline)).toFixed(2)}× the loop (goal ≥ 50,000 events/s)`,
    );
    console.log(`prediction log: ${JSON.stringify(server.log?.current())}`);
    await server.close();
  } finally {
    await broker.stop();
    fs.rmSync(kafkaDir, { recursive: true, force: true });
    t.cleanup();
  }
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
