import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { freePort } from '../../tools/devserver';
import { cliEnv, exited, lumen, startUntil } from '../support/cli';
import { tempHome, uniqueQueues, withWorkers, type TestHome } from '../support/env';

/**
 * A dataset that is not in the repository, through `schema infer` → `start` → `serve` → `predict` with no hand edits,
 * as the new user took theirs: storm damage to buildings, 10,000 rows, a six-class label with about 90% of the
 * rows in one class and one class of a single row, and two columns recorded after the outcome (the repair cost and
 * the days a claim took, filled only when there was damage). Nothing may come out wrong without a word.
 */
describe('your own data, judged honestly: a new dataset from schema infer to predict', () => {
  let t: TestHome;
  let env: NodeJS.ProcessEnv;
  const queues = uniqueQueues();
  let storms: string;

  before(async () => {
    t = tempHome('lumen-own-data-');
    env = cliEnv(t.home, queues);
    storms = path.join(t.home, 'storms.csv');
    // seeded by the row number: the same file every run
    await withDuckDB((con) =>
      con.run(
        `COPY (
           WITH r AS (
             SELECT i,
                    (hash(i, 1) % 1000) / 1000.0 AS u1, (hash(i, 2) % 1000) / 1000.0 AS u2,
                    (hash(i, 3) % 1000) / 1000.0 AS u3, CAST(hash(i, 4) % 8 AS BIGINT) AS region_code, CAST(hash(i, 5) % 3 AS BIGINT) AS build_code
               FROM range(10000) t(i)),
           s AS (
             SELECT *, round(20 + 110 * u1 * u1, 1) AS wind_kmh, round(80 * u2 * u2 * u2, 1) AS rain_mm,
                    ['wood', 'brick', 'steel'][build_code + 1] AS building,
                    ['north', 'south', 'east', 'west', 'coast', 'hills', 'valley', 'city'][region_code + 1] AS region
               FROM r),
           d AS (
             SELECT *, wind_kmh / 100 + rain_mm / 70 + (CASE building WHEN 'wood' THEN 0.35 WHEN 'brick' THEN 0.1 ELSE 0 END)
                       + (CASE WHEN region = 'coast' THEN 0.2 ELSE 0 END) + 0.25 * u3 AS risk
               FROM s)
           SELECT TIMESTAMP '2019-01-01' + to_days(CAST(i % 1460 AS INTEGER)) AS date, region, building, wind_kmh, rain_mm,
                  CASE WHEN i = 4242 THEN 'collapse'
                       WHEN risk < 1.81 THEN 'none' WHEN risk < 1.98 THEN 'minor' WHEN risk < 2.18 THEN 'moderate'
                       WHEN risk < 2.46 THEN 'severe' ELSE 'total' END AS damage,
                  CASE WHEN risk >= 1.81 OR i = 4242 THEN round(500 + 20000 * (risk - 1.7), 0) END AS repair_cost,
                  CASE WHEN risk >= 1.81 OR i = 4242 THEN 10 + CAST(hash(i, 6) % 50 AS BIGINT) END AS claim_days
             FROM d ORDER BY i)
         TO ${sqlString(storms)} (FORMAT csv, HEADER)`,
      ),
    );
  });
  after(() => t.cleanup());

  it('infers a spec without the leaking columns, trains it saying what it left out, serves and scores it', async () => {
    const inferred = await lumen(['schema', 'infer', storms, '--label', 'damage'], env);
    assert.equal(inferred.code, 0, inferred.stderr);
    // the columns recorded after the outcome are left out, each with its number
    for (const leak of ['repair_cost', 'claim_days']) {
      assert.match(
        inferred.stderr,
        new RegExp(
          `column "${leak}" left out: alone it predicts the label .*power 0\\.\\d{3}.*likely recorded after the outcome`,
        ),
        inferred.stderr,
      );
    }
    const spec = JSON.parse(inferred.stdout) as {
      name: string;
      task: string;
      features: { column?: string }[];
      training: { classWeight?: string; batchSize: number };
    };
    assert.deepEqual([spec.name, spec.task], ['storms', 'multiclass']);
    assert.ok(!spec.features.some((f) => f.column === 'repair_cost' || f.column === 'claim_days'));
    assert.equal(spec.training.classWeight, 'balanced', 'the rarest class is far under an even share');
    const specFile = path.join(t.home, 'storms.json');
    fs.writeFileSync(specFile, inferred.stdout);

    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      const started = await lumen(['start', specFile, '--source', storms, '--wait'], env, 600_000);
      assert.ok(started.code === 0 || started.code === 5, started.stdout + started.stderr);
      const out = started.stdout;
      // the class of one row is named, not lost; the gate holds an uneven model to the majority's macro-F1 too
      assert.match(out, /classes too rare to learn left out: "collapse" \(1 rows\)/, out);
      assert.match(
        out,
        /\[(pass|FAIL)\] macroF1 above always predicting the commonest class \(\d+% of the holdout\)/,
        out,
      );
      assert.match(out, /^spec +.*storms\.json \([0-9a-f]{12}\)$/m);
      // trained but not promoted is its own exit code, never a silent 0
      const promoted = /model +storms v1 \(promoted\)/.test(out);
      assert.equal(started.code, promoted ? 0 : 5, out);
      assert.ok(promoted, `the inferred spec learns the storms (macro-F1 above the majority's):\n${out}`);
    });

    const port = await freePort();
    const serve = await startUntil(['serve', '--port', String(port)], env, /predictions logged to/, 60_000);
    try {
      const ask = (row: Record<string, unknown>) =>
        fetch(`http://127.0.0.1:${port}/v1/models/storms/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(row),
        });
      const row = { date: '2023-03-01', region: 'coast', building: 'wood', wind_kmh: 125, rain_mm: 70 };
      const ok = await ask(row);
      const body = (await ok.json()) as { predictions: { class: string }[] };
      assert.equal(ok.status, 200, JSON.stringify(body));
      assert.ok(['none', 'minor', 'moderate', 'severe', 'total'].includes(body.predictions[0].class));
      const wrong = await ask({ ...row, building: { material: 'wood' } });
      assert.equal(wrong.status, 400);
      assert.match(JSON.stringify(await wrong.json()), /"code":"type"/);
    } finally {
      serve.child.kill('SIGINT');
      assert.equal(await exited(serve.child), 0, serve.output());
    }

    const scored = path.join(t.home, 'storms-scored.csv');
    const predicted = await lumen(['predict', 'storms', '--source', storms, '--out', scored], env);
    assert.equal(predicted.code, 0, predicted.stderr);
    assert.match(predicted.stdout, /^storms v1: 10000 rows predicted, 0 refused/m);
    const header = fs.readFileSync(scored, 'utf8').split('\n')[0];
    assert.match(
      header,
      /^date,region,building,wind_kmh,rain_mm,damage,repair_cost,claim_days,predicted_class,probability_/,
    );
  });
});
