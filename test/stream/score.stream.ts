import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../../lib/spec';
import { PREDICTION_ID } from '../../lib/serving/ids';
import { ensureTopic } from '../../lib/stream/clients';
import { scoringLag } from '../../lib/stream/lag';
import type { ModelVersion } from '../../lib/registry/types';
import { startServer, type RunningServer } from '../../serve/server';
import { StreamLabels } from '../../serve/stream-labels';
import { StreamScorer, type Answer } from '../../serve/stream-scorer';
import { eventually, repoRoot, tempHome, vegaPath, type TestHome } from '../support/env';
import { readTopic, testBroker, testProducer, weatherEvents, type TestBroker } from '../support/kafka';
import { testServeOptions, trainAndRegister } from '../support/serving';

/**
 * Events in, answers out, on a real broker: the serving host answers every event (the same contract, ids, log,
 * canary by the event's key, hot swaps as over HTTP) into another topic, keyed like the event.
 */
describe('stream score on a real broker', () => {
  let kafka: TestBroker;
  let t: TestHome;
  let spec: ModelSpec;
  let v1: ModelVersion;
  let v2: ModelVersion;
  let server: RunningServer;
  let scorer: StreamScorer;
  let events: Awaited<ReturnType<typeof weatherEvents>>;
  const TOKEN = 'stream-score-token';

  before(async function () {
    this.timeout(300_000);
    kafka = await testBroker(2);
    t = tempHome('lumen-stream-score-');
    const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
    spec = parseModelSpec({ ...base, name: 'weather-score', training: { ...base.training, epochs: 5 } });
    const year = (y: number) => ({
      uri: vegaPath('seattle-weather.csv'),
      window: { column: 'date', start: `${y}-01-01`, end: `${y + 1}-01-01` },
    });
    v1 = await trainAndRegister(t.deps, spec, year(2012), { champion: true, workflowId: 'score-v1' });
    v2 = await trainAndRegister(t.deps, spec, year(2013), { workflowId: 'score-v2' });
    server = await startServer(t.deps, testServeOptions(t.home, TOKEN));
    events = await weatherEvents();
    await ensureTopic({ brokers: [kafka.broker.bootstrap] }, 'weather-in', 2);
  });
  after(async function () {
    this.timeout(60_000);
    await scorer?.stop();
    await server?.close();
    t?.cleanup();
    await kafka?.cleanup();
  });

  async function produce(messages: { key: Buffer; value: Buffer }[]): Promise<void> {
    const p = testProducer(kafka.broker.bootstrap);
    try {
      await p.send({ messages: messages.map((m) => ({ topic: 'weather-in', ...m })) });
    } finally {
      await p.close();
    }
  }

  async function answers(atLeast: number): Promise<Map<string, Answer>> {
    const found = await readTopic(kafka.broker.bootstrap, 'weather-out', atLeast);
    return new Map(found.map((m) => [m.key!, JSON.parse(m.value.toString()) as Answer]));
  }

  it('answers every event under its key: predictions with their ids and decision records, refusals with why', async function () {
    this.timeout(180_000);
    scorer = new StreamScorer(
      server.host,
      { brokers: [kafka.broker.bootstrap] },
      {
        model: spec.name,
        inTopic: 'weather-in',
        outTopic: 'weather-out',
        rememberKeys: (pairs) => server.answerKeys.rememberKeys(spec.name, pairs),
      },
      server.metrics,
    );
    await scorer.start();
    await produce([
      ...events.slice(0, 200),
      { key: Buffer.from('bad-json'), value: Buffer.from('{"date": ') },
      { key: Buffer.from('hot'), value: Buffer.from(JSON.stringify({ ...events[0].row, temp_max: 'hot' })) },
    ]);
    const out = await answers(202);
    assert.equal(out.size, 202);
    for (const e of events.slice(0, 200)) {
      const a = out.get(e.key.toString());
      assert.ok(a && 'version' in a, JSON.stringify(a));
      assert.equal(a.version, v1.version);
      assert.equal(a.arm, 'champion');
      assert.match(a.id, PREDICTION_ID);
      assert.match(a.source, /^weather-in\/[01]\/\d+$/);
    }
    const bad = out.get('bad-json')!;
    assert.ok('refused' in bad && bad.refused[0].code === 'malformed');
    const hot = out.get('hot')!;
    assert.ok('refused' in hot, JSON.stringify(hot));
    assert.deepEqual(
      hot.refused.map((r) => [r.field, r.code]),
      [['temp_max', 'type']],
    );
    // an answered event is a served prediction: its decision record is found by the id the answer carries
    const first = out.get(events[0].key.toString()) as Extract<Answer, { version: number }>;
    const record = await eventually('the decision record', async () => {
      const r = await fetch(`${server.url}/v1/predictions/${first.id}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      return r.status === 200 ? ((await r.json()) as { version: number; input: Record<string, unknown> }) : undefined;
    });
    assert.equal(record.version, v1.version);
    assert.equal(record.input.date, events[0].row.date);
    // counted, and the lag measured, on the serving process's /metrics
    const metrics = await eventually('the lag measured', async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return /lumen_stream_consumer_lag\{[^}]*partition="0"\} 0/.test(text) ? text : undefined;
    });
    assert.match(
      metrics,
      /lumen_stream_events_total\{model="weather-score",topic="weather-in",outcome="answered"\} 200/,
    );
    assert.match(metrics, /lumen_stream_events_total\{model="weather-score",topic="weather-in",outcome="refused"\} 1/);
    assert.match(
      metrics,
      /lumen_stream_events_total\{model="weather-score",topic="weather-in",outcome="malformed"\} 1/,
    );
  });

  it('a canary takes its share by event key; a promotion swaps the version mid-stream', async function () {
    this.timeout(180_000);
    await t.deps.registry.setServingPolicy(
      spec.name,
      { canary: { version: v2.version, share: 0.5 }, shadow: null },
      'ana',
      'try v2 on half',
    );
    await server.host.sync();
    await produce(events.slice(200, 600));
    let out = await answers(602);
    const arms = events.slice(200, 600).map((e) => out.get(e.key.toString()) as Extract<Answer, { version: number }>);
    const canary = arms.filter((a) => a.arm === 'canary');
    assert.ok(canary.length > 120 && canary.length < 280, `${canary.length} of 400 on the canary`);
    assert.ok(canary.every((a) => a.version === v2.version));
    assert.ok(arms.filter((a) => a.arm === 'champion').every((a) => a.version === v1.version));
    await t.deps.registry.setServingPolicy(spec.name, { canary: null, shadow: null }, 'ana', 'done');
    await t.deps.registry.moveChampion({
      model: spec.name,
      to: v2.version,
      expectedChampion: v1.version,
      kind: 'promote',
      actor: 'test',
      reason: 'v2 is better',
      requestId: 'score-promote-v2',
      requireLoadCheck: true,
    });
    await server.host.sync();
    await produce(events.slice(600, 700));
    out = await answers(702);
    for (const e of events.slice(600, 700)) {
      const a = out.get(e.key.toString()) as Extract<Answer, { version: number }>;
      assert.equal(a.version, v2.version);
      assert.equal(a.arm, 'champion');
    }
  });

  it('labels come back from a topic, by prediction id, with the same checks as POST /v1/feedback', async function () {
    this.timeout(180_000);
    const conn = { brokers: [kafka.broker.bootstrap] };
    await ensureTopic(conn, 'weather-labels', 1);
    const labels = new StreamLabels(
      server.takeFeedback,
      conn,
      {
        topic: 'weather-labels',
        byKey: { model: spec.name, predictionOfKey: (model, key) => server.answerKeys.predictionOfKey(model, key) },
      },
      server.metrics,
    );
    await labels.start();
    try {
      const out = await answers(702);
      const answered = events
        .slice(0, 4)
        .map((e) => ({ event: e, answer: out.get(e.key.toString()) as Extract<Answer, { version: number }> }));
      const p = testProducer(kafka.broker.bootstrap);
      await p.send({
        messages: [
          // the id in the value, and the id as the key
          {
            topic: 'weather-labels',
            value: Buffer.from(
              JSON.stringify({ predictionId: answered[0].answer.id, label: answered[0].event.row.weather }),
            ),
          },
          {
            topic: 'weather-labels',
            key: Buffer.from(answered[1].answer.id),
            value: Buffer.from(JSON.stringify({ label: answered[1].event.row.weather })),
          },
          // a class the version never learned, an id never answered, a second different label, not JSON
          {
            topic: 'weather-labels',
            key: Buffer.from('hail'),
            value: Buffer.from(JSON.stringify({ predictionId: answered[2].answer.id, label: 'hail' })),
          },
          {
            topic: 'weather-labels',
            key: Buffer.from('never'),
            value: Buffer.from(JSON.stringify({ predictionId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', label: 'rain' })),
          },
          {
            topic: 'weather-labels',
            key: Buffer.from('again'),
            value: Buffer.from(
              JSON.stringify({
                predictionId: answered[0].answer.id,
                label: answered[0].event.row.weather === 'rain' ? 'sun' : 'rain',
              }),
            ),
          },
          { topic: 'weather-labels', key: Buffer.from('broken'), value: Buffer.from('{"label"') },
          // under the event's own key (the business key its producer gave it), and under one never answered
          {
            topic: 'weather-labels',
            key: answered[3].event.key,
            value: Buffer.from(JSON.stringify({ label: answered[3].event.row.weather })),
          },
          { topic: 'weather-labels', key: Buffer.from('nobody'), value: Buffer.from(JSON.stringify({ label: 'sun' })) },
        ],
      });
      await p.close();
      const dead = await readTopic(kafka.broker.bootstrap, 'weather-labels.dlq', 5);
      const why = new Map(dead.map((d) => [d.key, d.headers['lumen-problems']]));
      assert.match(why.get('hail')!, /hail/);
      assert.match(why.get('never')!, /not in the prediction log/);
      assert.match(why.get('again')!, /has the label .* already/);
      assert.match(why.get('broken')!, /not JSON/);
      assert.match(
        (JSON.parse(why.get('nobody')!) as { reason: string }[])[0].reason,
        /no event of weather-score was answered under the key "nobody"/,
      );
      assert.deepEqual(labels.current(), { accepted: 3, duplicates: 0, refused: 5, lastError: null });
      // the label stands on the prediction's decision record
      for (const { event, answer } of [answered[0], answered[1], answered[3]]) {
        const r = await fetch(`${server.url}/v1/predictions/${answer.id}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        const record = (await r.json()) as { feedback: { label: unknown } | null };
        assert.equal(record.feedback?.label, event.row.weather, JSON.stringify(record.feedback));
      }
    } finally {
      await labels.stop();
    }
  });

  it("the monitor sees how far the model's scorers are behind", async function () {
    this.timeout(120_000);
    const conn = { brokers: [kafka.broker.bootstrap] };
    const caughtUp = await eventually('the scorer caught up', async () => {
      const lag = await scoringLag(conn, spec.name);
      return lag.length === 1 && lag[0].lag === 0 ? lag : undefined;
    });
    assert.deepEqual(caughtUp, [{ group: scorer.group, topic: 'weather-in', lag: 0, partitions: 2 }]);
    // the scorer stops; events keep coming: they are the lag
    await scorer.stop();
    await produce(events.slice(700, 730));
    const behind = await scoringLag(conn, spec.name);
    assert.equal(behind[0].lag, 30);
    assert.deepEqual(await scoringLag(conn, 'another-model'), []);
  });
});
