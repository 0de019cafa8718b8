import assert from 'node:assert/strict';
import type { Context } from '@temporalio/activity';
import type { ActivityExecuteInput } from '@temporalio/worker';
import { monitorActivities } from '../../activities/monitor';
import { WorkerMetrics } from '../../worker/metrics';
import { tempHome } from '../support/env';

/** The value of one sample of a registry's exposition, by name and labels. */
async function value(
  metrics: WorkerMetrics,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const json = await metrics.registry.getMetricsAsJSON();
  const metric = json.find((m) => m.name === name.replace(/_(count|sum)$/, '')) as
    { values: { value: number; labels: Record<string, string | number>; metricName?: string }[] } | undefined;
  const found = metric?.values.find(
    (v) => (v.metricName ?? name) === name && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  return found?.value;
}

describe('worker metrics', () => {
  const run = (metrics: WorkerMetrics, aborted: boolean, next: () => Promise<unknown>) => {
    const controller = new AbortController();
    if (aborted) controller.abort();
    const ctx = { info: { activityType: 'trainModel' }, cancellationSignal: controller.signal } as unknown as Context;
    return metrics.activities('q').call(null, ctx).inbound!.execute!({} as ActivityExecuteInput, next);
  };

  it('times each attempt by how it ended: completed, failed, cancelled; none left running', async () => {
    const metrics = new WorkerMetrics();
    await run(metrics, false, () => Promise.resolve('ok'));
    await assert.rejects(
      run(metrics, false, () => Promise.reject(new Error('disk full'))),
      /disk full/,
    );
    await assert.rejects(
      run(metrics, true, () => Promise.reject(new Error('cancelled'))),
      /cancelled/,
    );
    for (const outcome of ['completed', 'failed', 'cancelled']) {
      assert.equal(
        await value(metrics, 'lumen_activity_duration_seconds_count', { queue: 'q', activity: 'trainModel', outcome }),
        1,
        outcome,
      );
    }
    assert.equal(await value(metrics, 'lumen_activities_running', { queue: 'q', activity: 'trainModel' }), 0);
  });

  it('adds up the rows of each epoch, and counts what monitors found and did', async () => {
    const metrics = new WorkerMetrics();
    metrics.epoch('m', { epoch: 1, loss: 0.5, seconds: 2, samplesPerSecond: 1500.4 });
    metrics.epoch('m', { epoch: 2, loss: 0.4, seconds: 1, samplesPerSecond: 3000 });
    assert.equal(await value(metrics, 'lumen_training_samples_total', { model: 'm' }), 6001);
    assert.equal(await value(metrics, 'lumen_training_epoch_seconds_count', { model: 'm' }), 2);
    metrics.monitorChecked('m', []);
    metrics.monitorChecked('m', [
      { kind: 'input-drift', action: 'retrain', severity: 'warning', summary: 'drifted' },
    ] as Parameters<WorkerMetrics['monitorChecked']>[1]);
    assert.equal(await value(metrics, 'lumen_monitor_checks_total', { model: 'm', verdict: 'healthy' }), 1);
    assert.equal(await value(metrics, 'lumen_monitor_checks_total', { model: 'm', verdict: 'findings' }), 1);
    assert.equal(
      await value(metrics, 'lumen_monitor_findings_total', { model: 'm', kind: 'input-drift', action: 'retrain' }),
      1,
    );
  });

  it('a monitor action recorded through the activity is counted, by kind and trigger, once however often retried', async () => {
    const t = tempHome('lumen-worker-metrics-unit-');
    try {
      const metrics = new WorkerMetrics();
      const activities = monitorActivities({ ...t.deps, metrics });
      const action = {
        model: 'm',
        kind: 'rollback' as const,
        trigger: 'auto' as const,
        by: 'monitor',
        reason: 'error above the limit',
        evidence: {},
        result: { outcome: 'rolled back' },
        workflowId: null,
        key: 'm:rollback-1',
      };
      const first = await activities.recordMonitorAction(action);
      // the retry of an attempt that recorded the action and then lost its answer
      const retried = await activities.recordMonitorAction(action);
      assert.equal(retried.id, first.id);
      assert.equal(
        await value(metrics, 'lumen_monitor_actions_total', { model: 'm', kind: 'rollback', trigger: 'auto' }),
        1,
      );
      assert.equal((await t.deps.registry.listMonitorActions('m')).length, 1);
    } finally {
      t.cleanup();
    }
  });
});
