import assert from 'node:assert/strict';
import path from 'node:path';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { buildRetrainBatch } from '../../lib/monitor/retrain';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { repoRoot, tempHome, type TestHome } from '../support/env';
import { trainAndRegister } from '../support/serving';

/** The batch a retrain trains on: the newest accepted batch, whole or capped by the policy, plus labelled traffic. */
describe('the retrain batch', () => {
  let t: TestHome;
  before(() => {
    t = tempHome('lumen-retrain-');
  });
  after(() => t.cleanup());

  it('takes the whole accepted batch by default, or the sample `retrain.acceptedRows` asks for, the same each time', async function () {
    this.timeout(120_000);
    const weather = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
    const source = { uri: 'vega-datasets:seattle-weather.csv' };
    const count = async (uri: string): Promise<number> =>
      withDuckDB(async (con) =>
        Number((await con.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(uri)})`)).getRowsJS()[0][0]),
      );
    const paths = {
      home: t.home,
      predictions: path.join(t.home, 'predictions'),
      feedback: path.join(t.home, 'none.sqlite'),
    };
    for (const [name, acceptedRows] of [
      ['weather-whole', null],
      ['weather-capped', 300],
    ] as const) {
      const spec = parseModelSpec({
        ...weather,
        name,
        training: { ...weather.training, epochs: 1 },
        monitor: { retrain: { acceptedRows } },
      });
      const v = await trainAndRegister(t.deps, spec, source, { champion: true, workflowId: name });
      await t.deps.registry.recordValidation({
        model: name,
        datasetSha256: v.datasetSha256,
        outcome: 'pass',
        trainable: true,
        contractHash: 'test',
        report: v.lineage.validation.report,
        html: v.lineage.validation.html,
        profile: v.lineage.validation.profile,
        quarantine: null,
        trainingDatasetSha256: v.datasetSha256,
        decision: 'accepted',
        decidedBy: 'contract',
        reason: null,
        workflowId: name,
        runId: name,
      });
      const batch = await buildRetrainBatch(t.deps.store, t.deps.registry, paths, name);
      const rows = await count(batch.source.uri);
      if (acceptedRows === null) {
        assert.equal(batch.rows.accepted, 1461, 'every day of the four years');
        assert.equal(rows, 1461);
      } else {
        assert.equal(batch.rows.accepted, acceptedRows);
        assert.equal(rows, acceptedRows);
        const again = await buildRetrainBatch(t.deps.store, t.deps.registry, paths, name);
        assert.equal(again.fingerprint, batch.fingerprint, 'the same sample, the same content');
        // a sample across the batch, not its first rows
        const years = await withDuckDB(async (con) =>
          Number(
            (
              await con.runAndReadAll(
                `SELECT count(DISTINCT year(CAST(date AS DATE))) FROM read_parquet(${sqlString(batch.source.uri)})`,
              )
            ).getRowsJS()[0][0],
          ),
        );
        assert.equal(years, 4, 'rows from every year');
      }
    }
  });
});
