import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { startTrainingPipeline } from '../../client/pipeline';
import type { TemporalOps } from '../../activities/context';
import { parseModelSpec } from '../../lib/spec';
import { ensureSupervisor, temporalOps } from '../../worker/temporal-ops';
import { monitorWorkflowId } from '../../workflows/monitor-definitions';
import { supervisorWorkflowId } from '../../workflows/monitor-supervisor';
import {
  eventually,
  tempHome,
  testClient,
  uniqueQueues,
  withWorkers,
  workflowBundle,
  type TestHome,
} from '../support/env';
import { weather, weatherYear } from '../support/weather';

/**
 * What follows a change happens on every attempt that finds the change made, and what should exist is reconciled
 * with what does: a promotion whose worker died between moving the champion and telling the monitor still starts
 * the monitor on its retry; a monitor that is gone anyway (terminated by hand) is started again by the supervisor,
 * with a critical alert.
 */
describe('reconcile: a promoted model always has its monitor', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();
  const spec = parseModelSpec({
    ...weather,
    name: 'weather-reconcile',
    training: { ...weather.training, epochs: 5 },
    monitor: { everyMinutes: 60 },
  });
  const running = async (workflowId: string): Promise<boolean> =>
    (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-reconcile-');
    client = await testClient();
    await workflowBundle();
  });
  after(async () => {
    await client.connection.close();
    t.cleanup();
  });

  it('the retry of a promotion whose telling was lost starts the monitor; a terminated monitor is started again and alerted', async function () {
    this.timeout(600_000);
    // the worker "dies" after the champion moved and before the monitor was told: the first telling fails
    const real = temporalOps(client.connection, 'default', queues);
    let told = 0;
    const ops: TemporalOps = {
      ...real,
      championMoved: async (model, event) => {
        if (told++ === 0) throw new Error('connection lost before the monitor was told (test)');
        await real.championMoved(model, event);
      },
    };
    await withWorkers({ ...t.deps, temporal: ops }, queues, ['pipeline', 'training'], async () => {
      const run = await startTrainingPipeline(
        client,
        spec,
        weatherYear(2012),
        { trainingTaskQueue: queues.training },
        queues.pipeline,
      );
      const result = await run.handle.result();
      assert.equal(result.outcome, 'promoted');
      assert.equal(told, 2, 'the retry told the monitor');
      assert.ok(await running(monitorWorkflowId(spec.name)), 'the monitor runs');
      const moves = (await t.deps.registry.aliasHistory(spec.name)).filter((e) => e.alias === 'champion');
      assert.equal(moves.length, 1, 'the champion moved once');

      // gone anyway: the supervisor that a pipeline worker starts notices, starts it again and says so
      await client.workflow.getHandle(monitorWorkflowId(spec.name)).terminate('a person stopped it (test)');
      await ensureSupervisor(client.connection, 'default', queues.pipeline);
      await eventually('the monitor runs again', async () =>
        (await running(monitorWorkflowId(spec.name))) ? true : undefined,
      );
      const alert = await eventually('the alert', async () =>
        (await t.deps.registry.listAlerts(spec.name)).find((a) => a.kind === 'monitor-missing'),
      );
      assert.equal(alert.severity, 'critical');
      assert.match(alert.message, /has champion v1 but no monitor was running; one is started now/);
      // a second worker starting joins the same supervisor, and a running monitor is left alone
      await ensureSupervisor(client.connection, 'default', queues.pipeline);
      const supervisor = client.workflow.getHandle(supervisorWorkflowId(queues.pipeline));
      assert.ok(await running(supervisor.workflowId));
      assert.equal((await t.deps.registry.listAlerts(spec.name)).filter((a) => a.kind === 'monitor-missing').length, 1);
      await supervisor.terminate('test over');
      await client.workflow.getHandle(monitorWorkflowId(spec.name)).terminate('test over');
    });
  });
});
