import assert from 'node:assert/strict';
import path from 'node:path';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { snapshotSource, type DatasetRef } from '../../lib/data/snapshot';
import { decideGate, type ModelScore } from '../../lib/gate';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../../lib/spec';
import { proposeSpec } from '../../lib/validation/infer';
import { likelyLeaks, specColumnPowers } from '../../lib/validation/leakage';
import { validateBatch } from '../../lib/validation/report';
import { repoRoot, tempHome, vegaPath, type TestHome } from '../support/env';

const example = (name: string): ModelSpec => loadModelSpec(path.join(repoRoot, 'examples', 'models', `${name}.json`));

/**
 * Leaks injected into a real month of flights: a near-copy of the label (the delay, off by a few minutes) and a
 * column filled only when the flight was late (a cost recorded after the outcome). Both must be caught, by name and
 * number, in schema infer, at validation and at the gate; no column of the clean example datasets may be.
 */
describe('leakage: columns that give the answer away', () => {
  let t: TestHome;
  let leaky: DatasetRef;
  const flights = example('flights-delay');
  // the flights spec, reading the two leaking columns as well
  const reading = parseModelSpec({
    ...flights,
    name: 'flights-leaky',
    source: {
      ...flights.source,
      columns: [
        ...flights.source.columns,
        { name: 'delay_reported', type: 'float', required: true },
        { name: 'compensation', type: 'float', required: false, maxMissing: 1 },
      ],
    },
    features: [
      ...flights.features,
      { name: 'delay_reported', column: 'delay_reported', transform: { kind: 'numeric' } },
      { name: 'compensation', column: 'compensation', transform: { kind: 'numeric' } },
    ],
  });

  before(async () => {
    t = tempHome();
    const file = path.join(t.home, 'flights-leaky.parquet');
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT *, delay + (hash(date, origin) % 7)::DOUBLE - 3 AS delay_reported,
                      CASE WHEN delay > 15 THEN 40 + delay * 2.5 END AS compensation
                 FROM read_parquet(${sqlString(vegaPath('flights-3m.parquet'))}) WHERE date < '2001-01-15')
           TO ${sqlString(file)} (FORMAT parquet)`,
      ),
    );
    leaky = await snapshotSource(t.deps.store, { uri: file });
  });
  after(() => t.cleanup());

  it('measures each column alone: the leaks near 1, the honest flights columns near 0', async () => {
    const powers = new Map((await specColumnPowers(t.deps.store, reading, leaky)).map((p) => [p.column, p.power]));
    assert.ok(powers.get('compensation')! > 0.99, `compensation ${powers.get('compensation')}`);
    assert.ok(powers.get('delay_reported')! > 0.8, `delay_reported ${powers.get('delay_reported')}`);
    for (const honest of ['distance', 'origin', 'destination', 'date']) {
      assert.ok(powers.get(honest)! < 0.1, `${honest} ${powers.get(honest)}`);
    }
    const leaks = likelyLeaks([...powers].map(([column, power]) => ({ column, power })));
    assert.deepEqual(leaks.map((l) => l.column).sort(), ['compensation', 'delay_reported']);
    assert.match(leaks.find((l) => l.column === 'compensation')!.why, /almost perfectly \(power 0\.99\d of 1/);
    assert.match(leaks.find((l) => l.column === 'delay_reported')!.why, /far better than the other columns/);
  });

  it('finds no leak in the clean example datasets (their strong columns are many, or not near-perfect)', async () => {
    for (const [name, uri] of [
      ['penguins-species', 'vega-datasets:penguins.json'],
      ['cars-mpg', 'vega-datasets:cars.json'],
      ['movies-imdb', 'vega-datasets:movies.json'],
      ['seattle-weather', 'vega-datasets:seattle-weather.csv'],
    ]) {
      const spec = example(name);
      const powers = await specColumnPowers(t.deps.store, spec, await snapshotSource(t.deps.store, { uri }));
      assert.deepEqual(likelyLeaks(powers), [], `${name}: ${JSON.stringify(powers)}`);
    }
  });

  it('schema infer leaves the leaking columns out, saying why with the numbers', async () => {
    const proposed = await proposeSpec(t.deps.store, leaky, {
      label: 'delay',
      task: 'regression',
      sourceName: 'flights-leaky.parquet',
    });
    const columns = proposed.spec.features.map((f) => f.column);
    assert.ok(!columns.includes('compensation') && !columns.includes('delay_reported'), columns.join(', '));
    assert.ok(columns.includes('distance') && columns.includes('origin'), columns.join(', '));
    assert.ok(
      proposed.notes.some((n) =>
        /column "delay_reported" left out: .*power 0\.\d{3}.*likely recorded after the outcome/.test(n),
      ),
      proposed.notes.join('\n'),
    );
  });

  it('validation warns with the number; the gate warns by default and fails when the policy says so', async () => {
    const validation = await validateBatch(t.deps.store, reading, leaky, null);
    const warned = validation.report.checks.filter((c) => c.name === 'leakage');
    assert.deepEqual(warned.map((c) => [c.column, c.outcome]).sort(), [
      ['compensation', 'warn'],
      ['delay_reported', 'warn'],
    ]);
    assert.notEqual(validation.report.outcome, 'fail', 'the data is sound: a spec reading it is not');

    const score: ModelScore = {
      metrics: { auc: 0.99, logLoss: 0.05, calibrationError: 0.01 },
      baseline: { logLoss: 0.5 },
      intervals: null,
      gaps: [],
      columnPowers: await specColumnPowers(t.deps.store, reading, leaky),
    };
    const warn = decideGate(reading, score, null);
    assert.equal(warn.passed, true);
    assert.deepEqual(
      warn.checks.filter((c) => c.name === 'leakage').map((c) => c.outcome),
      ['warn', 'warn'],
    );
    const strict = parseModelSpec({ ...reading, gate: { ...reading.gate, leakage: { action: 'fail' } } });
    const failed = decideGate(strict, score, null);
    assert.equal(failed.passed, false);
    assert.match(
      failed.reason,
      /column "compensation" likely leaks the label: alone it predicts the label almost perfectly/,
    );
  });
});
