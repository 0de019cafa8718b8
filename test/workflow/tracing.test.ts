import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import otlpRoot from '@opentelemetry/otlp-transformer/build/src/generated/root';
import { freePort, stopProcess } from '../../tools/devserver';
import { cliEnv, exited, lumen, startUntil } from '../support/cli';
import { eventually, repoRoot, tempHome, testClient, uniqueQueues, type TestHome } from '../support/env';
import { monitorWorkflowId } from '../../workflows/monitor-definitions';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

/** One span as an OTLP/HTTP JSON export carries it, with the service that sent it. */
interface ReceivedSpan {
  service: string;
  /** the worker's queues (its resource's lumen.queues), '' for the command line */
  queues: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** how it was sent: protobuf (OTLP's default) or JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) */
  encoding: 'protobuf' | 'json';
}

/** An OTLP trace export, decoded: JSON as sent, or protobuf with its ids as hex, as JSON has them. */
interface TraceExport {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: Omit<ReceivedSpan, 'service' | 'queues'>[] }[];
  }[];
}

/** OTLP's protobuf message for a trace export, from the definitions OpenTelemetry's own exporter encodes with. */
const ExportTraceServiceRequest = (
  otlpRoot as unknown as {
    opentelemetry: {
      proto: {
        collector: {
          trace: {
            v1: {
              ExportTraceServiceRequest: {
                decode: (bytes: Uint8Array) => object;
                toObject: (message: object, options: { bytes: typeof String; defaults: boolean }) => TraceExport;
              };
            };
          };
        };
      };
    };
  }
).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

function decodeExport(contentType: string | undefined, body: Buffer): TraceExport {
  if (contentType === 'application/json') return JSON.parse(body.toString()) as TraceExport;
  assert.equal(contentType, 'application/x-protobuf', 'OTLP/HTTP sends JSON or protobuf');
  // protobuf carries ids as bytes: as base64 from toObject, made hex here
  const decoded = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), {
    bytes: String,
    defaults: false,
  });
  const hex = (b64: string | undefined): string => (b64 ? Buffer.from(b64, 'base64').toString('hex') : '');
  for (const r of decoded.resourceSpans) {
    for (const s of r.scopeSpans.flatMap((x) => x.spans)) {
      Object.assign(s, { traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId) });
    }
  }
  return decoded;
}

/**
 * A collector of its own: OTLP over HTTP, protobuf or JSON, as the OpenTelemetry exporters send it to
 * OTEL_EXPORTER_OTLP_ENDPOINT, every span kept with the encoding it came in.
 */
async function otlpReceiver(port = 0): Promise<{ url: string; spans: ReceivedSpan[]; close: () => Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const encoding = req.headers['content-type'] === 'application/json' ? 'json' : 'protobuf';
        const request = decodeExport(req.headers['content-type'], Buffer.concat(chunks));
        for (const r of request.resourceSpans) {
          const attribute = (key: string) => r.resource.attributes.find((a) => a.key === key)?.value.stringValue;
          const service = attribute('service.name') ?? '?';
          const queues = attribute('lumen.queues') ?? '';
          for (const s of r.scopeSpans.flatMap((x) => x.spans)) {
            spans.push({
              service,
              queues,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              encoding,
            });
          }
        }
      }
      // an empty answer means "all accepted", in either encoding
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The chain of names from a span up to its trace's root, through the spans received. */
function ancestry(span: ReceivedSpan, all: ReceivedSpan[]): string[] {
  const chain = [`${span.service}: ${span.name}`];
  let at = span;
  for (let parent = all.find((s) => s.spanId === at.parentSpanId); parent;) {
    chain.push(`${parent.service}: ${parent.name}`);
    at = parent;
    parent = all.find((s) => s.spanId === at.parentSpanId);
  }
  return chain;
}

/**
 * Traces across processes: `lumen start` in its own process, the pipeline on one worker process, training on
 * another, each exporting to a real OTLP/HTTP receiver when OTEL_EXPORTER_OTLP_ENDPOINT is set — and nothing
 * anywhere when it is not.
 */
describe('traces: one `lumen start` followed through its workflow and activities on two worker processes', () => {
  let t: TestHome;
  /**
   * The weather example under a name of this test's own: a run's id comes from its spec and data, and the other
   * suites on the same server train the example itself — `lumen start` would find their run, not start one.
   */
  let model: string;
  let weatherSpec: string;

  beforeEach(() => {
    t = tempHome('lumen-trace-');
    model = `weather-traced-${randomUUID().slice(0, 8)}`;
    const spec = JSON.parse(
      fs.readFileSync(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'), 'utf8'),
    ) as { name: string };
    weatherSpec = path.join(t.home, `${model}.json`);
    fs.writeFileSync(weatherSpec, JSON.stringify({ ...spec, name: model }));
  });
  afterEach(() => t.cleanup());

  it('the command, the run and every activity share one trace, each span a child of what started it', async function () {
    this.timeout(300_000);
    const receiver = await otlpReceiver();
    const queues = uniqueQueues();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
    const workers: WorkerProcess[] = [
      spawnWorker(t.home, queues, 'pipeline', undefined, otel),
      spawnWorker(t.home, queues, 'training', undefined, otel),
    ];
    try {
      for (const w of workers) {
        await eventually('the worker polls', () => Promise.resolve(/polling/.test(w.output()) ? true : undefined));
      }
      const ran = await lumen(
        ['start', weatherSpec, '--source', 'vega-datasets:seattle-weather.csv'],
        { ...cliEnv(t.home, queues), ...otel },
        240_000,
      );
      assert.ok(ran.code === 0 || ran.code === 3, `lumen start exited ${ran.code}: ${ran.stderr}`);
      // the workers export in batches (OpenTelemetry's default: every 5 s)
      const root = await eventually('the command span', () =>
        Promise.resolve(receiver.spans.find((s) => s.service === 'lumen-cli' && s.name === 'lumen start')),
      );
      assert.equal(root.parentSpanId, '', 'the command is the root of its trace');
      const trace = () => receiver.spans.filter((s) => s.traceId === root.traceId);
      const run = (name: string) => trace().find((s) => s.service === 'lumen-worker' && s.name === name);
      const train = await eventually('the training activity in the trace', () =>
        Promise.resolve(run('RunActivity:trainModel')),
      );
      const ingest = run('RunActivity:ingestDataset');
      assert.ok(
        ingest,
        `ingest in the trace; it has: ${trace()
          .map((s) => s.name)
          .join(', ')}`,
      );
      const start = trace().find((s) => s.service === 'lumen-cli' && s.name.startsWith('StartWorkflow:'));
      assert.ok(start, 'the client span that started the run');
      assert.equal(start.parentSpanId, root.spanId);
      // each activity, on whichever worker ran it, is a child of the run's start, which is the command's child
      for (const activity of [ingest, train]) {
        assert.deepEqual(ancestry(activity, trace()).slice(1), [`lumen-cli: ${start.name}`, 'lumen-cli: lumen start']);
      }
      // …from two processes: training on the training worker, the rest on the pipeline worker
      assert.equal(train.queues, 'training');
      assert.equal(ingest.queues, 'pipeline');
      // every step of the pipeline is there, on whichever worker ran it
      const names = new Set(trace().map((s) => s.name));
      for (const step of [
        'ingestDataset',
        'validateDataset',
        'trainModel',
        'evaluateCandidate',
        'registerModelVersion',
      ])
        assert.ok(names.has(`RunActivity:${step}`), `${step} in the trace; it has: ${[...names].join(', ')}`);
      // a monitor started from the command line checks on traces of its own: a run that lives for months would
      // otherwise grow the command's trace for ever
      const client = await testClient();
      try {
        await client.workflow.getHandle(monitorWorkflowId(model)).terminate('started again by the test');
      } finally {
        await client.connection.close();
      }
      const checksBefore = receiver.spans.filter((s) => s.name === 'RunActivity:monitorCheck').length;
      const started = await lumen(['monitor', 'start', model], { ...cliEnv(t.home, queues), ...otel });
      assert.equal(started.code, 0, started.stderr);
      const command = await eventually('the monitor start command span', () =>
        Promise.resolve(receiver.spans.find((s) => s.service === 'lumen-cli' && s.name === 'lumen monitor')),
      );
      const check = await eventually('the check it asked for', () =>
        Promise.resolve(receiver.spans.filter((s) => s.name === 'RunActivity:monitorCheck')[checksBefore]),
      );
      assert.notEqual(check.traceId, command.traceId, 'the monitor is not in the trace of the command that started it');
      assert.notEqual(check.traceId, root.traceId);

      // a served prediction, in the trace of the caller that sent `traceparent`, step by step
      const port = await freePort();
      // this process sends JSON, as OTEL_EXPORTER_OTLP_PROTOCOL asks; the others sent OTLP's default, protobuf
      const serve = await startUntil(
        ['serve', '--port', String(port)],
        { ...cliEnv(t.home, queues), ...otel, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
        /predictions logged to/,
        60_000,
      );
      try {
        const callerTrace = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
        const callerSpan = '0123456789abcdef';
        const res = await fetch(`http://127.0.0.1:${port}/v1/models/${model}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', traceparent: `00-${callerTrace}-${callerSpan}-01` },
          body: JSON.stringify({ date: '2015-06-01', precipitation: 0, temp_max: 25, temp_min: 14, wind: 3 }),
        });
        assert.equal(res.status, 200);
        const id = ((await res.json()) as { predictions: { id: string }[] }).predictions[0].id;
        const request = await eventually('the request span', () =>
          Promise.resolve(receiver.spans.find((s) => s.name === 'POST /v1/models/{model}/predict')),
        );
        assert.deepEqual(
          [request.service, request.traceId, request.parentSpanId, request.encoding],
          ['lumen-serve', callerTrace, callerSpan, 'json'],
        );
        assert.deepEqual(
          [...new Set(receiver.spans.filter((s) => s.service !== 'lumen-serve').map((s) => s.encoding))],
          ['protobuf'],
          'the command line and the workers send protobuf unless told otherwise',
        );
        const steps = await eventually('its steps', () => {
          const found = receiver.spans.filter((s) => s.parentSpanId === request.spanId).map((s) => s.name);
          return Promise.resolve(found.length === 5 ? found.sort() : undefined);
        });
        assert.deepEqual(steps, ['batch wait', 'checks', 'log append', 'model call', 'parse']);
        // the prediction's decision record names the trace
        const explained = await eventually('the decision record', async () => {
          const r = await lumen(['explain', id], cliEnv(t.home, queues));
          return r.code === 0 ? r.stdout : undefined;
        });
        assert.match(explained, new RegExp(`trace\\s+${callerTrace}`));
      } finally {
        serve.child.kill('SIGINT');
        await exited(serve.child);
      }
    } finally {
      await Promise.all(workers.map((w) => stopProcess(w.child)));
      await receiver.close();
    }
  });

  it('with the variables unset, nothing is sent, not even to the default collector address', async function () {
    this.timeout(300_000);
    // OpenTelemetry's exporters default to localhost:4318: a receiver there would see anything sent by default
    let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
    try {
      receiver = await otlpReceiver(4318);
    } catch (err) {
      assert.fail(`port 4318 (OTLP's default) is taken on this machine: ${(err as Error).message}`);
    }
    const queues = uniqueQueues();
    const worker = spawnWorker(t.home, queues, 'pipeline,training');
    try {
      await eventually('the worker polls', () => Promise.resolve(/polling/.test(worker.output()) ? true : undefined));
      const ran = await lumen(
        ['start', weatherSpec, '--source', 'vega-datasets:seattle-weather.csv'],
        cliEnv(t.home, queues),
        240_000,
      );
      assert.ok(ran.code === 0 || ran.code === 3, `lumen start exited ${ran.code}: ${ran.stderr}`);
      // longer than the batch exporter's delay
      await new Promise((r) => setTimeout(r, 7000));
      assert.deepEqual(receiver.spans, []);
    } finally {
      await stopProcess(worker.child);
      await receiver.close();
    }
  });
});
