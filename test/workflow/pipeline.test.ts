import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { startTrainingPipeline } from '../../client/pipeline';
import { describeFailure } from '../../client/format';
import type { SourceRef } from '../../lib/data/source';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../../lib/spec';
import {
  LumenBatch,
  LumenDataset,
  LumenModel,
  LumenOutcome,
  LumenStage,
  LumenVersion,
  statusQuery,
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

const example = (name: string): ModelSpec => loadModelSpec(path.join(repoRoot, 'examples', 'models', `${name}.json`));

/** The flights spec, trained briefly: these tests are about orchestration on real data, not model quality. */
const flights = (): ModelSpec => {
  const spec = example('flights-delay');
  return parseModelSpec({ ...spec, training: { ...spec.training, epochs: 2 } });
};

const flightDays = (from: string, to: string): SourceRef => ({
  uri: 'vega-datasets:flights-3m.parquet',
  window: { column: 'date', start: from, end: to },
});

describe('trainingPipeline on a real Temporal dev server', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();

  before(async () => {
    t = tempHome();
    client = await testClient();
    await workflowBundle();
  });
  after(async () => {
    await client.connection.close();
    t.cleanup();
  });

  const run = <T>(fn: () => Promise<T>): Promise<T> => withWorkers(t.deps, queues, ['pipeline', 'training'], fn);
  const start = (spec: ModelSpec, source: SourceRef) =>
    startTrainingPipeline(client, spec, source, { trainingTaskQueue: queues.training, actor: 'test' }, queues.pipeline);

  it('ingests, validates, trains, evaluates, registers and promotes a first model on real flights', async () => {
    const spec = flights();
    const result = await run(async () => {
      const started = await start(spec, flightDays('2001-01-01', '2001-01-04'));
      assert.equal(started.deduplicated, false);
      const r = await started.handle.result();
      const status = await started.handle.query(statusQuery);
      assert.equal(status.stage, 'done');
      const described = await started.handle.describe();
      const attributes = described.typedSearchAttributes;
      assert.equal(attributes.get(LumenModel), spec.name);
      assert.equal(attributes.get(LumenStage), 'done');
      // what a person filters and adds as columns in the Web UI
      assert.equal(attributes.get(LumenVersion), 1);
      assert.equal(attributes.get(LumenOutcome), 'promoted');
      assert.equal(attributes.get(LumenBatch), '2001-01-01…2001-01-04');
      assert.equal(attributes.get(LumenDataset), r.dataset.sha256.slice(0, 12));
      // the history this run wrote replays deterministically against the current workflow code
      await Worker.runReplayHistory(
        { workflowBundle: await workflowBundle() },
        await started.handle.fetchHistory(),
        started.workflowId,
      );
      return r;
    });
    assert.equal(result.outcome, 'promoted');
    assert.equal(result.version, 1);
    assert.equal(result.champion, 1);
    assert.ok(result.dataset.rows > 40_000, `rows ${result.dataset.rows}`);
    assert.ok(result.metrics!.auc > 0.55 && result.metrics!.auc <= 1, `auc ${result.metrics!.auc}`);
    assert.deepEqual(
      result.steps.map((s) => s.stage),
      ['ingest', 'validate', 'dedupe', 'train', 'evaluate', 'register', 'load-check', 'promote'],
    );

    const v = await t.deps.registry.getVersion(spec.name, 1);
    assert.ok(v);
    assert.equal(v.datasetSha256, result.dataset.sha256);
    assert.equal(v.backend, 'tensorflow');
    assert.equal(v.seed, spec.training.seed);
    assert.equal(v.codeVersion, 'test-code-version');
    assert.match(v.workflowId, /^train:flights-delay:[0-9a-f]{16}:[0-9a-f]{12}$/);
    assert.ok(v.runId.length > 0);
    assert.equal(v.artifact.sha256, result.artifact!.sha256);
    await t.deps.store.verify(v.artifact);
    assert.equal(await t.deps.registry.alias(spec.name, 'champion'), 1);
    assert.equal(result.validation.outcome, 'pass', result.validation.summary);
    const [validation] = await t.deps.registry.listValidations({ model: spec.name, dataset: result.dataset.sha256 });
    assert.equal(validation.decision, 'accepted');
    assert.equal(v.lineage.validation.id, validation.id);
    assert.equal(v.lineage.sourceDataset, result.dataset.sha256);
    assert.equal(v.lineage.contractHash, validation.contractHash);
    await t.deps.store.verify(v.lineage.validation.html);
    assert.ok((await t.deps.registry.getDataset(result.dataset.sha256))?.profile, 'the batch profile is stored');
  });

  it('the same batch is never trained twice', async () => {
    const spec = flights();
    await run(async () => {
      const again = await start(spec, flightDays('2001-01-01', '2001-01-04'));
      assert.equal((await again.handle.result()).version, 1);
      const runs = [];
      for await (const w of client.workflow.list({ query: `WorkflowId = '${again.workflowId}'` })) runs.push(w);
      assert.equal(runs.length, 1, 'one execution for this batch');
    });
    assert.equal((await t.deps.registry.listVersions(spec.name)).length, 1);
  });

  it('an edited spec on the same batch is a new run that trains; the unedited spec still joins the first', async () => {
    // a model of its own, so the versions of the tests below stay as they are
    const spec = parseModelSpec({ ...flights(), name: 'flights-edited' });
    const edited = parseModelSpec({ ...spec, training: { ...spec.training, epochs: 3 } });
    await run(async () => {
      assert.equal((await (await start(spec, flightDays('2001-01-01', '2001-01-03'))).handle.result()).version, 1);
      const first = await start(spec, flightDays('2001-01-01', '2001-01-03'));
      const second = await start(edited, flightDays('2001-01-01', '2001-01-03'));
      assert.equal(first.state, 'finished');
      assert.equal(second.state, 'started', 'an edited spec is not the old run');
      assert.equal(first.dataFingerprint, second.dataFingerprint);
      assert.notEqual(first.specHash, second.specHash);
      assert.notEqual(second.workflowId, first.workflowId);
      const r = await second.handle.result();
      assert.equal(r.version, 2, 'the edited spec trained a new version');
      assert.equal((await t.deps.registry.getVersion(spec.name, 2))?.specHash, second.specHash);
    });
  });

  it('the same content in a differently encoded file is recognised after ingest and not retrained', async () => {
    const spec = example('seattle-weather');
    // same rows, different bytes (BOM, CRLF): another workflow id, the same snapshot
    const reencoded = path.join(t.home, 'weather-crlf.csv');
    fs.writeFileSync(
      reencoded,
      `\ufeff${fs.readFileSync(vegaPath('seattle-weather.csv'), 'utf8').replace(/\n/g, '\r\n')}`,
    );
    const [first, second] = await run(async () => {
      const a = await start(spec, { uri: 'vega-datasets:seattle-weather.csv' });
      const resultA = await a.handle.result();
      const b = await start(spec, { uri: reencoded });
      assert.notEqual(b.workflowId, a.workflowId);
      return [resultA, await b.handle.result()];
    });
    assert.equal(first.outcome, 'promoted');
    assert.equal(second.outcome, 'duplicate');
    assert.equal(second.version, first.version);
    // the champion the duplicate leaves in place (it used to say "none")
    assert.equal(second.champion, first.version);
    assert.equal((await t.deps.registry.listVersions(spec.name)).length, 1);
    // multiclass metrics follow from the task declared in the spec
    assert.deepEqual(Object.keys(first.metrics!).sort(), ['accuracy', 'logLoss', 'macroF1', 'rows']);
  });

  it('a regression model runs through the same pipeline with only its spec (cars.json)', async () => {
    const result = await run(async () =>
      (await start(example('cars-mpg'), { uri: 'vega-datasets:cars.json' })).handle.result(),
    );
    assert.equal(result.outcome, 'promoted');
    assert.deepEqual(Object.keys(result.metrics!).sort(), ['mae', 'r2', 'rmse', 'rows']);
    assert.ok(result.metrics!.r2 > 0.6, `r2 ${result.metrics!.r2}`);
  });

  it('penguins: column names with spaces and units, a bad "." in Sex set aside, multiclass from the spec alone', async () => {
    const result = await run(async () =>
      (await start(example('penguins-species'), { uri: 'vega-datasets:penguins.json' })).handle.result(),
    );
    assert.equal(result.outcome, 'promoted', result.verdict?.reason ?? result.validation.summary);
    assert.equal(result.validation.outcome, 'warn');
    assert.match(
      result.validation.summary,
      /column "Sex": 1 bad rows — e\.g\. row \d+: Sex: "\." is not in the declared domain/,
    );
    assert.ok(result.metrics!.accuracy > 0.9, `accuracy ${result.metrics!.accuracy}`);
    const v = await t.deps.registry.getVersion('penguins-species', result.version!);
    assert.ok(v!.lineage.validation.quarantine, 'the bad row is kept in a quarantine file, in lineage');
  });

  it('movies: text dates in a declared format, rows without a label dropped and counted, a useful regression', async () => {
    const result = await run(async () =>
      (await start(example('movies-imdb'), { uri: 'vega-datasets:movies.json' })).handle.result(),
    );
    assert.equal(result.outcome, 'promoted', result.verdict?.reason ?? result.validation.summary);
    // release dates decades in the future are bad rows, set aside; the rest trains
    assert.match(result.validation.summary, /Release Date: [^;]* is in the future/);
    // 213 of the 3,201 films have no IMDB rating: dropped from training and evaluation, and said so
    const unlabelled = result.training!.unlabelledRows;
    assert.ok(unlabelled > 150 && unlabelled < 220, `rows without a label: ${unlabelled}`);
    const v = await t.deps.registry.getVersion('movies-imdb', result.version!);
    const trainedOn = await t.deps.registry.getDataset(v!.datasetSha256);
    // the example stops early: a tenth of the training rows validate each epoch, and the best epoch is kept
    const { rows, holdoutRows, validationRows, bestEpoch, stoppedEarly, epochs } = result.training!;
    assert.equal(rows + validationRows! + holdoutRows + unlabelled, trainedOn!.rows);
    assert.ok(stoppedEarly && bestEpoch! < epochs && epochs < 60, `stopped at ${epochs}, kept ${bestEpoch}`);
    // the default gate refuses anything no better than predicting the mean rating
    assert.ok(result.metrics!.r2 > 0.19, `r2 ${result.metrics!.r2} (Ridge: 0.19)`);
    assert.equal(result.verdict?.checks.find((c) => c.name === 'baseline')?.outcome, 'pass');
    assert.equal((v!.training as { unlabelledRows: number }).unlabelledRows, unlabelled, 'in lineage too');
  });

  it('a later batch is judged against the champion on the same holdout', async () => {
    const spec = flights();
    const result = await run(async () => (await start(spec, flightDays('2001-01-04', '2001-01-07'))).handle.result());
    assert.equal(result.version, 2);
    assert.ok(result.verdict);
    assert.equal(result.verdict.championVersion, 1);
    const vsChampion = result.verdict.checks.find((c) => c.name === 'vs-champion');
    assert.ok(vsChampion && vsChampion.outcome !== 'skipped' && Number.isFinite(vsChampion.value));
    const v2 = await t.deps.registry.getVersion(spec.name, 2);
    const evaluation = v2?.evaluation as { champion: { version: number; rows: number }; holdoutRows: number };
    assert.equal(evaluation.champion.version, 1);
    assert.equal(evaluation.champion.rows, evaluation.holdoutRows);
    // what each relies on, measured on the same rows: in the result, and kept on the version
    const importance = result.importance!;
    assert.equal(importance.championVersion, 1);
    assert.deepEqual(importance.features.map((f) => f.feature).sort(), spec.features.map((f) => f.name).sort());
    assert.ok(importance.features.every((f) => f.champion !== null && f.change === f.mean - f.champion.mean));
    assert.deepEqual((v2?.evaluation as { importance: unknown }).importance, importance);
    const champion = await t.deps.registry.alias(spec.name, 'champion');
    assert.equal(champion, result.verdict.passed ? 2 : 1);
    assert.equal(result.outcome, result.verdict.passed ? 'promoted' : 'registered');
  });

  it('concurrent pipelines of one model never interleave their promotions', async () => {
    // about the promotion race, not validation: years apart must pass whichever run is champion by then
    const spec = parseModelSpec({
      ...example('seattle-weather'),
      name: 'weather-race',
      validation: {
        drift: { numeric: { fail: 10 }, categorical: { fail: 10 }, time: { gapDays: { warn: 62, fail: 100_000 } } },
      },
    });
    const years = ['2012', '2013', '2014'].map((y) => ({
      uri: 'vega-datasets:seattle-weather.csv',
      window: { column: 'date', start: `${y}-01-01`, end: `${Number(y) + 1}-01-01` },
    }));
    const results = await run(async () => {
      const started = await Promise.all(years.map((source) => start(spec, source)));
      return Promise.all(started.map((s) => s.handle.result()));
    });
    assert.deepEqual(results.map((r) => r.version).sort(), [1, 2, 3]);
    const history = (await t.deps.registry.aliasHistory(spec.name)).filter((e) => e.alias === 'champion');
    assert.ok(history.length >= 1);
    // every move starts from where the previous one ended: no lost or interleaved update
    history.forEach((e, i) => assert.equal(e.fromVersion, i === 0 ? null : history[i - 1].toVersion));
    assert.equal(await t.deps.registry.alias(spec.name, 'champion'), history[history.length - 1].toVersion);
  });

  it('a corrupt source fails at once with a clear non-retryable error and registers nothing', async () => {
    const spec = example('seattle-weather');
    // cut short, it is refused before a run starts, naming the file and what is wrong with it
    const truncated = path.join(t.home, 'truncated.parquet');
    const bytes = fs.readFileSync(vegaPath('flights-3m.parquet')).subarray(0, 100_000);
    fs.writeFileSync(truncated, bytes);
    await assert.rejects(start(spec, { uri: truncated }), /truncated\.parquet is a Parquet file cut short/);
    // Parquet's magic at both ends, nothing readable between: only reading finds out, in the run
    const corrupt = path.join(t.home, 'corrupt.parquet');
    fs.writeFileSync(corrupt, Buffer.concat([bytes, Buffer.from('PAR1')]));
    const before = (await t.deps.registry.listVersions(spec.name)).length;
    const err = await run(async () => {
      const started = await start(spec, { uri: corrupt });
      const e = await started.handle.result().then(
        () => assert.fail('pipeline should fail'),
        (x: unknown) => x,
      );
      const history = await started.handle.fetchHistory();
      const failures = history.events?.filter((ev) => ev.activityTaskFailedEventAttributes) ?? [];
      assert.equal(failures.length, 1, 'non-retryable: the ingest activity ran once');
      return e;
    });
    assert.ok(err instanceof WorkflowFailedError);
    const message = describeFailure(err);
    assert.match(message, /ingest: cannot read parquet source .*corrupt\.parquet/);
    assert.equal((err.cause as { type?: string }).type, 'SourceError');
    assert.equal((await t.deps.registry.listVersions(spec.name)).length, before);
  });

  it('a batch missing a contract column fails validation, naming the column, and never trains', async () => {
    const spec = example('seattle-weather');
    const file = path.join(t.home, 'no-wind.csv');
    const lines = fs.readFileSync(vegaPath('seattle-weather.csv'), 'utf8').trim().split('\n');
    fs.writeFileSync(
      file,
      lines
        .map((l) =>
          l
            .split(',')
            .filter((_, i) => i !== 4)
            .join(','),
        )
        .join('\n'),
    );
    const err = await run(async () => (await start(spec, { uri: file })).handle.result().catch((e: unknown) => e));
    assert.ok(err instanceof WorkflowFailedError);
    assert.match(
      describeFailure(err),
      /validate: dataset .*no-wind\.csv.* failed validation: column "wind" \(float\) is missing/,
    );
    assert.equal((err.cause as { type?: string }).type, 'DataValidationError');
    assert.equal((await t.deps.registry.listVersions(spec.name)).length, 1, 'still only the earlier version');
  });
});
