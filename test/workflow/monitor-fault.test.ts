import assert from 'node:assert/strict';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { freePort, startDevServer, stopProcess, type DevServer } from '../../tools/devserver';
import { championChangeWorkflowId, searchAttributeTypes } from '../../workflows/definitions';
import {
  monitorStatusQuery,
  monitorWorkflowId,
  retrainSignal,
  rollbackSignal,
} from '../../workflows/monitor-definitions';
import type { modelMonitor } from '../../workflows';
import { repoRoot, tempHome, uniqueQueues, type TestHome } from '../support/env';
import { trainAndRegister } from '../support/serving';
import { kill, spawnWorker, until, type WorkerProcess } from '../support/worker-process';

/**
 * The monitor is a workflow so that it outlives processes: its worker killed mid-action, and the Temporal server
 * itself restarted (its own dev server here, persisting to SQLite), under the defaults a user gets. Nothing it was
 * asked to do is lost, and nothing is done twice.
 */
describe('fault: the monitor survives a worker SIGKILL and a Temporal server restart', () => {
  let t: TestHome;
  let server: DevServer;
  let client: Client;
  let port: number;
  let dbFile: string;
  const workers: WorkerProcess[] = [];
  const queues = uniqueQueues();
  const startServer = () => startDevServer({ port, dbFile, searchAttributes: searchAttributeTypes() });

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-monitor-fault-');
    port = await freePort();
    dbFile = path.join(t.home, 'temporal', 'temporal.sqlite');
    server = await startServer();
    client = new Client({ connection: await Connection.connect({ address: server.address }) });
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopProcess(w.child, 2000)));
    await client?.connection.close();
    await server?.stop();
    t.cleanup();
  });

  it('a rollback in flight when its worker dies completes once; after a server restart the monitor goes on with its state', async function () {
    this.timeout(600_000);
    const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
    const spec = parseModelSpec({
      ...base,
      name: 'weather-monitor-fault',
      training: { ...base.training, epochs: 10 },
      monitor: { everyMinutes: 0.05 },
    });
    const source = {
      uri: 'vega-datasets:seattle-weather.csv',
      window: { column: 'date', start: '2012-01-01', end: '2013-01-01' },
    };
    const v1 = await trainAndRegister(t.deps, spec, source, { champion: true, workflowId: 'fault-1' });
    const v2 = await trainAndRegister(
      t.deps,
      spec,
      { ...source, window: { ...source.window, start: '2013-01-01', end: '2014-01-01' } },
      { champion: true, workflowId: 'fault-2' },
    );
    assert.equal(v2.version, 2);
    assert.equal(await t.deps.registry.alias(spec.name, 'champion'), v2.version);

    let worker = spawnWorker(t.home, queues, 'pipeline,training', server.address);
    workers.push(worker);
    const handle = await client.workflow.start<typeof modelMonitor>('modelMonitor', {
      taskQueue: queues.pipeline,
      workflowId: monitorWorkflowId(spec.name),
      args: [{ model: spec.name, trainingTaskQueue: queues.training }],
    });
    const status = () => handle.query(monitorStatusQuery);
    await until('two checks', 120_000, async () => ((await status()).checks >= 2 ? true : undefined));

    // a person's rollback; the worker dies as soon as the monitor has started the champion change
    await handle.signal(rollbackSignal, { by: 'ana', reason: 'complaints', requestId: 'rb-1' });
    const change = client.workflow.getHandle(championChangeWorkflowId(spec.name, 'rb-1'));
    await until('the champion change started', 60_000, () =>
      change
        .describe()
        .then(() => true)
        .catch(() => undefined),
    );
    await kill(worker);
    worker = spawnWorker(t.home, queues, 'pipeline,training', server.address);
    workers.push(worker);
    await until('the rollback recorded', 120_000, async () => {
      const done = await t.deps.registry.listMonitorActions(spec.name);
      return done.some((a) => a.kind === 'rollback') ? true : undefined;
    });
    assert.equal(await t.deps.registry.alias(spec.name, 'champion'), v1.version);
    const rollbacks = (await t.deps.registry.aliasHistory(spec.name)).filter((e) => e.requestId === 'rb-1');
    assert.equal(
      rollbacks.filter((e) => e.alias === 'champion').length,
      1,
      `the alias moved once: ${JSON.stringify(await t.deps.registry.aliasHistory(spec.name))}`,
    );
    const checksBefore = (await status()).checks;

    // the server goes down and comes back on the same SQLite file
    await server.stop();
    server = await startServer();
    await until('the monitor answers again', 120_000, () => status().catch(() => undefined));
    for (let i = 0; i < 2; i++) {
      await handle.signal(retrainSignal, { by: 'ben', reason: 'new labels', requestId: 'rt-1' });
    }
    const after = await until('checks go on, and the retrain is taken', 180_000, async () => {
      const s = await status().catch(() => undefined);
      const taken = (await t.deps.registry.listMonitorActions(spec.name)).some((a) => a.kind === 'retrain');
      return s && taken && s.checks > checksBefore + 1 ? s : undefined;
    });
    assert.ok(after.reports.length > 0, 'the reports from before the restart are still there');
    const actions = await t.deps.registry.listMonitorActions(spec.name);
    assert.deepEqual(
      actions.map((a) => a.kind).sort(),
      ['retrain', 'rollback'],
      `one of each, nothing lost or repeated: ${JSON.stringify(actions.map((a) => [a.kind, a.key]))}`,
    );
    assert.equal(after.actions.filter((a) => a.kind === 'rollback').length, 1);
    await handle.terminate('test done');
  });
});
