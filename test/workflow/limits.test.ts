import assert from 'node:assert/strict';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { describeFailure } from '../../client/format';
import { startTrainingPipeline } from '../../client/pipeline';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { stopProcess } from '../../tools/devserver';
import { repoRoot, tempHome, testClient, uniqueQueues, type TestHome } from '../support/env';
import { spawnWorker, until, type WorkerProcess } from '../support/worker-process';

/** an example under a name of its own: the dev server is shared, and the same batch of a model never trains twice */
const example = (name: string) => {
  const spec = loadModelSpec(path.join(repoRoot, 'examples', 'models', `${name}.json`));
  return parseModelSpec({ ...spec, name: `${name}-limits` });
};

describe('limits: a batch far larger than the worker may hold', () => {
  let t: TestHome;
  let client: Client;
  let worker: WorkerProcess | undefined;
  before(async () => {
    t = tempHome();
    client = await testClient();
  });
  after(async () => {
    if (worker) await stopProcess(worker.child, 2000);
    await client.connection.close();
    t.cleanup();
  });

  it('is refused with how much it needs and what to change; the worker lives on and trains the next batch', async () => {
    const queues = uniqueQueues();
    // January's flights load as ~60 MB of columns: ten times this worker's training memory
    worker = spawnWorker(t.home, queues, 'pipeline,training', undefined, { LUMEN_TRAINING_MEMORY: '6MB' });
    const w = worker;
    await until('the worker polls', 120_000, () => Promise.resolve(/polling/.test(w.output()) ? true : undefined));
    const start = (name: string, uri: string, window?: { column: string; start: string; end: string }) =>
      startTrainingPipeline(
        client,
        example(name),
        { uri, ...(window ? { window } : {}) },
        { trainingTaskQueue: queues.training },
        queues.pipeline,
      );
    const big = await start('flights-delay', 'vega-datasets:flights-3m.parquet', {
      column: 'date',
      start: '2001-01-01',
      end: '2001-02-01',
    });
    const failure = await big.handle.result().then(
      () => assert.fail('a batch ten times the training memory must be refused'),
      (err: unknown) => describeFailure(err),
    );
    assert.match(
      failure,
      /train: dataset [0-9a-f]{12} has 508,239 rows: loading its 5 columns takes about \d+ MB, over this worker's training memory of 6 MB \(LUMEN_TRAINING_MEMORY\)\. Cap the rows with training\.maxTrainingRows/,
    );
    // refused once, not retried: the same batch can never fit
    const events = (await big.handle.fetchHistory()).events ?? [];
    assert.ok(!events.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1), 'no activity was retried');
    assert.equal(w.child.exitCode, null, 'the worker is still running');
    assert.equal(w.child.signalCode, null);

    const small = await start('seattle-weather', 'vega-datasets:seattle-weather.csv');
    const r = await small.handle.result();
    assert.equal(r.outcome, 'promoted');
    assert.equal(
      (await t.deps.registry.listVersions('flights-delay-limits')).length,
      0,
      'nothing registered for the refused batch',
    );
  });
});
