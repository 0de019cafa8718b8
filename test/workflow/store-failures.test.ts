import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startTrainingPipeline } from '../../client/pipeline';
import { parseModelSpec } from '../../lib/spec';
import { stopProcess } from '../../tools/devserver';
import { statusQuery } from '../../workflows/definitions';
import { eventually, tempHome, testClient, uniqueQueues, type TestHome } from '../support/env';
import { SmallVolume } from '../support/small-volume';
import { weather, weatherYear } from '../support/weather';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

/**
 * The artifact store full, and read-only, under a real worker (its store a small tmpfs in its own mount namespace):
 * the failure names the store, the path, the errno and the free space; a critical alert says so at the first
 * occurrence while the retries go on; the run goes on by itself once a person frees space or makes the volume
 * writable; and no temporary file is left behind by the failed attempts. Before: a read-only store at ingest read
 * as "cannot read parquet source" and failed for good; a full one was retried ten times in silence, leaving a
 * zero-byte file in .tmp at each attempt.
 */
describe('store failures: a full or read-only artifact store is said at once, and survived', () => {
  let t: TestHome;
  let client: Client;
  let worker: WorkerProcess;
  let volume: SmallVolume;
  const queues = uniqueQueues();
  const pid = () => worker.child.pid!;
  const alerts = (kind: string) => t.deps.registry.listAlerts().then((list) => list.filter((a) => a.kind === kind));

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-store-');
    client = await testClient();
    volume = new SmallVolume(path.join(t.home, 'artifacts'), 64);
    fs.mkdirSync(volume.dir, { recursive: true });
    worker = spawnWorker(t.home, queues, 'pipeline,training', undefined, {}, volume.prefix());
    await eventually('the worker polls', () =>
      Promise.resolve(/polling pipeline, training/.test(worker.output()) ? true : undefined),
    );
  });
  after(async () => {
    if (process.env.DEBUG_WORKER) console.log(worker.output().slice(-4000));
    await stopProcess(worker.child, 2000);
    await client.connection.close();
    t.cleanup();
  });

  it('read-only at ingest: EROFS named with the store and path, alerted at once, and the run goes on once writable', async function () {
    this.timeout(300_000);
    const spec = parseModelSpec({ ...weather, name: 'weather-readonly', training: { ...weather.training, epochs: 5 } });
    await volume.readOnly(pid());
    const run = await startTrainingPipeline(
      client,
      spec,
      weatherYear(2012),
      { trainingTaskQueue: queues.training },
      queues.pipeline,
    );
    const [alert] = await eventually(
      'a critical alert',
      async () => {
        const found = await alerts('store-read-only');
        return found.length ? found : undefined;
      },
      60_000,
    );
    assert.equal(alert.severity, 'critical');
    assert.match(
      alert.message,
      new RegExp(
        `the artifact store ${volume.dir.replace(/\//g, '\\/')} cannot be written: EROFS \\(the file system is read-only\\) writing ${volume.dir.replace(/\//g, '\\/')}\\/`,
      ),
    );
    assert.match(alert.message, /free of .*ingestDataset .* is retried meanwhile/);
    assert.equal((await run.handle.query(statusQuery)).stage, 'ingest', 'still trying, not failed for good');
    await volume.writable(pid());
    const result = await run.handle.result();
    assert.equal(result.outcome, 'promoted');
    assert.equal((await alerts('store-read-only')).length, 1, 'one alert, however many attempts');
  });

  it('full during training: ENOSPC named, alerted at once, no temporary file left by the failed attempts, done once space is freed', async function () {
    this.timeout(300_000);
    const spec = parseModelSpec({ ...weather, name: 'weather-full', training: { ...weather.training, epochs: 200 } });
    const run = await startTrainingPipeline(
      client,
      spec,
      weatherYear(2013),
      { trainingTaskQueue: queues.training },
      queues.pipeline,
    );
    await eventually('training', async () =>
      (await run.handle.query(statusQuery)).stage === 'train' ? true : undefined,
    );
    await volume.fill(pid());
    const [alert] = await eventually('a critical alert', async () => {
      const found = await alerts('store-full');
      return found.length ? found : undefined;
    });
    assert.match(
      alert.message,
      /cannot be written: ENOSPC \(no space left on the device\) writing \/.*; [\d.]+ K?B free of 64\.0 MB/,
    );
    assert.equal(alert.model, spec.name);
    // the attempts that failed took their temporary files with them: none piles up in .tmp
    await new Promise((r) => setTimeout(r, 5000));
    assert.ok(
      (await volume.list(pid(), '.tmp')).length <= 2,
      `left in .tmp: ${(await volume.list(pid(), '.tmp')).join(', ')}`,
    );
    await volume.free(pid());
    const result = await run.handle.result();
    assert.equal(result.outcome, 'promoted');
    // the monitor the promotion started may be writing its first report at this instant: what a live activity
    // holds goes once it ends; what a failed attempt left behind would stay
    let left: string[] = [];
    await eventually(
      'nothing left in .tmp',
      async () => ((left = await volume.list(pid(), '.tmp')).length === 0 ? true : undefined),
      20_000,
    ).catch(() => assert.fail(`left in .tmp after the run: ${left.join(', ')}`));
    assert.equal((await alerts('store-full')).length, 1);
  });
});
