import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { startTrainingPipeline } from '../../client/pipeline';
import type { SourceRef } from '../../lib/data/source';
import type { MonitorActionRecord } from '../../lib/registry/types';
import { parseModelSpec, type ModelSpec } from '../../lib/spec';
import { startServer, type RunningServer, type ServeOptions } from '../../serve/server';
import { championChangeWorkflowId } from '../../workflows/definitions';
import {
  checkNowSignal,
  monitorStatusQuery,
  monitorWorkflowId,
  pauseSignal,
  resumeSignal,
  retrainSignal,
  rollbackSignal,
  setPolicyUpdate,
  type MonitorStatus,
} from '../../workflows/monitor-definitions';
import type { championChange, modelMonitor } from '../../workflows';
import { tempHome, testClient, uniqueQueues, withWorkers, workflowBundle, type TestHome } from '../support/env';
import { weather, weatherYear } from '../support/weather';
import { testServeOptions, trainAndRegister, weatherRows, type WeatherRow } from '../support/serving';

const TOKEN = 'monitor-test-token';
const year = (y: number): SourceRef => weatherYear(y);

/** A check every 3 s, judged on small windows: the behaviour under test is the policy, not the interval. */
const quick = {
  everyMinutes: 0.05,
  minPredictions: 40,
  minLabels: 30,
  breaches: 2,
  clearAfter: 2,
  cooldownMinutes: 60,
};

function model(name: string, monitor: object = quick): ModelSpec {
  return parseModelSpec({
    ...weather,
    name,
    training: { ...weather.training, epochs: 15 },
    // seasonal years must not be quarantined for drift: these tests are about what happens once served
    validation: { drift: { numeric: { fail: 10 }, categorical: { fail: 10 } } },
    monitor,
  });
}

async function post(server: RunningServer, url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as Record<string, unknown> & { invalid?: { reason: string }[] };
  // a label of a class the served version never learned (a fog day, in a year with too few of them) is refused and
  // listed, the others kept: the only refusal these tests expect
  const unlearned = (answer.invalid ?? []).every((i) => /is not one of the classes/.test(i.reason));
  assert.ok(
    res.ok || (url === '/v1/feedback' && res.status === 400 && unlearned),
    `${url}: ${res.status} ${JSON.stringify(answer)}`,
  );
  return answer;
}

/** Serve rows (without their label) and send the true labels back for them. */
async function serveAndLabel(server: RunningServer, name: string, rows: WeatherRow[], label = true): Promise<number> {
  const answer = (await post(
    server,
    `/v1/models/${name}/predict`,
    rows.map(({ weather: _label, ...input }) => input),
  )) as { version: number; predictions: { id: string }[] };
  if (label) {
    await post(
      server,
      '/v1/feedback',
      answer.predictions.map((p, i) => ({ predictionId: p.id, label: rows[i].weather })),
    );
  }
  return answer.version;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the monitor: health checks over served traffic, and what it does about them', () => {
  let t: TestHome;
  let client: Client;
  let server: RunningServer;
  const queues = uniqueQueues();
  const run = <T>(fn: () => Promise<T>): Promise<T> => withWorkers(t.deps, queues, ['pipeline', 'training'], fn);
  const serveOptions = (): ServeOptions => testServeOptions(t.home, TOKEN);
  const status = (name: string): Promise<MonitorStatus> =>
    client.workflow.getHandle<typeof modelMonitor>(monitorWorkflowId(name)).query(monitorStatusQuery);
  async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await fn().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(500);
    }
  }
  const actions = (name: string, kind?: MonitorActionRecord['kind']) =>
    t.deps.registry.listMonitorActions(name).then((list) => list.filter((a) => !kind || a.kind === kind));

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-monitor-');
    client = await testClient();
    await workflowBundle();
  });
  after(async () => {
    await server?.close();
    await client?.connection.close();
    t.cleanup();
  });

  it('drift injected into served traffic → exactly one retrain; undrifted traffic → no action', async function () {
    this.timeout(600_000);
    const spec = model('weather-drift');
    await run(async () => {
      const first = await startTrainingPipeline(
        client,
        spec,
        year(2012),
        { trainingTaskQueue: queues.training, actor: 'test' },
        queues.pipeline,
      );
      assert.equal((await first.handle.result()).outcome, 'promoted');
      server = await startServer(t.deps, serveOptions());
      const rows = await weatherRows(2012);
      // the first promotion started the monitor
      await until('the monitor', () => status(spec.name));

      // undrifted: the training year's own days, 120 per second, each second's spread over the whole year
      const spread = Array.from({ length: rows.length }, (_, j) => rows[(j * 149) % rows.length]);
      const traffic = (from: WeatherRow[], i: number) =>
        Array.from({ length: 120 }, (_, k) => from[(i * 120 + k) % from.length]);
      const calmFrom = (await status(spec.name)).checks;
      for (let i = 0; (await status(spec.name)).checks < calmFrom + 4; i++) {
        await serveAndLabel(server, spec.name, traffic(spread, i), false);
        await sleep(1000);
      }
      const calm = await status(spec.name);
      const judged = calm.reports.filter((r) => r.predictions >= quick.minPredictions);
      assert.ok(
        judged.length >= 2,
        `checks saw the traffic: ${JSON.stringify(calm.reports.map((r) => r.predictions))}`,
      );
      assert.deepEqual(
        judged.flatMap((r) => r.findings.map((f) => f.kind)),
        [],
        'no finding on undrifted traffic',
      );
      assert.deepEqual(await actions(spec.name), [], 'no action');

      // drifted: a hotter, windier, wetter year
      const hot = spread.map((r) => ({
        ...r,
        temp_max: r.temp_max + 15,
        temp_min: r.temp_min + 15,
        wind: r.wind * 3,
        precipitation: r.precipitation * 4 + 5,
      }));
      const driftFrom = (await status(spec.name)).checks;
      for (let i = 0; (await status(spec.name)).checks < driftFrom + 8; i++) {
        await serveAndLabel(server, spec.name, traffic(hot, i), false);
        await sleep(1000);
      }
      const retrains = await actions(spec.name, 'retrain');
      assert.equal(retrains.length, 1, `exactly one retrain: ${JSON.stringify(retrains)}`);
      const [retrain] = retrains;
      assert.equal(retrain.trigger, 'auto');
      assert.match(retrain.reason, /served inputs drifted from the champion's training data/);
      assert.match(String(retrain.result.outcome), /^started train:weather-drift:/);
      assert.ok(retrain.evidence.report, 'the report it rests on');
      const report = await t.deps.registry.listMonitorReports(spec.name);
      assert.ok(report.some((r) => r.id === retrain.evidence.report));
      // the training run it started exists (the pipeline judges it like any batch)
      const described = await client.workflow.getHandle(retrain.workflowId!).describe();
      assert.equal(described.type, 'trainingPipeline');
      const drifted = (await status(spec.name)).openIncidents.map((i) => i.kind);
      assert.ok(drifted.includes('input-drift'), `incident open: ${drifted.join(', ')}`);
      const alerts = await t.deps.registry.listAlerts(spec.name);
      assert.equal(alerts.filter((a) => a.kind === 'monitor-input-drift').length, 1, 'one alert, then cooldown');
      await server.close();
    });
  });

  it('a worse model promoted → rolled back automatically at the next check, with its evidence recorded', async function () {
    this.timeout(600_000);
    const spec = model('weather-worse');
    await run(async () => {
      const first = await startTrainingPipeline(
        client,
        spec,
        year(2012),
        { trainingTaskQueue: queues.training, actor: 'test' },
        queues.pipeline,
      );
      assert.equal((await first.handle.result()).outcome, 'promoted');
      // a poor version: one epoch at a tiny learning rate
      const poor = parseModelSpec({ ...spec, training: { ...spec.training, epochs: 1, learningRate: 0.00001 } });
      const v2 = await trainAndRegister(t.deps, poor, year(2013), { workflowId: 'poor' });
      server = await startServer(t.deps, serveOptions());
      const rows = await weatherRows(2014);
      await until('the monitor', () => status(spec.name));
      // labelled traffic on v1
      for (let i = 0; i < 3; i++)
        assert.equal(await serveAndLabel(server, spec.name, rows.slice(i * 50, i * 50 + 50)), 1);
      await client.workflow.execute<typeof championChange>('championChange', {
        taskQueue: queues.pipeline,
        workflowId: championChangeWorkflowId(spec.name, 'promote-poor'),
        args: [
          {
            model: spec.name,
            kind: 'promote',
            to: v2.version,
            reason: 'test: promote a worse model',
            by: 'ana',
            requestId: 'promote-poor',
            trainingTaskQueue: queues.training,
          },
        ],
      });
      const promotedAt = Date.now();
      await until('v2 serving', async () =>
        (await serveAndLabel(server, spec.name, rows.slice(150, 151), false)) === 2 ? true : undefined,
      );
      // labelled traffic on v2, until the monitor moves the champion back
      let i = 3;
      const back = await until('the rollback', async () => {
        await serveAndLabel(server, spec.name, rows.slice((i * 50) % 350, ((i * 50) % 350) + 50));
        i++;
        return (await t.deps.registry.alias(spec.name, 'champion')) === 1 ? Date.now() : undefined;
      });
      // the alias moves first; the monitor records the action when the change has returned
      const [rollback] = await until('the rollback recorded', async () => {
        const list = await actions(spec.name, 'rollback');
        return list.length ? list : undefined;
      });
      assert.equal(rollback.trigger, 'auto');
      assert.match(String(rollback.result.outcome), /^rolled back from v2 to v1/);
      assert.match(
        rollback.reason,
        /v2, champion since .* does measurably worse than v1 does on the same \d+ labelled requests: error rate/,
      );
      assert.ok(rollback.evidence.report && rollback.evidence.window, 'evidence: the report and its window');
      const moves = await t.deps.registry.aliasHistory(spec.name);
      const last = moves.filter((m) => m.alias === 'champion').at(-1)!;
      assert.equal(last.toVersion, 1);
      assert.equal(last.actor, 'monitor');
      assert.match(last.reason, /measurably worse/);
      const alerts = await t.deps.registry.listAlerts(spec.name);
      assert.ok(alerts.some((a) => a.kind === 'monitor-rollback' && a.severity === 'critical'));
      // within about one interval of the labels being there (checks every 3 s, 5 s settle)
      assert.ok(
        back - promotedAt < 60_000,
        `rolled back ${((back - promotedAt) / 1000).toFixed(0)} s after the promotion`,
      );
      // the monitor's history so far, with the rollback it started as a child, replays on the current code
      const history = await client.workflow.getHandle(monitorWorkflowId(spec.name)).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, monitorWorkflowId(spec.name));
      await server.close();
    });
  });

  it('people steer it: pause, resume, rollback, retrain and policy; a request sent twice acts once; continue-as-new loses nothing', async function () {
    this.timeout(600_000);
    const spec = model('weather-steer', { ...quick, everyMinutes: 600 });
    const v1 = await trainAndRegister(t.deps, spec, year(2012), { champion: true, workflowId: 'steer-1' });
    await run(async () => {
      const handle = await client.workflow.start<typeof modelMonitor>('modelMonitor', {
        taskQueue: queues.pipeline,
        workflowId: monitorWorkflowId(spec.name),
        args: [{ model: spec.name, trainingTaskQueue: queues.training, historyLimit: 60 }],
      });
      const by = { by: 'ana', reason: 'test' };
      // signals of the wrong kind are dropped with a warning; they used to fail the workflow task over and over
      await handle.signal(pauseSignal, null as never);
      await handle.signal(rollbackSignal, { ...by, requestId: 'x', to: 'v1' } as never);
      await handle.signal(pauseSignal, { ...by, requestId: 'p1' });
      await handle.signal(pauseSignal, { ...by, requestId: 'p1' });
      const before = await until('paused', async () => {
        const s = await status(spec.name);
        return s.paused && s.pending.length === 0 ? s : undefined;
      });
      assert.equal(before.actions.filter((a) => a.kind === 'pause').length, 1, 'paused once');
      // a burst of checks while paused (people may still ask): enough history to continue as new in between
      const ids = Array.from({ length: 12 }, (_, i) => `c${i}`);
      for (const id of ids) await handle.signal(checkNowSignal, { ...by, requestId: id });
      for (const id of ids.slice(0, 4)) await handle.signal(checkNowSignal, { ...by, requestId: id }); // duplicates
      await handle.signal(retrainSignal, { ...by, requestId: 'r1' });
      await handle.signal(retrainSignal, { ...by, requestId: 'r1' });
      await handle.signal(rollbackSignal, { ...by, requestId: 'b1' });
      const settled = await until('the requests', async () => {
        const s = await status(spec.name);
        // taken from the queue is not yet done: the retrain and the rollback are done once they are recorded
        const done = s.actions.filter((a) => a.kind === 'retrain' || a.kind === 'rollback').length;
        return s.pending.length === 0 && s.checks >= before.checks + 12 && done >= 2 && s.continuedAsNew >= 1
          ? s
          : undefined;
      });
      assert.ok(
        settled.continuedAsNew >= 1,
        `continued as new (${settled.continuedAsNew}); history ${settled.historyLength}`,
      );
      assert.equal(settled.checks, before.checks + 12, 'the 12 checks asked for, each once, across continue-as-new');
      assert.ok(settled.paused, 'still paused after continue-as-new');
      assert.equal(settled.paused?.by, 'ana');
      const retrains = await actions(spec.name, 'retrain');
      assert.equal(retrains.length, 1, 'the retrain asked twice ran once');
      // this version was registered without a pipeline: there is no accepted batch, and it says so
      assert.match(String(retrains[0].result.outcome), /^failed: .*has no accepted batch/);
      const rollbacks = await actions(spec.name, 'rollback');
      assert.equal(rollbacks.length, 1);
      assert.match(String(rollbacks[0].result.outcome), /^failed: .*no previous champion/);
      assert.equal(await t.deps.registry.alias(spec.name, 'champion'), v1.version, 'nothing moved');

      // the policy: validated before it is taken
      await assert.rejects(
        handle.executeUpdate(setPolicyUpdate, { args: [{ policy: { everyMinutes: -1 }, by: 'ana', reason: 'x' }] }),
        (err: { cause?: { message?: string } }) => {
          assert.match(err.cause?.message ?? '', /invalid monitor policy: monitor\.everyMinutes/);
          return true;
        },
      );
      const policy = await handle.executeUpdate(setPolicyUpdate, {
        args: [{ policy: { drift: { action: 'alert' } }, by: 'ana', reason: 'retrain by hand for now' }],
      });
      assert.equal(policy.drift.action, 'alert');
      assert.equal(policy.drift.driftedShare, 0.5, 'sections merge');
      await handle.signal(resumeSignal, { ...by, requestId: 'r-1' });
      const resumed = await until('resumed', async () => {
        const s = await status(spec.name);
        return !s.paused && s.checks > settled.checks ? s : undefined;
      });
      assert.equal(resumed.policyFrom, 'update');
      assert.equal(resumed.policy.drift.action, 'alert', 'the policy survives continue-as-new');
      // determinism: each run of this monitor (before and after continue-as-new) replays on the current code
      const runs: string[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowId = "${monitorWorkflowId(spec.name)}"` })) {
        runs.push(w.runId);
      }
      assert.ok(runs.length >= 2, `runs: ${runs.length}`);
      for (const runId of runs) {
        const history = await client.workflow.getHandle(monitorWorkflowId(spec.name), runId).fetchHistory();
        await Worker.runReplayHistory(
          { workflowBundle: await workflowBundle() },
          history,
          monitorWorkflowId(spec.name),
        );
      }
      await handle.terminate('test done');
    });
  });
});
