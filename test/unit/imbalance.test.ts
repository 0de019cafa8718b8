import assert from 'node:assert/strict';
import path from 'node:path';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { snapshotSource } from '../../lib/data/snapshot';
import { evaluateArtifact, evaluationOptions, loadHoldout } from '../../lib/evaluation/evaluate';
import { decideGate } from '../../lib/gate';
import { majorityBaseline } from '../../lib/metrics';
import { balancedOrder } from '../../lib/model/trainer';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../../lib/spec';
import { trainOnDataset } from '../../lib/training';
import { proposeSpec } from '../../lib/validation/infer';
import { repoRoot, tempHome, vegaPath, type TestHome } from '../support/env';

const example = (name: string): ModelSpec => loadModelSpec(path.join(repoRoot, 'examples', 'models', `${name}.json`));

/** Uneven classes: rare ones named, not lost; balanced draws; settings by size; a majority guesser refused. */
describe('rare classes and imbalance', () => {
  let t: TestHome;
  before(() => (t = tempHome()));
  after(() => t.cleanup());

  it('a class too rare to learn is named with its count and left out of training and the holdout', async () => {
    // seattle weather with three days relabelled "hail": a class of three rows
    const file = path.join(t.home, 'weather-hail.csv');
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT * REPLACE (CASE WHEN date IN ('2012-01-05', '2013-03-01', '2014-07-09') THEN 'hail' ELSE weather END AS weather)
                 FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))})) TO ${sqlString(file)} (FORMAT csv, HEADER)`,
      ),
    );
    const dataset = await snapshotSource(t.deps.store, { uri: file });
    const base = example('seattle-weather');
    const spec = parseModelSpec({ ...base, training: { ...base.training, epochs: 2 } });
    const trained = await trainOnDataset(t.deps.store, spec, dataset, {
      checkpointKind: 'checkpoints/test-rare',
      onCheckpoint: () => Promise.resolve(),
    });
    assert.deepEqual(trained.rareClasses, [{ class: 'hail', rows: 3 }]);
    assert.equal(trained.unlabelledRows, 0, 'a rare class is not "without a label"');
    const { table, rows } = await loadHoldout(t.deps.store, spec, dataset);
    const labels = table.columns.get('string:weather')!.values as (string | null)[];
    assert.ok(![...rows].some((r) => labels[r] === 'hail'), 'no hail row is judged on the holdout');
    const evaluation = await evaluateArtifact(t.deps.store, trained.artifact, table, rows, evaluationOptions(spec));
    assert.ok(evaluation.metrics.macroF1 >= 0);
    // declared classes are the person's choice: kept, however rare
    const declared = parseModelSpec({
      ...spec,
      label: { kind: 'classes', column: 'weather', classes: ['drizzle', 'fog', 'hail', 'rain', 'snow', 'sun'] },
    });
    const kept = await trainOnDataset(t.deps.store, declared, dataset, {
      checkpointKind: 'checkpoints/test-rare-declared',
      onCheckpoint: () => Promise.resolve(),
    });
    assert.equal(kept.rareClasses, undefined);
  });

  it('classWeight balanced draws every class equally often, seeded; a regression cannot ask for it', () => {
    const y = new Float32Array(1000).map((_, i) => (i < 900 ? 0 : i < 990 ? 1 : 2));
    const order = balancedOrder(y, y.length, 7);
    const drawn = [0, 0, 0];
    for (const i of order) drawn[y[i]]++;
    for (const n of drawn) assert.ok(n > 280 && n < 390, `draws per class ${drawn.join(', ')}`);
    assert.deepEqual(balancedOrder(y, y.length, 7), order, 'the same seed, the same draws');
    const cars = example('cars-mpg');
    assert.throws(
      () => parseModelSpec({ ...cars, training: { ...cars.training, classWeight: 'balanced' } }),
      /classWeight balances classes: a regression has none/,
    );
  });

  it('schema infer proposes training settings by size, and balanced classes when one is rare', async () => {
    const penguins = await snapshotSource(t.deps.store, { uri: 'vega-datasets:penguins.json' });
    const small = await proposeSpec(t.deps.store, penguins, { label: 'Species', sourceName: 'penguins.json' });
    assert.deepEqual(
      [small.spec.training.batchSize, small.spec.training.epochs, small.spec.training.earlyStopping?.patience],
      [32, 200, 20],
    );
    assert.equal(small.spec.training.classWeight, undefined, 'penguins are not that uneven (the rarest is 20%)');
    const weather = await snapshotSource(t.deps.store, { uri: 'vega-datasets:seattle-weather.csv' });
    const uneven = await proposeSpec(t.deps.store, weather, { label: 'weather', sourceName: 'seattle-weather.csv' });
    assert.equal(uneven.spec.training.classWeight, 'balanced');
    assert.ok(uneven.notes.some((n) => /classWeight balanced \(the rarest class is 1\.8% of the rows\)/.test(n)));
    const month = await snapshotSource(t.deps.store, {
      uri: 'vega-datasets:flights-3m.parquet',
      window: { column: 'date', start: '2001-01-01', end: '2001-02-01' },
    });
    const large = await proposeSpec(t.deps.store, month, { label: 'delay', sourceName: 'flights.parquet' });
    assert.deepEqual([large.spec.training.batchSize, large.spec.training.epochs], [512, 10]);
  });

  it('an imbalanced multi-class model must beat the majority baseline on macro-F1 too', () => {
    const spec = example('seattle-weather');
    const labels = new Uint8Array(100).map((_, i) => (i < 80 ? 0 : i < 95 ? 1 : 2));
    const baseline = majorityBaseline(labels, 3);
    assert.ok(Math.abs(baseline.macroF1 - (2 * 0.8) / 1.8 / 3) < 1e-12);
    // always the commonest class: accuracy equal to the baseline's, macro-F1 equal too
    const guesser = { metrics: { accuracy: 0.81, macroF1: baseline.macroF1 }, baseline, intervals: null, gaps: [] };
    const verdict = decideGate(spec, guesser, null);
    assert.equal(verdict.passed, false);
    assert.match(
      verdict.reason,
      /macroF1 above always predicting the commonest class \(80% of the holdout\): 0\.2963 is not above 0\.2963/,
    );
    const learner = { ...guesser, metrics: { accuracy: 0.82, macroF1: 0.5 } };
    assert.equal(decideGate(spec, learner, null).passed, true);
  });
});
