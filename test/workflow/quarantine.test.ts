import assert from 'node:assert/strict';
import path from 'node:path';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Context as ActivityContext } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';
import { startTrainingPipeline, type StartedPipeline } from '../../client/pipeline';
import { formatLineage } from '../../cli/registry-commands';
import { datasetLineage, versionLineage } from '../../lib/lineage';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import type { SourceRef } from '../../lib/data/source';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../../lib/spec';
import {
  discardQuarantine,
  LumenStage,
  releaseQuarantine,
  statusQuery,
  type PipelineStatus,
} from '../../workflows/definitions';
import {
  repoRoot,
  tempHome,
  testClient,
  uniqueQueues,
  vegaPath,
  withWorkers,
  workflowBundle,
  type TestHome,
} from '../support/env';

describe('quarantine: a batch that breaks its contract waits for a person', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();
  const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
  const spec: ModelSpec = parseModelSpec({ ...base, training: { ...base.training, epochs: 2 } });
  const flights = `read_parquet(${sqlString(vegaPath('flights-3m.parquet'))})`;

  const run = <T>(fn: () => Promise<T>): Promise<T> => withWorkers(t.deps, queues, ['pipeline', 'training'], fn);
  const start = (s: ModelSpec, source: SourceRef): Promise<StartedPipeline> =>
    startTrainingPipeline(client, s, source, { trainingTaskQueue: queues.training, actor: 'test' }, queues.pipeline);

  /** A week of real flights, damaged by `replace` (a DuckDB REPLACE list), written as Parquet. */
  async function week(name: string, from: string, to: string, replace?: string): Promise<SourceRef> {
    const file = path.join(t.home, `${name}.parquet`);
    const select = `SELECT * ${replace ? `REPLACE (${replace})` : ''} FROM ${flights} WHERE date >= '${from}' AND date < '${to}'`;
    await withDuckDB((con) => con.run(`COPY (${select}) TO ${sqlString(file)} (FORMAT parquet)`));
    return { uri: file };
  }

  async function waitForQuarantine(started: StartedPipeline): Promise<PipelineStatus> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await started.handle.query(statusQuery);
      if (status.stage === 'quarantined') return status;
      assert.ok(
        status.stage !== 'done' && status.stage !== 'failed',
        `pipeline ended (${status.stage}) instead of waiting`,
      );
      assert.ok(Date.now() < deadline, 'batch was not quarantined within a minute');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  before(async () => {
    t = tempHome();
    client = await testClient();
    await workflowBundle();
    // the champion whose training data is the reference for the batches below
    const first = await run(async () =>
      (await start(spec, await week('week1', '2001-01-01', '2001-01-08'))).handle.result(),
    );
    assert.equal(first.outcome, 'promoted');
  });
  after(async () => {
    await client.connection.close();
    t.cleanup();
  });

  it('discard: nothing trains and the decision is recorded', async () => {
    const before = (await t.deps.registry.listVersions(spec.name)).length;
    const source = await week('km-discard', '2001-01-15', '2001-01-22', 'round(distance * 1.609) AS distance');
    const result = await run(async () => {
      const started = await start(spec, source);
      const status = await waitForQuarantine(started);
      await started.handle.executeUpdate(discardQuarantine, {
        args: [{ dataset: status.quarantine!.dataset, by: 'ben', reason: 'wrong units, resend' }],
      });
      // a second decision is refused: the batch is no longer waiting
      await assert.rejects(
        started.handle.executeUpdate(releaseQuarantine, {
          args: [{ dataset: status.quarantine!.dataset, by: 'ben', reason: 'oops' }],
        }),
        WorkflowUpdateFailedError,
      );
      return started.handle.result();
    });
    assert.equal(result.outcome, 'discarded');
    assert.equal(result.version, null);
    assert.equal((await t.deps.registry.listVersions(spec.name)).length, before, 'nothing registered');
    const [v] = await t.deps.registry.listValidations({ model: spec.name, dataset: result.dataset.sha256 });
    assert.equal(v.decision, 'discarded');
    assert.equal(v.decidedBy, 'ben');
  });

  it('timeout: nobody decides, the batch is rejected and an alert is raised; a decision after the deadline is refused', async () => {
    const impatient = parseModelSpec({ ...spec, validation: { ...spec.validation, quarantine: { timeout: '3s' } } });
    const source = await week('km-timeout', '2001-01-22', '2001-01-29', 'round(distance * 1.609) AS distance');
    // the rejection takes a while to record: a release that arrives meanwhile, after the deadline, must not pass
    let recording: () => void = () => undefined;
    const recordingStarted = new Promise<void>((resolve) => (recording = resolve));
    const slowRecord = (ctx: ActivityContext): ActivityInterceptors => ({
      inbound: {
        async execute(input, next) {
          if (ctx.info.activityType === 'decideQuarantine') {
            recording();
            await new Promise((r) => setTimeout(r, 2000));
          }
          return next(input);
        },
      },
    });
    const result = await withWorkers(
      t.deps,
      queues,
      ['pipeline', 'training'],
      async () => {
        const started = await start(impatient, source);
        await recordingStarted;
        const late = started.handle.executeUpdate(releaseQuarantine, {
          args: [{ dataset: (await started.handle.query(statusQuery)).dataset!.sha256, by: 'ana', reason: 'late' }],
        });
        await assert.rejects(
          late,
          (e: unknown) =>
            e instanceof WorkflowUpdateFailedError &&
            /rejected: nobody decided by its deadline/.test(String(e.cause?.message)),
        );
        return started.handle.result();
      },
      { activityInterceptors: [slowRecord] },
    );
    assert.equal(result.outcome, 'rejected');
    const [v] = await t.deps.registry.listValidations({ model: spec.name, dataset: result.dataset.sha256 });
    assert.equal(v.decision, 'rejected');
    assert.equal(v.decidedBy, 'timeout');
    assert.ok((await t.deps.registry.listAlerts(spec.name)).some((a) => a.kind === 'quarantine-rejected'));
  });

  it('a few bad rows: quarantined, the good rows train, and lineage keeps both', async () => {
    const source = await week(
      'few-bad',
      '2001-01-08',
      '2001-01-15',
      'CASE WHEN hash(date, origin, destination) % 500 = 0 THEN -1 ELSE distance END AS distance',
    );
    const result = await run(async () => (await start(spec, source)).handle.result());
    assert.ok(result.outcome === 'promoted' || result.outcome === 'registered', result.outcome);
    assert.equal(result.validation.outcome, 'warn');
    const version = await t.deps.registry.getVersion(spec.name, result.version!);
    assert.ok(version);
    assert.equal(version.lineage.sourceDataset, result.dataset.sha256);
    assert.notEqual(version.datasetSha256, result.dataset.sha256, 'trained on the good rows, a dataset of their own');
    assert.ok(version.lineage.validation.quarantine, 'the bad rows are kept in a quarantine file');
    const trainedOn = await t.deps.registry.getDataset(version.datasetSha256);
    assert.equal(trainedOn?.derivedFrom?.sha256, result.dataset.sha256);
    assert.ok(trainedOn && trainedOn.rows < result.dataset.rows);
    const training = version.training as { trainingRows: number; holdoutRows: number };
    assert.ok(training.trainingRows + training.holdoutRows <= trainedOn.rows);

    // lineage, both ways: the version knows its batch; the batch knows the version
    const view = await versionLineage(t.deps.registry, t.deps.store, spec.name, result.version!);
    assert.equal(view.sourceDataset?.sha256, result.dataset.sha256);
    assert.equal(view.trainingDataset?.sha256, version.datasetSha256);
    assert.match(view.validationSummary ?? '', /passed with warnings: .*bad rows/);
    assert.equal(view.validation?.decision, 'accepted');
    const fromBatch = await datasetLineage(t.deps.registry, result.dataset.sha256);
    assert.deepEqual(
      fromBatch.versions.map((v) => v.version),
      [result.version],
    );
    assert.match(formatLineage(view), /trained on {3}[0-9a-f]{64} \(\d+ rows\): \d+ bad rows quarantined/);
  });

  // last: once released, the kilometre batch trains the new champion and becomes the reference for later batches
  it('release: refuses requests that do not name the batch or lack a reason, then trains on it', async () => {
    const source = await week('km-release', '2001-01-29', '2001-02-05', 'round(distance * 1.609) AS distance');
    const result = await run(async () => {
      const started = await start(spec, source);
      const status = await waitForQuarantine(started);
      assert.ok(
        status.quarantine && /column "distance" drifted/.test(status.quarantine.summary),
        status.quarantine?.summary,
      );
      const described = await started.handle.describe();
      assert.equal(described.typedSearchAttributes.get(LumenStage), 'quarantined', 'filterable in the Web UI');
      const sha = status.quarantine.dataset;

      await assert.rejects(
        started.handle.executeUpdate(releaseQuarantine, {
          args: [{ dataset: 'f'.repeat(12), by: 'ana', reason: 'units fixed' }],
        }),
        (e: unknown) =>
          e instanceof WorkflowUpdateFailedError &&
          /does not name the quarantined batch/.test(String(e.cause?.message)),
      );
      await assert.rejects(
        started.handle.executeUpdate(releaseQuarantine, {
          args: [{ dataset: sha.slice(0, 12), by: 'ana', reason: '  ' }],
        }),
        (e: unknown) => e instanceof WorkflowUpdateFailedError && /needs a reason/.test(String(e.cause?.message)),
      );
      // payloads of the wrong kind (a script, a hand-made call) get a refusal naming the field, not a TypeError
      for (const [payload, expect] of [
        [null, /a quarantine decision must be an object with dataset, by, reason, proof; got null/],
        [{ dataset: sha, by: 7, reason: 'x' }, /"by" must be text; got number 7/],
        [{ dataset: sha, by: 'ana', reason: 'x', force: true }, /unknown field\(s\) force/],
        [{ dataset: sha, by: 'ana', reason: 'x'.repeat(10_001) }, /"reason" is 10001 characters; at most 10000/],
      ] as const) {
        await assert.rejects(
          started.handle.executeUpdate(releaseQuarantine, { args: [payload as never] }),
          (e: unknown) => e instanceof WorkflowUpdateFailedError && expect.test(String(e.cause?.message)),
          JSON.stringify(payload).slice(0, 80),
        );
      }
      const history = await started.handle.fetchHistory();
      assert.ok(
        !(history.events ?? []).some((ev) => ev.workflowExecutionUpdateAcceptedEventAttributes),
        'refused updates never reach the history',
      );
      const answer = await started.handle.executeUpdate(releaseQuarantine, {
        args: [{ dataset: sha.slice(0, 16), by: 'ana', reason: 'distances are in km this week; accepted knowingly' }],
      });
      assert.deepEqual(answer, { decision: 'released', dataset: sha });
      return started.handle.result();
    });
    assert.ok(result.outcome === 'promoted' || result.outcome === 'registered');
    assert.equal(result.validation.decision, 'released');
    const [v] = await t.deps.registry.listValidations({ model: spec.name, dataset: result.dataset.sha256 });
    assert.equal(v.decision, 'released');
    assert.equal(v.decidedBy, 'ana');
    assert.match(v.reason ?? '', /accepted knowingly/);
    const version = await t.deps.registry.getVersion(spec.name, result.version!);
    assert.equal(version?.lineage.validation.decision, 'released');
    assert.equal(version?.lineage.validation.decidedBy, 'ana');
    const alerts = await t.deps.registry.listAlerts(spec.name);
    assert.ok(alerts.some((a) => a.kind === 'quarantine' && a.severity === 'critical'));
    assert.ok(alerts.some((a) => a.kind === 'quarantine-released'));
  });
});
