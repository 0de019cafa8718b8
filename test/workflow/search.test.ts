import assert from 'node:assert/strict';
import path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createTrainingActivities } from '../../activities';
import type { TrainInput } from '../../activities/train';
import { describeFailure } from '../../client/format';
import { startTrainingPipeline } from '../../client/pipeline';
import { formatLineage } from '../../cli/registry-commands';
import { versionLineage } from '../../lib/lineage';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../../lib/spec';
import { stopProcess } from '../../tools/devserver';
import type { SearchSummary } from '../../workflows/definitions';
import {
  repoRoot,
  temporalAddress,
  tempHome,
  testClient,
  uniqueQueues,
  withWorkers,
  workflowBundle,
  type TestHome,
} from '../support/env';
import { kill, spawnWorker, until, type WorkerProcess } from '../support/worker-process';

const flights = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
const source = (start: string, end: string) => ({
  uri: 'vega-datasets:flights-3m.parquet',
  window: { column: 'date', start, end },
});

function searchSpec(name: string, search: unknown, epochs: number): ModelSpec {
  return parseModelSpec({ ...flights, name, training: { ...flights.training, epochs, search } });
}

describe('hyperparameter search in the pipeline, on a real Temporal dev server', () => {
  let t: TestHome;
  let client: Client;
  const processes: WorkerProcess[] = [];
  before(async () => {
    t = tempHome();
    client = await testClient();
  });
  after(async () => {
    await Promise.all(processes.map((w) => stopProcess(w.child, 2000)));
    await client.connection.close();
    t.cleanup();
  });

  it('trials spread over two training workers; one is SIGKILLed mid-trial and the trial resumes from its checkpoint', async () => {
    const spec = searchSpec(
      'flights-search',
      { space: { hiddenUnits: [[16], [32, 16]], learningRate: [0.01, 0.002] }, parallelism: 2 },
      5,
    );
    const queues = uniqueQueues();
    const spawn = (): WorkerProcess => {
      const w = spawnWorker(t.home, queues, 'training');
      processes.push(w);
      return w;
    };
    const { result, handle } = await withWorkers(t.deps, queues, ['pipeline'], async () => {
      const first = spawn();
      spawn();
      const started = await startTrainingPipeline(
        client,
        spec,
        source('2001-01-01', '2001-01-15'),
        { trainingTaskQueue: queues.training },
        queues.pipeline,
      );
      // the moment the first worker says a trial's epoch 1 is done, it dies
      await until('epoch 1 of a trial on the first worker', 180_000, () =>
        Promise.resolve(/epoch complete \[[^\]]*\] .*?\bepoch=[1-3]\b/.test(first.output()) ? true : undefined),
      );
      await kill(first);
      spawn();
      return { result: await started.handle.result(), handle: started.handle };
    });
    assert.equal(result.outcome, 'promoted', describeFailure(result));
    const search = result.training?.search as SearchSummary;
    assert.equal(search.trials.length, 4);
    assert.ok(
      search.trials.every((trial) => trial.error === undefined && trial.validationLoss !== null),
      JSON.stringify(search.trials),
    );
    const losses = search.trials.map((trial) => trial.validationLoss!);
    assert.equal(search.chosen, losses.indexOf(Math.min(...losses)), 'the lowest validation loss is chosen');
    assert.equal(result.artifact?.sha256, search.trials[search.chosen].artifactSha256, 'its model is the candidate');
    const resumed = search.trials.filter((trial) => trial.resumedFromEpoch !== null);
    assert.equal(resumed.length, 1, 'the trial on the killed worker resumed, the others ran through');
    assert.ok(resumed[0].resumedFromEpoch! >= 1);
    // every trial trained on rows minus the same validation share, and the registered version records the search
    const [version] = await t.deps.registry.listVersions(spec.name);
    assert.deepEqual((version.training as { search: SearchSummary }).search, search);
    const lineage = await versionLineage(t.deps.registry, t.deps.store, spec.name, version.version);
    const text = formatLineage(lineage);
    assert.match(text, / {2}search {7}grid, 4 trials, compared on validation loss \(0\.1 of the training rows\)/);
    assert.match(text, new RegExp(`\\* #${search.chosen} hiddenUnits`));
    // the trials ran on more than one worker (the identities the server recorded)
    const events = (await handle.fetchHistory()).events ?? [];
    const trainScheduled = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModel')
        .map((e) => String(e.eventId)),
    );
    const identities = new Set(
      events
        .filter((e) => trainScheduled.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)))
        .map((e) => e.activityTaskStartedEventAttributes?.identity),
    );
    assert.ok(identities.size >= 2, `trials ran on ${[...identities].join(', ')}`);
    // parallel trials, a kill and a retry: the history still replays against the workflow code
    await Worker.runReplayHistory(
      { workflowBundle: await workflowBundle() },
      await handle.fetchHistory(),
      handle.workflowId,
    );
  });

  it('a trial that fails for good is recorded and the others go on; at most `parallelism` train at once', async () => {
    const queues = uniqueQueues();
    let running = 0;
    let most = 0;
    // the activity boundary: the real training, except that one learning rate fails as a bad trial would
    const real = createTrainingActivities(t.deps);
    const trainModel = async (input: TrainInput) => {
      running++;
      most = Math.max(most, running);
      try {
        if (input.spec.training.learningRate === 0.5) {
          throw ApplicationFailure.nonRetryable('training diverged: loss is NaN after epoch 1', 'TrainingDiverged');
        }
        Context.current().heartbeat();
        return await real.trainModel(input);
      } finally {
        running--;
      }
    };
    const connection = await NativeConnection.connect({ address: temporalAddress() });
    const trainer = await Worker.create({
      connection,
      taskQueue: queues.training,
      activities: { ...real, trainModel },
      maxConcurrentActivityTaskExecutions: 4,
    });
    const training = trainer.run();
    try {
      const outcome = await withWorkers(t.deps, queues, ['pipeline'], async () => {
        const run = async (spec: ModelSpec) =>
          (
            await startTrainingPipeline(
              client,
              spec,
              source('2001-01-01', '2001-01-04'),
              { trainingTaskQueue: queues.training },
              queues.pipeline,
            )
          ).handle.result();
        const r = await run(searchSpec('flights-search-failing', { space: { learningRate: [0.01, 0.5, 0.002] } }, 2));
        // every trial failing fails the run, naming each trial and its error
        const failure = await run(searchSpec('flights-search-doomed', { space: { learningRate: [0.5] } }, 2)).then(
          () => assert.fail('a search with no successful trial must fail'),
          (err: unknown) => err,
        );
        return { r, failure };
      });
      const search = outcome.r.training?.search as SearchSummary;
      assert.equal(outcome.r.outcome, 'promoted');
      assert.deepEqual(
        search.trials.map((trial) => trial.error ?? 'ok'),
        ['ok', 'training diverged: loss is NaN after epoch 1', 'ok'],
      );
      assert.notEqual(search.chosen, 1);
      assert.equal(most, 2, 'two trials at once (the default parallelism), never three');
      assert.ok(outcome.failure instanceof WorkflowFailedError);
      assert.match(
        describeFailure(outcome.failure),
        /every one of 1 search trials failed: #0 \(learningRate 0\.5\): training diverged: loss is NaN after epoch 1/,
      );
      assert.equal((await t.deps.registry.listVersions('flights-search-doomed')).length, 0, 'nothing registered');
    } finally {
      trainer.shutdown();
      await training;
      await connection.close();
    }
  });
});
