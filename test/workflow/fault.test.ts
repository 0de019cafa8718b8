import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { defaultPayloadConverter, type Client } from '@temporalio/client';
import type { TrainHeartbeat } from '../../activities/train';
import { startTrainingPipeline } from '../../client/pipeline';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { stopProcess } from '../../tools/devserver';
import {
  repoRoot,
  temporalAddress,
  tempHome,
  testClient,
  uniqueQueues,
  withWorkers,
  type TestHome,
} from '../support/env';

/** A training worker in its own OS process, so it can be killed like a crashed machine. */
function spawnTrainingWorker(home: string, queues: { pipeline: string; training: string }): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'worker/main.ts',
      '--queues',
      'training',
      '--training-queue',
      queues.training,
      '--pipeline-queue',
      queues.pipeline,
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, LUMEN_HOME: home, TEMPORAL_ADDRESS: temporalAddress(), LUMEN_LOG_LEVEL: 'WARN' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM')
      console.error(`training worker exited ${code}:\n${output}`);
  });
  return child;
}

describe('fault: the training worker is killed mid-training', () => {
  let t: TestHome;
  let client: Client;
  const workers: ChildProcess[] = [];
  before(async () => {
    t = tempHome();
    client = await testClient();
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopProcess(w, 2000)));
    await client.connection.close();
    t.cleanup();
  });

  it('SIGKILL after a checkpoint: a new worker resumes from it and exactly one version is registered', async () => {
    const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
    const spec = parseModelSpec({ ...base, training: { ...base.training, epochs: 8 } });
    const queues = uniqueQueues();
    const source = {
      uri: 'vega-datasets:flights-3m.parquet',
      window: { column: 'date', start: '2001-01-01', end: '2001-01-15' },
    };

    const result = await withWorkers(t.deps, queues, ['pipeline'], async () => {
      const first = spawnTrainingWorker(t.home, queues);
      workers.push(first);
      const started = await startTrainingPipeline(
        client,
        spec,
        source,
        { trainingTaskQueue: queues.training, trainingHeartbeatTimeout: '5 seconds' },
        queues.pipeline,
      );

      // wait until the server has recorded a heartbeat carrying a checkpoint of at least two epochs
      let seen: TrainHeartbeat | undefined;
      const deadline = Date.now() + 120_000;
      while (!seen || seen.epochsDone < 2 || !seen.checkpoint) {
        assert.ok(Date.now() < deadline, 'no checkpoint heartbeat within 2 minutes');
        await new Promise((r) => setTimeout(r, 250));
        const pending = (await started.handle.describe()).raw.pendingActivities ?? [];
        const training = pending.find((a) => a.activityType?.name === 'trainModel');
        const payload = training?.heartbeatDetails?.payloads?.[0];
        if (payload) seen = defaultPayloadConverter.fromPayload<TrainHeartbeat>(payload);
      }
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));

      workers.push(spawnTrainingWorker(t.home, queues));
      const r = await started.handle.result();

      const history = await started.handle.fetchHistory();
      const attempts = (history.events ?? [])
        .filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
      assert.ok(Math.max(...attempts) >= 2, `training was retried on the new worker (attempts ${attempts.join(',')})`);
      return { r, killedAfter: seen.epochsDone };
    });

    const { r, killedAfter } = result;
    assert.equal(r.outcome, 'promoted');
    assert.ok(r.resumedFromEpoch !== null, 'training resumed from a checkpoint, not from zero');
    assert.ok(
      r.resumedFromEpoch >= killedAfter && r.resumedFromEpoch < spec.training.epochs,
      `resumed from epoch ${r.resumedFromEpoch}, killed after ${killedAfter}`,
    );
    const versions = await t.deps.registry.listVersions(spec.name);
    assert.equal(versions.length, 1, 'exactly one registered version');
    const training = versions[0].training as { history: unknown[]; resumedFromEpoch: number };
    assert.equal(training.history.length, spec.training.epochs);
    assert.equal(training.resumedFromEpoch, r.resumedFromEpoch);
  });
});
