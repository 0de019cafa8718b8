import assert from 'node:assert/strict';
import path from 'node:path';
import { propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { monitorPaths } from '../../activities/monitor';
import { formatRecord } from '../../cli/explain-command';
import { decisionRecord } from '../../lib/serving/decision-record';
import { checkHealth } from '../../lib/monitor/health';
import { MonitorPolicy } from '../../lib/monitor/policy';
import type { HealthReport } from '../../lib/monitor/report';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { startServer, type RunningServer } from '../../serve/server';
import { repoRoot, tempHome, type TestHome } from '../support/env';
import { testServeOptions, trainAndRegister } from '../support/serving';

/**
 * A monitor finding points to the traces of the requests it is about: a server that traces its predictions keeps
 * each request's trace id in the log, and a health check of that log names the slowest traced requests under a
 * latency finding, the first with unusual inputs under an unusual-inputs finding, the first refused under a
 * refused-rows finding — the callers' own traces, continued from their `traceparent`.
 */
const TOKEN = 'test-traces-token';
const weather = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
const spec = parseModelSpec({
  ...weather,
  name: 'weather-traced-findings',
  training: { ...weather.training, epochs: 5 },
});

describe('serving: monitor findings name the traces of the requests they are about', () => {
  let t: TestHome;
  let server: RunningServer;
  const exporter = new InMemorySpanExporter();

  before(async () => {
    t = tempHome('lumen-traced-findings-');
    await trainAndRegister(
      t.deps,
      spec,
      { uri: 'vega-datasets:seattle-weather.csv', window: { column: 'date', start: '2012-01-01', end: '2013-01-01' } },
      { champion: true, workflowId: 'w-traced-findings' },
    );
    // this process's tracing, as startTracing sets it up, with the spans kept in memory; a request is traced when its
    // caller traces it (OTEL_TRACES_SAMPLER=parentbased_always_off), so some requests here are not
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({
        sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }),
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      }),
    );
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    server = await startServer(
      t.deps,
      testServeOptions(t.home, TOKEN, { tracing: true, traceUrl: 'http://jaeger.test:16686/trace/{traceId}' }),
    );
  });
  after(async () => {
    await server?.close();
    trace.disable();
    propagation.disable();
    t.cleanup();
  });

  /** One request in the caller's trace `n` (or in none), from its span `span`: its status and prediction ids. */
  const predict = async (rows: object[], n: number | null, span = n): Promise<{ status: number; ids: string[] }> => {
    const res = await fetch(`${server.url}/v1/models/${spec.name}/predict`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(n === null ? {} : { traceparent: `00-${traceOf(n)}-00000000000000a${span}-01` }),
      },
      body: JSON.stringify(rows),
    });
    const body = (await res.json()) as { predictions?: { id: string }[] };
    return { status: res.status, ids: (body.predictions ?? []).map((p) => p.id) };
  };
  const traceOf = (n: number): string => `${String(n).repeat(8).slice(0, 8)}${'0'.repeat(23)}${n}`;

  it('latency, unusual inputs and refused rows each name traced requests, one per trace, never an untraced one', async () => {
    const from = new Date().toISOString();
    const row = { date: '2014-06-01', precipitation: 0, temp_max: 22, temp_min: 13, wind: 3 };
    // trace 2: a caller sending two requests from two spans of one trace, one of them of forty rows
    const answered = [
      await predict([row], 1),
      await predict([row, row], 2),
      await predict(
        Array.from({ length: 40 }, () => row),
        2,
        5,
      ),
    ];
    // far outside what the champion was trained on: answered, with a flag
    const unusual = await predict([{ ...row, wind: 90 }], 3);
    // a number where the contract wants a number, given as words: refused
    const refused = await predict([{ ...row, precipitation: 'a lot' }], 4);
    const untraced = [await predict([{ ...row, wind: 95 }], null), await predict([{ ...row, wind: 'x' }], null)];
    assert.deepEqual(
      [...answered, unusual, ...untraced].map((r) => r.status),
      [200, 200, 200, 200, 200, 400],
    );
    assert.equal(refused.status, 400);
    await server.log!.flush();

    const policy = MonitorPolicy.parse({
      minPredictions: 1,
      latency: { p99Ms: 0.000001 },
      unusual: { maxRate: 0.01 },
      refused: { maxRate: 0.01 },
    });
    const report: HealthReport = await checkHealth(t.deps.registry, t.deps.store, monitorPaths(t.deps), {
      model: spec.name,
      from,
      to: new Date(Date.now() + 1000).toISOString(),
      policy,
      previousUnusualRates: [],
    });
    assert.ok(report.traces, 'the log kept trace ids');
    const traces = (list: { trace: string }[]) => list.map((x) => x.trace).sort();
    assert.deepEqual(traces(report.traces.slowest), [traceOf(1), traceOf(2), traceOf(3)].sort());
    assert.deepEqual(report.traces.unusual, [{ trace: traceOf(3), prediction: unusual.ids[0] }]);
    assert.deepEqual(traces(report.traces.refused), [traceOf(4)]);
    // the two requests of trace 2 are one example, named by the slowest of their predictions
    const two = report.traces.slowest.find((x) => x.trace === traceOf(2))!;
    const logRoot = path.join(t.home, 'predictions');
    const latency = async (id: string) =>
      (await decisionRecord({ store: t.deps.store, registry: t.deps.registry, logRoot, feedback: null }, id))!
        .latencyMs;
    const ofTrace2 = [...answered[1].ids, ...answered[2].ids];
    const latencies = await Promise.all(ofTrace2.map(latency));
    assert.equal(await latency(two.prediction), Math.max(...latencies));
    assert.ok(ofTrace2.includes(two.prediction));

    const finding = (kind: string) => report.findings.find((f) => f.kind === kind);
    assert.deepEqual(finding('latency')?.traces, report.traces.slowest);
    assert.deepEqual(finding('unusual-inputs')?.traces, report.traces.unusual);
    assert.deepEqual(finding('refused-rows')?.traces, report.traces.refused);
    // a prediction's decision record leads to its trace: on the console's page, linked to the tracing UI; in `lumen
    // explain`; and not for a request nobody traced
    const page = await (await fetch(`${server.url}/ui/predictions/${unusual.ids[0]}`)).text();
    assert.ok(
      page.includes(
        `<th>trace</th><td><a href="http://jaeger.test:16686/trace/${traceOf(3)}"><code>${traceOf(3)}</code> ↗</a>`,
      ),
      page,
    );
    const record = (await decisionRecord(
      { store: t.deps.store, registry: t.deps.registry, logRoot: path.join(t.home, 'predictions'), feedback: null },
      unusual.ids[0],
    ))!;
    assert.match(
      formatRecord(record, 'https://tempo.test/{traceId}'),
      new RegExp(`trace\\s+${traceOf(3)}  https://tempo.test/${traceOf(3)}\n`),
    );
    const bare = await (await fetch(`${server.url}/ui/predictions/${untraced[0].ids[0]}`)).text();
    assert.ok(bare.includes('<th>output</th>') && !bare.includes('<th>trace</th>'), bare);
    // an action the finding caused carries its traces: the model page links them
    await t.deps.registry.recordMonitorAction({
      model: spec.name,
      kind: 'alert',
      trigger: 'auto',
      by: 'monitor',
      reason: finding('latency')!.summary,
      evidence: { finding: 'latency', traces: finding('latency')!.traces },
      result: { outcome: 'incident opened' },
      workflowId: null,
      key: `traced-findings:${report.at}`,
    });
    const modelPage = await (await fetch(`${server.url}/ui/models/${spec.name}`)).text();
    for (const x of report.traces.slowest) {
      assert.ok(modelPage.includes(`href="http://jaeger.test:16686/trace/${x.trace}"`), `${x.trace} on the model page`);
    }
    // and the spans the server made are the callers' traces
    const served = exporter.getFinishedSpans().filter((s) => s.name === 'POST /v1/models/{model}/predict');
    assert.deepEqual(served.map((s) => s.spanContext().traceId).sort(), [1, 2, 2, 3, 4].map(traceOf).sort());
  });
});
