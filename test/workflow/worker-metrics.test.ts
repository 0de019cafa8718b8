import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { startTrainingPipeline } from '../../client/pipeline';
import { parseModelSpec } from '../../lib/spec';
import { freePort, stopProcess } from '../../tools/devserver';
import { checkNowSignal, monitorWorkflowId } from '../../workflows/monitor-definitions';
import { eventually, tempHome, testClient, uniqueQueues, type TestHome } from '../support/env';
import { weather, weatherYear } from '../support/weather';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

/** One sample of a Prometheus text exposition: its value, found by name and labels. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/**
 * A worker process's own `/metrics` (`--metrics-port`, here LUMEN_METRICS_PORT): what a real pipeline run and a
 * monitor check leave there — activity durations by outcome, training's epochs and rows, the check's verdict.
 */
describe('worker metrics: a Prometheus endpoint per worker process', () => {
  let t: TestHome;
  let client: Client;
  let worker: WorkerProcess;
  let url: string;
  const queues = uniqueQueues();

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-worker-metrics-');
    client = await testClient();
    const port = await freePort();
    worker = spawnWorker(t.home, queues, 'pipeline,training', undefined, { LUMEN_METRICS_PORT: String(port) });
    url = await eventually('the metrics address', () =>
      Promise.resolve(/\[worker\] metrics at (\S+)/.exec(worker.output())?.[1]),
    );
    assert.equal(url, `http://127.0.0.1:${port}/metrics`);
    await eventually('the worker polls', () => Promise.resolve(/polling/.test(worker.output()) ? true : undefined));
  });
  after(async () => {
    await stopProcess(worker.child, 2000);
    await client.connection.close();
    t.cleanup();
  });

  it('counts activities by outcome, times epochs, adds up rows trained, and records a check and its verdict', async function () {
    this.timeout(300_000);
    const spec = parseModelSpec({ ...weather, name: 'weather-metrics', training: { ...weather.training, epochs: 6 } });
    const run = await startTrainingPipeline(
      client,
      spec,
      weatherYear(2012),
      { trainingTaskQueue: queues.training },
      queues.pipeline,
    );
    assert.equal((await run.handle.result()).outcome, 'promoted');
    const scrape = async () => (await fetch(url)).text();
    let text = await scrape();
    const trained = { queue: queues.training, activity: 'trainModel', outcome: 'completed' };
    assert.equal(sample(text, 'lumen_activity_duration_seconds_count', trained), 1);
    assert.ok(sample(text, 'lumen_activity_duration_seconds_sum', trained)! > 0);
    for (const activity of ['ingestDataset', 'validateDataset', 'registerModelVersion'])
      assert.equal(
        sample(text, 'lumen_activity_duration_seconds_count', {
          queue: queues.pipeline,
          activity,
          outcome: 'completed',
        }),
        1,
        activity,
      );
    assert.equal(sample(text, 'lumen_activities_running', { queue: queues.training, activity: 'trainModel' }), 0);
    assert.equal(sample(text, 'lumen_training_epoch_seconds_count', { model: spec.name }), 6, 'one per epoch');
    // 2012's rows less the holdout, six times
    const rows = sample(text, 'lumen_training_samples_total', { model: spec.name })!;
    assert.ok(rows > 6 * 200 && rows < 6 * 366, `rows trained: ${rows}`);
    // the process itself, as every Prometheus client reports it
    assert.ok(sample(text, 'process_resident_memory_bytes', {})! > 0);

    // a check asked of the model's monitor, which the promotion started
    await client.workflow
      .getHandle(monitorWorkflowId(spec.name))
      .signal(checkNowSignal, { by: 'test', reason: 'the metrics of a check', requestId: 'metrics-1' });
    text = await eventually('the check in the metrics', async () => {
      const now = await scrape();
      return sample(now, 'lumen_monitor_checks_total', { model: spec.name, verdict: 'healthy' }) !== undefined ||
        sample(now, 'lumen_monitor_checks_total', { model: spec.name, verdict: 'findings' }) !== undefined
        ? now
        : undefined;
    });
    assert.ok(
      (sample(text, 'lumen_activity_duration_seconds_count', {
        queue: queues.pipeline,
        activity: 'monitorCheck',
        outcome: 'completed',
      }) ?? 0) >= 1,
    );
    // anything but GET /metrics is refused
    const other = await fetch(url.replace('/metrics', '/'));
    assert.equal(other.status, 404);
  });
});
