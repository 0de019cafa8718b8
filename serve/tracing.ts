import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { RequestTrace } from '../lib/serving/host';

/** When a request reached the server (performance.now()), noted on the request itself. */
const ARRIVED = Symbol('lumen.arrived');
type ArrivedRequest = IncomingMessage & { [ARRIVED]?: number };

/**
 * Note each request's arrival, before the framework reads its body: the HTTP server's first listener, cheaper than a
 * framework hook and a map (measured on bench:serve).
 */
export function noteArrivals(server: Server): void {
  server.prependListener('request', (raw: IncomingMessage) => {
    (raw as ArrivedRequest)[ARRIVED] = performance.now();
  });
}

/** When the request arrived, as noteArrivals noted it (now, for a server that does not note them). */
export function arrivedAt(raw: IncomingMessage): number {
  return (raw as ArrivedRequest)[ARRIVED] ?? performance.now();
}

/**
 * The serving process's tracer, and the headers its propagators read (W3C `traceparent`, or what OTEL_PROPAGATORS
 * chose), asked for once per registered provider (a process registers one).
 */
let tracer: { of: TracerProvider; tracer: Tracer; fields: string[] } | undefined;

function serveTracer(): { tracer: Tracer; fields: string[] } {
  const provider = trace.getTracerProvider();
  if (tracer?.of !== provider) {
    tracer = { of: provider, tracer: provider.getTracer('lumen-serve'), fields: propagation.fields() };
  }
  return tracer;
}

/**
 * A predict request's trace (lib/telemetry.ts; only when tracing is on): one server span from the moment the request
 * arrived, continuing the caller's trace when it sends W3C `traceparent`, never the serving process's own context,
 * with a child for each step the request took — parse, checks, the wait for its micro-batch, the model call (the
 * batch's, shared with the requests batched with it) and the log's write ahead. The steps are measured by the host
 * as the request goes (RequestTrace) and become spans once it is answered, so nothing is added on the way. A request
 * the sampler leaves out costs its span's ids and the sampler's decision, nothing more: attributes are only made for
 * a span that records (the samplers OTEL_TRACES_SAMPLER chooses from decide by trace id and parent, never by
 * attributes).
 */
export async function tracedPredict<T>(
  headers: IncomingHttpHeaders,
  model: string,
  /** performance.now() when the request arrived */
  receivedAt: number,
  answer: (trace: RequestTrace) => Promise<T>,
  describe: (answered: T) => { version: number; arm: string; rows: number },
): Promise<T> {
  const { tracer: spans, fields } = serveTracer();
  // most requests carry none of the propagators' headers: nothing to read
  const parent = fields.some((f) => headers[f] !== undefined)
    ? propagation.extract(ROOT_CONTEXT, headers)
    : ROOT_CONTEXT;
  const span = spans.startSpan(
    'POST /v1/models/{model}/predict',
    { kind: SpanKind.SERVER, startTime: receivedAt },
    parent,
  );
  const handled = performance.now();
  const recording = span.isRecording();
  const sampled = (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0;
  const request: RequestTrace = { traceId: sampled ? span.spanContext().traceId : '', marks: {} };
  if (recording) {
    span.setAttributes({
      'http.request.method': 'POST',
      'http.route': '/v1/models/:model/predict',
      'lumen.model': model,
    });
  }
  try {
    const answered = await answer(request);
    if (recording) {
      const { version, arm, rows } = describe(answered);
      span.setAttributes({
        'lumen.version': version,
        'lumen.arm': arm,
        'lumen.rows': rows,
        'http.response.status_code': 200,
      });
    }
    return answered;
  } catch (err) {
    // HttpError's status (400 bad rows, 404, 413, 503 …); anything else is the server's own failure
    const e = err as { status?: number; statusCode?: number };
    const status = e.status ?? e.statusCode ?? 500;
    if (recording) span.setAttribute('http.response.status_code', status);
    // a refused request is the caller's error, not the server's (OpenTelemetry's rule for server spans)
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    if (recording) {
      const inside = trace.setSpan(parent, span);
      const m = request.marks;
      const step = (name: string, from: number | undefined, to: number | undefined, attributes = {}): void => {
        if (from === undefined || to === undefined) return;
        spans.startSpan(name, { startTime: from, attributes }, inside).end(to);
      };
      step('parse', receivedAt, handled);
      step('checks', handled, m.checked);
      step('batch wait', m.checked, m.ran);
      step('model call', m.ran, m.done, m.rows === undefined ? {} : { 'lumen.batch_rows': m.rows });
      step('log append', m.done ?? m.checked, m.logged);
    }
    span.end();
  }
}
