import http from 'node:http';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Finding } from '../lib/monitor/report';
import type { EpochStats } from '../lib/model/trainer';

/**
 * What a worker process measures, in Prometheus' text format at its own `/metrics` (`--metrics-port`): how long each
 * activity took and how it ended, how many run now, training's epochs and throughput, and the monitors' checks and
 * what they found. The dashboards in deploy/grafana read these names (test/unit/dashboards.test.ts holds them to it).
 */
export class WorkerMetrics {
  readonly registry = new Registry();

  readonly activityDuration = new Histogram({
    name: 'lumen_activity_duration_seconds',
    help: 'Time an activity attempt took, by task queue, activity and outcome (completed, failed, cancelled)',
    labelNames: ['queue', 'activity', 'outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });

  readonly activitiesRunning = new Gauge({
    name: 'lumen_activities_running',
    help: 'Activity attempts running now, by task queue and activity',
    labelNames: ['queue', 'activity'] as const,
    registers: [this.registry],
  });

  readonly epochSeconds = new Histogram({
    name: 'lumen_training_epoch_seconds',
    help: 'Time one training epoch took, by model',
    labelNames: ['model'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });

  readonly trainedSamples = new Counter({
    name: 'lumen_training_samples_total',
    help: 'Rows trained on, summed over epochs, by model (its rate is training throughput)',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  readonly monitorChecks = new Counter({
    name: 'lumen_monitor_checks_total',
    help: "Monitor health checks, by model and verdict (healthy: nothing found; findings: the policy's limits crossed)",
    labelNames: ['model', 'verdict'] as const,
    registers: [this.registry],
  });

  readonly monitorFindings = new Counter({
    name: 'lumen_monitor_findings_total',
    help: 'What monitor checks found, by model, kind and the action the policy asks for (alert, retrain, rollback)',
    labelNames: ['model', 'kind', 'action'] as const,
    registers: [this.registry],
  });

  readonly monitorActions = new Counter({
    name: 'lumen_monitor_actions_total',
    help: 'Alerts, retrains and rollbacks monitors recorded, by model, kind and trigger (auto: the policy; manual: a person); an attempt retried after its recording counts again',
    labelNames: ['model', 'kind', 'trigger'] as const,
    registers: [this.registry],
  });

  constructor() {
    // the process itself: CPU, memory, event-loop lag, open handles
    collectDefaultMetrics({ register: this.registry });
  }

  /** One finished epoch of a model's training. */
  epoch(model: string, stats: EpochStats): void {
    this.epochSeconds.observe({ model }, stats.seconds);
    this.trainedSamples.inc({ model }, Math.round(stats.seconds * stats.samplesPerSecond));
  }

  /** One monitor check and what it found. */
  monitorChecked(model: string, findings: readonly Finding[]): void {
    this.monitorChecks.inc({ model, verdict: findings.length ? 'findings' : 'healthy' });
    for (const f of findings) this.monitorFindings.inc({ model, kind: f.kind, action: f.action });
  }

  /** One action a monitor took. */
  monitorAction(model: string, kind: string, trigger: string): void {
    this.monitorActions.inc({ model, kind, trigger });
  }

  /** Times every activity attempt of a worker polling `queue`. */
  activities(queue: string): ActivityInterceptorsFactory {
    return (ctx) => ({
      inbound: {
        execute: async (input, next) => {
          const labels = { queue, activity: ctx.info.activityType };
          const started = performance.now();
          this.activitiesRunning.inc(labels);
          let outcome = 'failed';
          try {
            const result = await next(input);
            outcome = 'completed';
            return result;
          } catch (err) {
            if (ctx.cancellationSignal.aborted) outcome = 'cancelled';
            throw err;
          } finally {
            this.activitiesRunning.dec(labels);
            this.activityDuration.observe({ ...labels, outcome }, (performance.now() - started) / 1000);
          }
        },
      },
    });
  }
}

/**
 * `/metrics` of a worker on `host:port` (port 0: any free one), for Prometheus to scrape. Anything else is 404.
 * Resolves once listening, with the address it listens on.
 */
export async function serveWorkerMetrics(
  metrics: WorkerMetrics,
  port: number,
  host: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: a worker serves only GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot serve worker metrics on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`,
        ),
      ),
    );
    server.listen(port, host, resolve);
  });
  // listening: a later error of the metrics server (a refused accept, say) is said, never the worker's end
  server.on('error', (err) => console.error(`[worker] metrics at ${host}:${port}: ${err.message}`));
  const address = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
