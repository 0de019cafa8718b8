import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { ActivityInterceptors } from '@temporalio/worker';
import type { Context as ActivityContext } from '@temporalio/activity';
import type { TrainOutcome } from '../../lib/training';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startTrainingPipeline } from '../../client/pipeline';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { stopProcess } from '../../tools/devserver';
import { HEARTBEAT_TIMEOUT } from '../../workflows/activity-options';
import { repoRoot, tempHome, testClient, uniqueQueues, withWorkers, type TestHome } from '../support/env';
import { kill, spawnWorker, until, type WorkerProcess } from '../support/worker-process';

/**
 * Workers in their own OS processes, killed like crashed machines, under the settings a user gets: no test
 * passes a shorter timeout. If one of these needs a special setting to pass, the default is wrong.
 */

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

async function pendingActivity(handle: WorkflowHandle, type: string): Promise<PendingActivity | undefined> {
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  return pending.find((a) => a.activityType?.name === type);
}

const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

/** Wait until the activity runs on a worker, then kill that worker; returns when it was killed. */
async function killDuring(handle: WorkflowHandle, type: string, worker: WorkerProcess): Promise<number> {
  await until(`${type} started`, 180_000, async () => {
    const a = await pendingActivity(handle, type);
    return a?.state === STARTED ? a : undefined;
  });
  return kill(worker);
}

/** How the server saw an activity end: its last attempt number and why the attempt before it failed. */
async function activityOutcome(
  handle: WorkflowHandle,
  type: string,
): Promise<{ attempt: number; lastFailure: string; completedAt: number }> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type);
  assert.ok(scheduled, `${type} was scheduled`);
  const id = String(scheduled.eventId);
  const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id);
  const completed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id);
  assert.ok(started && completed, `${type} completed`);
  const failure = started.activityTaskStartedEventAttributes?.lastFailure;
  return {
    attempt: started.activityTaskStartedEventAttributes?.attempt ?? 0,
    lastFailure: `${failure?.message ?? ''} ${temporal.api.enums.v1.TimeoutType[failure?.timeoutFailureInfo?.timeoutType ?? 0]}`,
    completedAt: Number(completed.eventTime?.seconds ?? 0) * 1000,
  };
}

describe('fault: workers killed mid-activity, under default settings', () => {
  let t: TestHome;
  let client: Client;
  const workers: WorkerProcess[] = [];
  const spawnTracked = (...args: Parameters<typeof spawnWorker>): WorkerProcess => {
    const w = spawnWorker(...args);
    workers.push(w);
    return w;
  };
  before(async () => {
    t = tempHome();
    client = await testClient();
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopProcess(w.child, 2000)));
    await client.connection.close();
    t.cleanup();
  });

  it('SIGKILL right after epoch 2: the retry starts within the heartbeat timeout and resumes from epoch 2', async () => {
    const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
    const spec = parseModelSpec({ ...base, training: { ...base.training, epochs: 6 } });
    const queues = uniqueQueues();
    const source = {
      uri: 'vega-datasets:flights-3m.parquet',
      window: { column: 'date', start: '2001-01-01', end: '2001-01-15' },
    };

    const { r, killedAfter, retryAfterMs } = await withWorkers(t.deps, queues, ['pipeline'], async () => {
      const first = spawnTracked(t.home, queues, 'training');
      const started = await startTrainingPipeline(
        client,
        spec,
        source,
        { trainingTaskQueue: queues.training },
        queues.pipeline,
      );
      // the moment the worker itself says epoch 2 is done — not when the server has heard of it
      const epoch = await until(`epoch 2 logged by the training worker`, 180_000, () => {
        const done = [...first.output().matchAll(/epoch complete \[[^\]]*\] .*?\bepoch=(\d+)/g)].map((m) =>
          Number(m[1]),
        );
        const last = Math.max(0, ...done);
        return Promise.resolve(last >= 2 ? last : undefined);
      });
      const killedAt = await kill(first);
      spawnTracked(t.home, queues, 'training');
      const retried = await until('the training retried on the new worker', 120_000, async () => {
        const a = await pendingActivity(started.handle, 'trainModel');
        return a && (a.attempt ?? 0) >= 2 && a.state === STARTED ? Date.now() : undefined;
      });
      return { r: await started.handle.result(), killedAfter: epoch, retryAfterMs: retried - killedAt };
    });

    assert.equal(r.outcome, 'promoted');
    assert.ok(r.resumedFromEpoch !== null, 'training resumed from a checkpoint, not from zero');
    assert.ok(
      r.resumedFromEpoch >= killedAfter && r.resumedFromEpoch < spec.training.epochs,
      `resumed from epoch ${r.resumedFromEpoch}, killed after ${killedAfter}`,
    );
    // noticed by the heartbeat timeout (20 s), not the old 60 s; a few seconds for the retry's back-off and poll
    assert.ok(retryAfterMs < 35_000, `the dead training worker was noticed after ${retryAfterMs / 1000} s`);
    const versions = await t.deps.registry.listVersions(spec.name);
    assert.equal(versions.length, 1, 'exactly one registered version');
    const training = versions[0].training as { history: unknown[]; resumedFromEpoch: number };
    assert.equal(training.history.length, spec.training.epochs);
    assert.equal(training.resumedFromEpoch, r.resumedFromEpoch);
  });

  it('SIGKILL of the pipeline worker during validate and of the training worker during evaluate', async () => {
    // all 3 million flights: validation and scoring take seconds, long enough to be caught in the act
    const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
    const spec = parseModelSpec({
      ...base,
      name: 'flights-fault',
      training: { ...base.training, epochs: 1, maxTrainingRows: 20_000 },
      // a quick, weak model: this test is about the run surviving, not about the model's quality
      gate: { ...base.gate, beatBaseline: false, thresholds: {}, slices: { ...base.gate.slices, maxGap: {} } },
    });
    const queues = uniqueQueues();
    const pipelineWorker = spawnTracked(t.home, queues, 'pipeline');
    const trainingWorker = spawnTracked(t.home, queues, 'training');
    const started = await startTrainingPipeline(
      client,
      spec,
      { uri: 'vega-datasets:flights-3m.parquet' },
      { trainingTaskQueue: queues.training },
      queues.pipeline,
    );
    const validateKilledAt = await killDuring(started.handle, 'validateDataset', pipelineWorker);
    spawnTracked(t.home, queues, 'pipeline');
    const evaluateKilledAt = await killDuring(started.handle, 'evaluateCandidate', trainingWorker);
    spawnTracked(t.home, queues, 'training');
    const result = await started.handle.result();
    assert.equal(result.outcome, 'promoted');

    const heartbeat = Number.parseInt(HEARTBEAT_TIMEOUT, 10) * 1000;
    for (const [type, killedAt, work] of [
      ['validateDataset', validateKilledAt, 10_000],
      ['evaluateCandidate', evaluateKilledAt, 45_000],
    ] as const) {
      const outcome = await activityOutcome(started.handle, type);
      assert.equal(outcome.attempt, 2, `${type} ran again after the kill`);
      assert.match(outcome.lastFailure, /HEARTBEAT/, `${type}: the dead worker was noticed by its heartbeat`);
      // heartbeat timeout + the retry's work; under the old defaults this was 10 minutes (validate) or 4 hours
      const lost = outcome.completedAt - killedAt;
      assert.ok(lost < heartbeat + work, `${type} completed ${lost / 1000} s after its worker was killed`);
    }
  });

  it('a training whose completion never reached the server: the retry returns the same model, and the checkpoints go only once the result is recorded', async () => {
    const spec = parseModelSpec({
      ...loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json')),
      name: 'weather-lost-completion',
    });
    const queues = uniqueQueues();
    // the attempt finishes its work, then its report is lost on the way to the server (as in an outage)
    const finished: { sha256: string; checkpoints: string | undefined }[] = [];
    const loseFirstCompletion = (ctx: ActivityContext): ActivityInterceptors => ({
      inbound: {
        async execute(input, next) {
          const result = await next(input);
          if (ctx.info.activityType === 'trainModel' && ctx.info.attempt === 1) {
            const outcome = result as TrainOutcome;
            finished.push({ sha256: outcome.artifact.sha256, checkpoints: outcome.checkpoints });
            throw new Error('Network error while completing activity (test)');
          }
          return result;
        },
      },
    });
    const result = await withWorkers(
      t.deps,
      queues,
      ['pipeline', 'training'],
      async () => {
        const started = await startTrainingPipeline(
          client,
          spec,
          { uri: 'vega-datasets:seattle-weather.csv' },
          { trainingTaskQueue: queues.training },
          queues.pipeline,
        );
        return started.handle.result();
      },
      { activityInterceptors: [loseFirstCompletion] },
    );
    assert.equal(finished.length, 1);
    assert.equal(result.outcome, 'promoted');
    assert.equal(result.artifact?.sha256, finished[0].sha256, 'the retry returned the model the first attempt made');
    assert.equal(result.resumedFromEpoch, spec.training.epochs, 'no epoch was trained again');
    const kept = finished[0].checkpoints;
    assert.ok(kept, 'the checkpoints were kept past the end of the training');
    assert.equal(fs.existsSync(path.join(t.home, 'artifacts', kept)), false, 'and released once the run recorded it');
  });
});
