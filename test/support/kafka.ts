import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Consumer, Producer } from '@platformatic/kafka';
import { startKafkaBroker, type KafkaBroker } from '../../tools/kafka-broker';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { vegaPath } from './env';

/** A real Kafka broker for a test file, in a folder of its own; `restart` brings it back on the same ports. */
export interface TestBroker {
  broker: KafkaBroker;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function testBroker(partitions = 2): Promise<TestBroker> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-kafka-'));
  const handle: TestBroker = {
    broker: await startKafkaBroker({ dataDir: dir, defaultPartitions: partitions }),
    async restart() {
      const { port, controllerPort } = handle.broker;
      handle.broker = await startKafkaBroker({ dataDir: dir, port, controllerPort, defaultPartitions: partitions });
    },
    async cleanup() {
      await handle.broker.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** A producer as a careful user's service runs one: idempotent, so its own retries never write an event twice. */
export function testProducer(bootstrap: string): Producer<Buffer, Buffer, Buffer, Buffer> {
  return new Producer({
    clientId: 'test-events',
    bootstrapBrokers: [bootstrap],
    idempotent: true,
    acks: -1,
    retries: 60,
    retryDelay: 500,
  });
}

/** Seattle's weather, a row per day, as the events a station would send (keyed by date). */
export async function weatherEvents(): Promise<{ key: Buffer; value: Buffer; row: Record<string, unknown> }[]> {
  const rows = await withDuckDB(async (con) => {
    const r = await con.runAndReadAll(
      `SELECT strftime(CAST(date AS DATE), '%Y-%m-%dT%H:%M:%S') AS date, precipitation, temp_max, temp_min, wind, weather
         FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))}) ORDER BY date`,
    );
    return r.getRowObjectsJson();
  });
  return rows.map((row) => ({ key: Buffer.from(row.date as string), value: Buffer.from(JSON.stringify(row)), row }));
}

/** Every message of a topic from its start (waiting for at least `atLeast`), with its headers as text. */
export async function readTopic(
  bootstrap: string,
  topic: string,
  atLeast: number,
  timeoutMs = 60_000,
): Promise<{ key: string | null; value: Buffer; headers: Record<string, string> }[]> {
  const consumer = new Consumer({
    clientId: 'test-reader',
    groupId: `test-reader-${Date.now()}-${Math.random()}`,
    bootstrapBrokers: [bootstrap],
    maxWaitTime: 200,
  });
  const found: { key: string | null; value: Buffer; headers: Record<string, string> }[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const deadline = Date.now() + timeoutMs;
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (found.length >= atLeast || Date.now() > deadline) {
          clearInterval(timer);
          if (found.length >= atLeast) resolve();
          else reject(new Error(`${topic}: ${found.length} of ${atLeast} messages within ${timeoutMs / 1000} s`));
        }
      }, 100);
      stream.on('data', (m) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of m.headers) headers[k.toString()] = v.toString();
        found.push({ key: m.key?.length ? m.key.toString() : null, value: m.value, headers });
      });
    });
    await stream.close();
  } finally {
    await consumer.close().catch(() => undefined);
  }
  return found;
}
