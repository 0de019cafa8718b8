import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { describeFailure } from '../../client/format';
import { startTrainingPipeline, type StartedPipeline } from '../../client/pipeline';
import { openArtifactStore } from '../../lib/artifacts';
import { PostgresRegistry } from '../../lib/registry/postgres';
import { parseModelSpec, type ModelSpec } from '../../lib/spec';
import type { SourceRef } from '../../lib/data/source';
import { stopProcess } from '../../tools/devserver';
import type { championChange } from '../../workflows';
import {
  approveCandidate,
  championChangeWorkflowId,
  type ChampionChangeInput,
  type PipelineResult,
} from '../../workflows/definitions';
import { testClient, uniqueQueues } from '../support/env';
import { S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../support/s3';
import { weather, weatherYear, waitForStage } from '../support/weather';
import { kill, spawnWorker, until, type WorkerProcess } from '../support/worker-process';

/**
 * Workers as on several hosts (run by `npm run test:cluster`, against a Temporal server on PostgreSQL): each worker
 * is its own process with its own LUMEN_HOME, and they share nothing but Lumen's registry in PostgreSQL, the
 * Temporal server and an S3 artifact store. Under the settings a user gets.
 */

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this file through npm run test:cluster`);
  return value;
}

/** The activity of a run that a given worker process is executing right now, if any. */
async function runningOn(
  handle: WorkflowHandle,
  type: string,
  worker: WorkerProcess,
): Promise<PendingActivity | undefined> {
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  return pending.find(
    (a) =>
      a.activityType?.name === type &&
      a.state === STARTED &&
      a.lastWorkerIdentity?.startsWith(`${worker.child.pid}@`) === true,
  );
}

/** Each completed activity of a run: its type and the attempt that completed it. */
async function completedActivities(handle: WorkflowHandle): Promise<{ type: string; attempt: number }[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, string>();
  const attempts = new Map<string, number>();
  const done: { type: string; attempt: number }[] = [];
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '?');
    const st = e.activityTaskStartedEventAttributes;
    if (st) attempts.set(String(st.scheduledEventId), st.attempt ?? 1);
    const c = e.activityTaskCompletedEventAttributes;
    if (c) {
      const id = String(c.scheduledEventId);
      done.push({ type: scheduled.get(id) ?? '?', attempt: attempts.get(id) ?? 1 });
    }
  }
  return done;
}

describe('several hosts: pipeline and training workers sharing only PostgreSQL, Temporal and S3', () => {
  let tmp: string;
  let s3: LocalS3;
  let registry: PostgresRegistry;
  let client: Client;
  let shared: NodeJS.ProcessEnv;
  const queues = uniqueQueues();
  const fleet: WorkerProcess[] = [];

  /** A worker on a host of its own: a fresh LUMEN_HOME, only the shared services in its environment. */
  const host = (role: 'pipeline' | 'training'): WorkerProcess => {
    const home = fs.mkdtempSync(path.join(tmp, `${role}-host-`));
    const worker = spawnWorker(home, queues, role, undefined, shared);
    fleet.push(worker);
    return worker;
  };
  const start = (spec: ModelSpec, source: SourceRef): Promise<StartedPipeline> =>
    startTrainingPipeline(client, spec, source, { trainingTaskQueue: queues.training, actor: 'test' }, queues.pipeline);
  // about the deployment, not validation: years apart pass whichever run is champion by then
  const model = (name: string, gate: object): ModelSpec =>
    parseModelSpec({
      ...weather,
      name,
      training: { ...weather.training, epochs: 15 },
      gate,
      validation: {
        drift: { numeric: { fail: 10 }, categorical: { fail: 10 }, time: { gapDays: { warn: 62, fail: 100_000 } } },
      },
    });

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-hosts-'));
    s3 = await startLocalS3(path.join(tmp, 's3'), ['lumen-hosts']);
    const registryUrl = required('LUMEN_TEST_REGISTRY_URL');
    shared = {
      LUMEN_REGISTRY_URL: registryUrl,
      LUMEN_ARTIFACTS_URL: s3.url('lumen-hosts', 'proof'),
      ...S3_CREDENTIALS,
    };
    for (const [k, v] of Object.entries(S3_CREDENTIALS)) process.env[k] = v;
    registry = await PostgresRegistry.open(registryUrl);
    client = await testClient();
    for (const role of ['pipeline', 'pipeline', 'training', 'training'] as const) host(role);
  });
  after(async () => {
    await Promise.all(fleet.map((w) => stopProcess(w.child, 5000)));
    await client?.connection.close();
    registry?.close();
    await s3?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('four batches at once, one worker of each kind SIGKILLed mid-run: one version per batch, a consistent history', async () => {
    const spec = model('weather-hosts', { vsChampion: { minAbsoluteChange: -1 } });
    const batches = [weatherYear(2012), weatherYear(2013), weatherYear(2014), weatherYear(2015)];
    const runs = await Promise.all(batches.map((b) => start(spec, b)));

    // a training worker in the middle of training a model, and a pipeline worker holding runs, die together
    const [pipelineVictim, , trainingVictim] = fleet;
    await until('a trainModel running on the first training worker', 240_000, async () => {
      for (const r of runs) if (await runningOn(r.handle, 'trainModel', trainingVictim)) return true;
      return undefined;
    });
    await Promise.all([kill(trainingVictim), kill(pipelineVictim)]);

    const results: PipelineResult[] = await Promise.all(runs.map((r) => r.handle.result()));
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['promoted', 'promoted', 'promoted', 'promoted'],
      results.map((r) => `${r.outcome}: ${JSON.stringify(r.verdict?.reason ?? '')}`).join('; '),
    );

    // exactly one version per batch, each trained on its own batch
    const versions = await registry.listVersions(spec.name);
    assert.deepEqual(versions.map((v) => v.version).sort(), [1, 2, 3, 4]);
    assert.deepEqual(
      new Set(results.map((r) => r.version)),
      new Set([1, 2, 3, 4]),
      'each run registered a version of its own',
    );
    const bySha = new Map(versions.map((v) => [v.datasetSha256, v.version]));
    assert.equal(bySha.size, 4, 'four different batches');
    for (const r of results) assert.equal(bySha.get(r.dataset.sha256), r.version, `v${r.version} is its run's batch`);

    // the champion moved four times, each move starting where the previous ended
    const history = (await registry.aliasHistory(spec.name)).filter((e) => e.alias === 'champion');
    assert.equal(history.length, 4);
    history.forEach((e, i) => assert.equal(e.fromVersion, i === 0 ? null : history[i - 1].toVersion));
    assert.equal(await registry.alias(spec.name, 'champion'), history[3].toVersion);

    // the kill was felt: the killed worker's training ran again elsewhere, and nothing was done twice
    const activities = await Promise.all(runs.map((r) => completedActivities(r.handle)));
    const retrained = activities.flat().filter((a) => a.type === 'trainModel' && a.attempt > 1);
    assert.ok(retrained.length >= 1, 'a training attempt was lost with its worker and retried');
    for (const [i, done] of activities.entries()) {
      const registered = done.filter((a) => a.type === 'registerModelVersion').length;
      assert.equal(registered, 1, `run ${i + 1} registered once (${done.map((a) => a.type).join(', ')})`);
    }

    // every artifact reads back, hash-checked, on a host that made none of them
    const fresh = await openArtifactStore(
      { home: path.join(tmp, 'auditor'), artifacts: path.join(tmp, 'auditor', 'artifacts') },
      { ...process.env, ...shared },
    );
    for (const v of versions) await fresh.verify(v.artifact);

    // the replacements join like new hosts would
    host('pipeline');
    host('training');
  });

  it('100 copies of one approval and 20 racing promotions and rollbacks, across worker processes on PostgreSQL', async () => {
    const spec = model('weather-hosts-race', { vsChampion: { minAbsoluteChange: -1 } });
    for (const year of [2012, 2013, 2014]) {
      assert.equal((await (await start(spec, weatherYear(year))).handle.result()).outcome, 'promoted');
    }
    const gated = model('weather-hosts-approval', { approval: { required: 'always', timeout: '10m' } });
    const started = await start(gated, weatherYear(2015));
    const { approval } = await waitForStage(started, 'awaiting_approval', 240_000);
    const request = { version: approval!.version, artifactSha256: approval!.artifactSha256, by: 'ana', comment: 'ok' };
    const approvals = await Promise.allSettled(
      Array.from({ length: 100 }, () => started.handle.executeUpdate(approveCandidate, { args: [request] })),
    );
    assert.equal(approvals.filter((o) => o.status === 'fulfilled').length, 1, 'one approval applied');
    assert.equal((await started.handle.result()).outcome, 'promoted');
    assert.equal((await registry.aliasHistory(gated.name)).filter((e) => e.alias === 'champion').length, 1);
    assert.equal((await registry.listApprovals({ model: gated.name, status: 'approved' })).length, 1);

    const change = (input: Omit<ChampionChangeInput, 'trainingTaskQueue'>) =>
      client.workflow.execute<typeof championChange>('championChange', {
        taskQueue: queues.pipeline,
        workflowId: championChangeWorkflowId(input.model, input.requestId),
        args: [{ ...input, trainingTaskQueue: queues.training }],
      });
    const settled = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        change(
          i % 2 === 0
            ? {
                model: spec.name,
                kind: 'promote',
                to: 1 + (i % 3),
                reason: `race ${i}`,
                by: 'racer',
                requestId: `r${i}`,
              }
            : { model: spec.name, kind: 'rollback', reason: `race ${i}`, by: 'racer', requestId: `r${i}` },
        ),
      ),
    );
    assert.deepEqual(
      settled.filter((s) => s.status === 'rejected').map((s) => describeFailure(s.reason)),
      [],
      'every request completes',
    );
    const history = (await registry.aliasHistory(spec.name)).filter((e) => e.alias === 'champion');
    history.forEach((e, i) => assert.equal(e.fromVersion, i === 0 ? null : history[i - 1].toVersion));
    assert.equal(await registry.alias(spec.name, 'champion'), history[history.length - 1].toVersion);
    const perRequest = new Map<string, number>();
    for (const e of history) perRequest.set(e.requestId, (perRequest.get(e.requestId) ?? 0) + 1);
    assert.ok(
      [...perRequest.values()].every((n) => n === 1),
      'no request moved the champion twice',
    );
  });
});
