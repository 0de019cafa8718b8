import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { streamIngest, streamStop } from '../../cli/stream-commands';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { committedOffsets, consumer, ensureTopic } from '../../lib/stream/clients';
import { readWindow } from '../../lib/stream/ingest';
import { loadModelSpec } from '../../lib/spec';
import { streamGroup, streamStatusQuery, streamWorkflowId } from '../../workflows/stream-definitions';
import {
  cliEnvironment,
  eventually,
  repoRoot,
  tempHome,
  testClient,
  uniqueQueues,
  workflowBundle,
  type TestHome,
} from '../support/env';
import { readTopic, testBroker, testProducer, weatherEvents, type TestBroker } from '../support/kafka';
import { kill, spawnWorker, type WorkerProcess } from '../support/worker-process';

/**
 * Events in, batches out, on a real Kafka broker and a real Temporal server, with workers in their own processes
 * killed like crashed machines and the broker itself killed mid-stream — under the defaults a user gets.
 */
describe('stream ingest on a real broker', () => {
  let kafka: TestBroker;
  let t: TestHome;
  let client: Client;
  let restoreEnv: () => void;
  let events: Awaited<ReturnType<typeof weatherEvents>>;
  const queues = uniqueQueues();
  const workers: WorkerProcess[] = [];
  let spec: string;
  const model = 'weather-stream';

  function startWorker(): WorkerProcess {
    const w = spawnWorker(t.home, queues, 'pipeline,training', undefined, {
      LUMEN_KAFKA_BROKERS: kafka.broker.bootstrap,
    });
    workers.push(w);
    return w;
  }

  async function produce(topic: string, messages: { key: Buffer; value: Buffer; partition?: number }[]) {
    const p = testProducer(kafka.broker.bootstrap);
    try {
      for (let i = 0; i < messages.length; i += 200) {
        await p.send({ messages: messages.slice(i, i + 200).map((m) => ({ topic, ...m })) });
      }
    } finally {
      await p.close();
    }
  }

  async function eventsRead(handle: WorkflowHandle): Promise<number> {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    const read = pending.find((a) => a.activityType?.name === 'readStreamWindow');
    const data = read?.heartbeatDetails?.payloads?.[0]?.data;
    return data ? (JSON.parse(Buffer.from(data).toString()) as { eventsRead: number }).eventsRead : 0;
  }

  before(async function () {
    this.timeout(180_000);
    kafka = await testBroker(2);
    t = tempHome('lumen-stream-');
    client = await testClient();
    restoreEnv = cliEnvironment(t.home, queues);
    process.env.LUMEN_KAFKA_BROKERS = kafka.broker.bootstrap;
    events = await weatherEvents();
    spec = path.join(t.home, 'weather-stream.json');
    const base = JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'), 'utf8'));
    fs.writeFileSync(
      spec,
      JSON.stringify({
        ...base,
        name: model,
        training: { ...base.training, epochs: 5 },
        validation: { drift: { numeric: { fail: 10 }, categorical: { fail: 10 } } },
      }),
    );
  });
  after(async function () {
    this.timeout(60_000);
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) await kill(w);
    delete process.env.LUMEN_KAFKA_BROKERS;
    restoreEnv?.();
    await client?.connection.close();
    t?.cleanup();
    await kafka?.cleanup();
  });

  it('the same window read twice is the same batch: the same bytes, the same hash', async function () {
    this.timeout(120_000);
    const conn = { brokers: [kafka.broker.bootstrap] };
    await ensureTopic(conn, 'weather-twice', 2);
    await produce(
      'weather-twice',
      events.slice(0, 120).map((e, i) => ({ ...e, partition: i % 2 })),
    );
    const input = {
      model: 'twice',
      topic: 'weather-twice',
      group: 'lumen-ingest-twice',
      from: null,
      rule: { by: 'time' as const, every: 'day' as const },
      spec: loadModelSpec(spec),
      deadLetterTopic: 'weather-twice.dlq',
      maxEventBytes: 65536,
      idleSeconds: 5,
      waitSeconds: 30,
    };
    const first = await readWindow(conn, t.deps.store, input);
    const again = await readWindow(conn, t.deps.store, input);
    assert.ok(first.batch);
    assert.equal(again.batch?.sha256, first.batch.sha256);
    assert.equal(again.batch?.fingerprint, first.batch.fingerprint);
    // a day of Seattle: one row, from whichever partition holds 2012-01-01
    assert.equal(first.counts.accepted, 1);
    assert.deepEqual(first.window, { start: '2012-01-01T00:00:00.000Z', end: '2012-01-02T00:00:00.000Z' });
    // the batch says where it came from, in its own metadata and in its source
    assert.deepEqual(first.batch.source.stream, { topic: 'weather-twice', ranges: first.ranges });
    const meta = await withDuckDB(async (con) =>
      (
        await con.runAndReadAll(
          `SELECT decode(value) FROM parquet_kv_metadata(${sqlString(first.batch!.source.uri)}) WHERE decode(key) = 'lumen.stream.ranges'`,
        )
      ).getRows(),
    );
    assert.deepEqual(JSON.parse(String(meta[0][0])), first.ranges);
  });

  it('a worker killed mid-window: the window lands once, with its refused events in the dead-letter topic; a schema change is refused per event and alerted', async function () {
    this.timeout(600_000);
    const topic = 'weather-events';
    await ensureTopic({ brokers: [kafka.broker.bootstrap] }, topic, 2);
    const first = startWorker();
    await streamIngest(model, { topic, spec, window: 'rows:300', idle: '30' });
    const handle = client.workflow.getHandle(streamWorkflowId(model, topic));
    await produce(topic, events.slice(0, 200));
    await eventually('the reader to have read 200 events', async () =>
      (await eventsRead(handle)) >= 200 ? true : undefined,
    );
    await kill(first);
    // while no reader runs: the rest of the window, a malformed event, an oversized one, and a producer's retry
    // (all before the window's last rows, so they are inside it whichever partitions they fall on)
    await produce(topic, [
      ...events.slice(200, 250),
      { key: Buffer.from('bad-json'), value: Buffer.from('{"date": "2012-07-19T00:00:00", "wind": ') },
      {
        key: Buffer.from('too-big'),
        value: Buffer.from(JSON.stringify({ ...events[0].row, note: 'x'.repeat(70_000) })),
      },
    ]);
    const retry = events[10];
    const p = testProducer(kafka.broker.bootstrap);
    // the same key and bytes again, as a producer without idempotence resends after a lost acknowledgement
    await p.send({ messages: [{ topic, key: retry.key, value: retry.value }] });
    await p.close();
    await produce(topic, events.slice(250, 300));
    startWorker();
    const one = await eventually('the first window', async () => {
      const s = await handle.query(streamStatusQuery);
      return s.windows.length >= 1 ? s : undefined;
    });
    const w = one.windows[0];
    assert.equal(w.counts.accepted, 300, JSON.stringify(w));
    assert.equal(w.counts.refused, 2);
    assert.deepEqual(w.counts.refusedBy, { malformed: 1, oversized: 1 });
    assert.equal(w.counts.duplicates, 1);
    assert.equal(w.outcome, 'started');
    assert.equal(
      w.ranges.reduce((n, r) => n + Number(r.to) - Number(r.from), 0),
      303,
    );
    // the read was retried after the kill, and landed once
    const history = (await handle.fetchHistory()).events ?? [];
    const started = history.filter((e) => e.activityTaskStartedEventAttributes);
    assert.ok(
      started.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1),
      'the first read was retried',
    );
    const dead = await readTopic(kafka.broker.bootstrap, `${topic}.dlq`, 2);
    const byKey = new Map(dead.map((d) => [d.key, d]));
    assert.match(byKey.get('bad-json')!.headers['lumen-problems'], /not JSON/);
    assert.match(byKey.get('too-big')!.headers['lumen-problems'], /bytes, above the 65536/);
    assert.match(byKey.get('too-big')!.headers['lumen-source'], new RegExp(`^${topic}/\\d/\\d+$`));
    // the producers change: a third of the next window lacks "wind", each such event refused, and the stream says so
    await produce(topic, [
      ...events.slice(300, 450).map((e) => {
        const { wind: _wind, ...row } = e.row;
        return { key: e.key, value: Buffer.from(JSON.stringify(row)) };
      }),
      ...events.slice(450, 750),
    ]);
    const two = await eventually('the second window', async () => {
      const s = await handle.query(streamStatusQuery);
      return s.windows.length >= 2 ? s : undefined;
    });
    const w2 = two.windows[1];
    assert.equal(w2.counts.refused, 150, JSON.stringify(w2));
    assert.deepEqual(w2.counts.refusedBy, { missing: 150 });
    assert.equal(w2.alerted, true);
    const alerts = await t.deps.registry.listAlerts(model);
    const alert = alerts.find((a) => a.kind === 'stream-refused');
    assert.ok(alert, JSON.stringify(alerts));
    assert.match(alert.message, /150 of 450 events of weather-events refused .* missing 150/);
    const missing = (await readTopic(kafka.broker.bootstrap, `${topic}.dlq`, 152)).filter((d) =>
      d.headers['lumen-problems']?.includes('"wind"'),
    );
    assert.equal(missing.length, 150);
    assert.match(missing[0].headers['lumen-problems'], /missing \(column is required\)/);
    // each window trained once, from exactly its events; the version's lineage says which
    for (const entry of [w, w2]) {
      const result = (await client.workflow.getHandle(entry.workflowId!).result()) as { outcome: string };
      assert.ok(['promoted', 'registered'].includes(result.outcome), result.outcome);
    }
    const versions = await t.deps.registry.listVersions(model);
    assert.equal(versions.length, 2);
    const dataset = await t.deps.registry.getDataset(versions[0].lineage.sourceDataset);
    assert.deepEqual(dataset?.source.stream, { topic, ranges: w.ranges });
    assert.equal(dataset?.rows, 300);
    // the offsets committed are where the third window starts
    const c = consumer({ brokers: [kafka.broker.bootstrap] }, 'test', streamGroup(model, topic));
    try {
      const committed = await committedOffsets(c, topic, 2);
      assert.deepEqual(
        committed.map(String),
        [0, 1].map((p) => two.next![String(p)]),
      );
    } finally {
      await c.close();
    }
    await streamStop(model, { topic, reason: 'test done' });
    // the run's own history replays with this code: a worker restarted mid-stream picks it up where it was
    await Worker.runReplayHistory(
      { workflowBundle: await workflowBundle() },
      await handle.fetchHistory(),
      handle.workflowId,
    );
  });

  it('the broker killed and restarted mid-stream: no event lost, none twice', async function () {
    this.timeout(600_000);
    const topic = 'weather-restart';
    await ensureTopic({ brokers: [kafka.broker.bootstrap] }, topic, 2);
    if (!workers.some((w) => w.child.exitCode === null && w.child.signalCode === null)) startWorker();
    await streamIngest(model, { topic, spec, window: 'rows:250', idle: '30' });
    const handle = client.workflow.getHandle(streamWorkflowId(model, topic));
    const sent = events.slice(750, 1250);
    await produce(topic, sent.slice(0, 150));
    await eventually('the reader to have read 150 events', async () =>
      (await eventsRead(handle)) >= 150 ? true : undefined,
    );
    await kafka.broker.kill();
    // events keep coming while the broker is down: the producer holds them until it is back
    const rest = produce(topic, sent.slice(150));
    await new Promise((r) => setTimeout(r, 3000));
    await kafka.restart();
    await rest;
    const s = await eventually(
      'both windows',
      async () => {
        const st = await handle.query(streamStatusQuery);
        return st.windows.length >= 2 ? st : undefined;
      },
      300_000,
    );
    assert.equal(s.totals.accepted, 500, JSON.stringify(s.windows.map((w) => w.counts)));
    assert.equal(s.totals.refused, 0);
    // the landed batches hold every event once
    const files = s.windows.map((w) => path.join(t.home, 'artifacts', 'stream', `${w.sha256}.parquet`));
    const [rows, distinct] = await withDuckDB(async (con) => {
      const r = await con.runAndReadAll(
        `SELECT count(*), count(DISTINCT date) FROM read_parquet([${files.map(sqlString).join(', ')}])`,
      );
      return r.getRowsJS()[0].map(Number);
    });
    assert.equal(rows, 500);
    assert.equal(distinct, 500);
    await streamStop(model, { topic, reason: 'test done' });
  });
});
