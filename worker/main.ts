import { Command } from 'commander';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { describeAccess } from '../lib/access/policy';
import { keepFilesPrivate } from '../lib/config';
import { loadTf, preferSingleThreadedOps } from '../lib/model/tf';
import { clientConfig, taskQueues } from '../client/connection';
import { ensureSupervisor } from './temporal-ops';
import { LumenError } from '../lib/errors';
import { startTracing } from '../lib/telemetry';
import { workerLogFunction } from './log';
import { serveWorkerMetrics, WorkerMetrics } from './metrics';
import { createWorkers, defaultDeps, type QueueRole } from './workers';

/**
 * Worker process entry point.
 *   lumen-worker [--queues pipeline,training]
 * Connects as Temporal's environment configuration says (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*,
 * TEMPORAL_API_KEY, profile files: client/connection.ts); default the local dev server. State under LUMEN_HOME.
 */
async function run(): Promise<void> {
  keepFilesPrivate();
  const program = new Command()
    .option('--queues <roles>', 'comma-separated task queue roles: pipeline, training', 'pipeline,training')
    .option('--identity <name>', 'worker identity shown in the Web UI')
    .option('--pipeline-queue <name>', 'pipeline task queue (LUMEN_PIPELINE_QUEUE)', taskQueues().pipeline)
    .option('--training-queue <name>', 'training task queue (LUMEN_TRAINING_QUEUE)', taskQueues().training)
    .option('--verbose', 'log every field of every event (LUMEN_LOG_VERBOSE=1); default: one short line per event')
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at /metrics on this port (LUMEN_METRICS_PORT; 0: any free one); default: none',
      process.env.LUMEN_METRICS_PORT,
    )
    .option(
      '--metrics-host <address>',
      'address the metrics listen on (LUMEN_METRICS_HOST)',
      process.env.LUMEN_METRICS_HOST ?? '127.0.0.1',
    )
    .parse();
  const opts = program.opts<{
    queues: string;
    identity?: string;
    pipelineQueue: string;
    trainingQueue: string;
    verbose?: boolean;
    metricsPort?: string;
    metricsHost: string;
  }>();
  const roles = opts.queues.split(',').map((r) => r.trim());
  const metricsPort = opts.metricsPort === undefined || opts.metricsPort === '' ? null : Number(opts.metricsPort);
  if (metricsPort !== null && !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65535)) {
    throw new WorkerStartError(
      `--metrics-port (LUMEN_METRICS_PORT) must be a port number from 0 to 65535, got "${opts.metricsPort}"`,
    );
  }
  const unknown = roles.filter((r) => r !== 'pipeline' && r !== 'training');
  if (unknown.length) throw new Error(`unknown queue role(s) ${unknown.join(', ')} (expected pipeline, training)`);
  const verbose = opts.verbose === true || process.env.LUMEN_LOG_VERBOSE === '1';
  // activity spans, children of the trace their run carries, exported when OTEL_EXPORTER_OTLP_ENDPOINT is set
  const tracing = await startTracing('lumen-worker', { 'lumen.queues': roles.join(',') }).catch((err: unknown) => {
    throw new WorkerStartError(`cannot start tracing (OTEL_* settings): ${(err as Error).message}`);
  });
  Runtime.install({
    logger: new DefaultLogger(
      (process.env.LUMEN_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO',
      workerLogFunction(verbose),
    ),
  });
  if (roles.includes('training')) {
    preferSingleThreadedOps();
    const { backend } = await loadTf();
    console.log(
      `[worker] tfjs backend: ${backend}, ${process.env.TF_NUM_INTRAOP_THREADS} thread(s) per op (TF_NUM_INTRAOP_THREADS)`,
    );
  }
  const deps = await defaultDeps();
  // an access.json that does not parse stops the worker here, not at the first decision
  console.log(`[worker] ${describeAccess(deps.access!())}`);
  const config = clientConfig();
  const address = config.address;
  const connection = await NativeConnection.connect(config.connection).catch((err: unknown) => {
    // one line naming the address, never the transport's own stack
    throw new WorkerStartError(
      `cannot reach the Temporal server at ${address} (TEMPORAL_ADDRESS): ${firstLine(err)}. ` +
        'Start one with `./lumen server`, or point TEMPORAL_ADDRESS at yours.',
    );
  });
  const metrics = metricsPort === null ? undefined : new WorkerMetrics();
  const served = metrics
    ? await serveWorkerMetrics(metrics, metricsPort!, opts.metricsHost).catch((err: unknown) => {
        throw new WorkerStartError((err as Error).message);
      })
    : null;
  if (served) console.log(`[worker] metrics at ${served.url}`);
  const workers = await createWorkers({
    metrics,
    connection,
    namespace: config.namespace,
    roles: roles as QueueRole[],
    deps,
    identity: opts.identity,
    taskQueues: { pipeline: opts.pipelineQueue, training: opts.trainingQueue },
  });
  if (roles.includes('pipeline')) await ensureSupervisor(connection, config.namespace, opts.pipelineQueue);
  console.log(
    `[worker] pid ${process.pid} polling ${roles.join(', ')} on ${address} (${config.security}), namespace ${config.namespace}`,
  );
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await served?.close();
    await connection.close();
    await tracing?.shutdown();
  }
}

/** A start-up failure a person can act on: said in one line, exit code 4 (as the CLI's "could not run"). */
class WorkerStartError extends Error {}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // the transport's own words, without the Rust type names around them
  const inner =
    /message: "([^"]+)"/.exec(message)?.[1] ??
    /error trying to connect: ([^)"]+)/.exec(message)?.[1] ??
    /ConnectError\("([^"]+)"/.exec(message)?.[1] ??
    message.split('\n')[0];
  return inner.trim();
}

run().catch((err: unknown) => {
  if (err instanceof WorkerStartError || err instanceof LumenError) {
    console.error(`lumen worker: ${err.message}`);
    process.exit(4);
  }
  console.error(err);
  process.exit(1);
});
