import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PredictionLog } from '../lib/serving/prediction-log';

/** What `GET /metrics` reports, in Prometheus' text format. */
export class ServingMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'lumen_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly latency = new Histogram({
    name: 'lumen_predict_latency_seconds',
    help: 'Time to answer a predict request, by model, version and arm',
    labelNames: ['model', 'version', 'arm'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly rows = new Counter({
    name: 'lumen_predicted_rows_total',
    help: 'Rows predicted, by model, version and arm',
    labelNames: ['model', 'version', 'arm'] as const,
    registers: [this.registry],
  });

  readonly refusedRows = new Counter({
    name: 'lumen_refused_rows_total',
    help: 'Rows refused for breaking the contract, by model and reason code',
    labelNames: ['model', 'code'] as const,
    registers: [this.registry],
  });

  readonly flags = new Counter({
    name: 'lumen_unusual_inputs_total',
    help: 'Inputs predicted but flagged (unknown category, out of range, missing), by model and flag',
    labelNames: ['model', 'code'] as const,
    registers: [this.registry],
  });

  readonly batchRows = new Histogram({
    name: 'lumen_batch_rows',
    help: 'Rows per model call (micro-batch size)',
    labelNames: ['model', 'version'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });

  readonly queueWait = new Histogram({
    name: 'lumen_batch_queue_wait_seconds',
    help: 'Time a request waited for its micro-batch to run',
    labelNames: ['model', 'version'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
    registers: [this.registry],
  });

  readonly throttled = new Counter({
    name: 'lumen_throttled_requests_total',
    help: 'Requests refused with 429 before any work, by reason (client-rate-limit: one client over --rate-limit)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly served = new Gauge({
    name: 'lumen_served_version',
    help: 'The version each arm of each model serves',
    labelNames: ['model', 'arm'] as const,
    registers: [this.registry],
  });

  readonly explainWaiting = new Gauge({
    name: 'lumen_explain_rows_waiting',
    help: "Rows waiting to be explained (or being explained) by each model's champion; a request beyond 200 gets 503",
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  readonly streamEvents = new Counter({
    name: 'lumen_stream_events_total',
    help: 'Events scored from a Kafka topic (lumen stream score), by outcome: answered, refused (by the contract), malformed',
    labelNames: ['model', 'topic', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly streamLag = new Gauge({
    name: 'lumen_stream_consumer_lag',
    help: 'Events of a scored topic not yet answered, per partition (its end offset minus the next to score)',
    labelNames: ['model', 'topic', 'partition'] as const,
    registers: [this.registry],
  });

  readonly streamLabels = new Counter({
    name: 'lumen_stream_labels_total',
    help: 'Labels read from a Kafka topic, by outcome: accepted, duplicate, refused (to its dead-letter topic, with why)',
    labelNames: ['topic', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor(log: PredictionLog | null) {
    new Gauge({
      name: 'lumen_prediction_log_pending',
      help: 'Prediction log records written ahead, not yet in a segment',
      registers: [this.registry],
      collect() {
        this.set(log?.current().pending ?? 0);
      },
    });
    // the log counts these itself, since the process started; each scrape adds what it counted since the last
    const counts = [
      ['dropped', 'Prediction log records it could not write ahead (their requests were refused with 503)'],
      ['written', 'Prediction log records written into segments'],
      ['failedFlushes', 'Write-ahead files that could not become segments yet (kept and tried again)'],
      ['recovered', 'Records written ahead by processes that died, turned into segments by this one'],
      ['mergedSegments', 'Prediction log segments merged into hourly files'],
      ['failedMerges', 'Prediction log merges that failed (the segments stay and are read as they are)'],
    ] as const;
    for (const [key, help] of counts) {
      let counted = 0;
      new Counter({
        name: `lumen_prediction_log_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`,
        help,
        registers: [this.registry],
        collect() {
          const now = log?.current()[key] ?? 0;
          if (now > counted) this.inc(now - counted);
          counted = Math.max(counted, now);
        },
      });
    }
  }
}
