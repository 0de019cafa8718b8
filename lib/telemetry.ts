/**
 * Traces, exported over OTLP/HTTP when OpenTelemetry's standard variables ask for it, and nothing otherwise:
 * OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns it on; OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none keeps it off; OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG),
 * OTEL_EXPORTER_OTLP_HEADERS and the batch processor's OTEL_BSP_* apply as OpenTelemetry defines them. Off, none of
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

/**
 * Start exporting this process's spans, if the environment asks for it (null otherwise). `service` names the
 * process when OTEL_SERVICE_NAME does not; `attributes` describe it (a worker's queues, say).
 */
export async function startTracing(service: string, attributes: Record<string, string> = {}): Promise<Tracing | null> {
  if (!tracingWanted()) return null;
  const [
    { NodeTracerProvider },
    { BatchSpanProcessor },
    { OTLPTraceExporter },
    { Resource, envDetectorSync },
    { setGlobalErrorHandler },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
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
