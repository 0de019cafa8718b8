/**
 * Traces, exported over OTLP/HTTP when OpenTelemetry's standard variables ask for it, and nothing otherwise:
 * OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns it on; OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none keeps it off; OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG),
 * OTEL_EXPORTER_OTLP_HEADERS and the batch processor's OTEL_BSP_* apply as OpenTelemetry defines them, and
 * OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL chooses http/protobuf (OpenTelemetry's default) or http/json. Off, none of
 * the SDK is loaded: the API's no-op tracer answers every span for nothing.
 */
export interface Tracing {
  /**
   * Export what is still buffered, then stop: never fails, and never waits more than a few seconds for a collector
   * that does not answer (what could not be sent is said on stderr).
   */
  shutdown(): Promise<void>;
}

/** How long stopping waits for the last spans to leave. */
const SHUTDOWN_MS = 3000;

let active = false;

/** Whether this process exports traces (startTracing turned them on): what is traced only then asks this first. */
export function tracingActive(): boolean {
  return active;
}

/** Whether the environment asks for traces (see above). */
export function tracingWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER?.split(',').some((e) => e.trim() === 'none')) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/** The OTLP encodings Lumen sends, by the names OTEL_EXPORTER_OTLP_PROTOCOL gives them. */
export type TracesProtocol = 'http/protobuf' | 'http/json';

/**
 * The protocol the environment asks for (the traces' own variable first); an unknown or unsupported one is an error
 * that says what is supported, never a silent fallback to another.
 */
export function tracesProtocol(env: NodeJS.ProcessEnv = process.env): TracesProtocol {
  const [name, value] = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim()
    ? ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL.trim()]
    : ['OTEL_EXPORTER_OTLP_PROTOCOL', env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() || 'http/protobuf'];
  if (value === 'http/protobuf' || value === 'http/json') return value;
  if (value === 'grpc') {
    throw new Error(
      `${name}=grpc: Lumen sends OTLP over HTTP only; use http/protobuf (or http/json) and the collector's HTTP port (4318)`,
    );
  }
  throw new Error(`${name}="${value}": expected http/protobuf or http/json`);
}

/**
 * Start exporting this process's spans, if the environment asks for it (null otherwise). `service` names the
 * process when OTEL_SERVICE_NAME does not; `attributes` describe it (a worker's queues, say).
 */
export async function startTracing(service: string, attributes: Record<string, string> = {}): Promise<Tracing | null> {
  if (!tracingWanted()) return null;
  const protocol = tracesProtocol();
  const [
    { NodeTracerProvider },
    { BatchSpanProcessor },
    { OTLPTraceExporter },
    { Resource, envDetectorSync },
    { setGlobalErrorHandler },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    protocol === 'http/json'
      ? import('@opentelemetry/exporter-trace-otlp-http')
      : import('@opentelemetry/exporter-trace-otlp-proto'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  // a collector that is away is said, once a minute at most, never silently and never at every batch
  let saidAt = -Infinity;
  setGlobalErrorHandler((err) => {
    if (Date.now() - saidAt < 60_000) return;
    saidAt = Date.now();
    const message = err instanceof Error ? err.message : JSON.stringify(err);
    console.error(`[lumen] traces not exported (${service}): ${message}`);
  });
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read as OpenTelemetry reads them, say last
  const resource = Resource.default()
    .merge(new Resource({ 'service.name': service, ...attributes }))
    .merge(envDetectorSync.detect());
  const processor = new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // the global tracer, W3C trace-context propagation and a context that follows async calls
  provider.register();
  active = true;
  const say = (why: string): void => console.error(`[lumen] traces not exported (${service}): ${why}`);
  return {
    shutdown: async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`the collector did not answer within ${SHUTDOWN_MS / 1000} s`), SHUTDOWN_MS);
      });
      const why = await Promise.race([
        provider.shutdown().then(
          () => null,
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        ),
        late,
      ]);
      clearTimeout(timer);
      if (why) say(why);
    },
  };
}

/**
 * Where a trace opens in the operator's tracing UI: LUMEN_TRACE_URL, a URL with `{traceId}` where the id goes
 * (Jaeger: `http://jaeger:16686/trace/{traceId}`). Null when unset; a template that is not an http(s) URL with the
 * placeholder is an error that says so.
 */
export function traceUrlTemplate(env: NodeJS.ProcessEnv = process.env): string | null {
  const template = env.LUMEN_TRACE_URL?.trim();
  if (!template) return null;
  if (!template.includes('{traceId}')) {
    throw new Error(`LUMEN_TRACE_URL="${template}" has no {traceId}: write where the trace id goes in the link`);
  }
  let url: URL;
  try {
    url = new URL(template.replaceAll('{traceId}', '0'));
  } catch {
    throw new Error(`LUMEN_TRACE_URL="${template}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`LUMEN_TRACE_URL="${template}" is not an http(s) link`);
  }
  return template;
}

/** A trace's link by the template (traceUrlTemplate), or null without one. */
export function traceLink(template: string | null, traceId: string): string | null {
  return template === null ? null : template.replaceAll('{traceId}', encodeURIComponent(traceId));
}
