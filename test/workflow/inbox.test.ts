import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { inboxWatch, inboxStop } from '../../cli/inbox-commands';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { inboxStatusQuery, inboxWorkflowId, scanNowSignal } from '../../workflows/inbox-definitions';
import {
  repoRoot,
  cliEnvironment,
  eventually,
  tempHome,
  testClient,
  uniqueQueues,
  vegaPath,
  withWorkers,
  workflowBundle,
  type TestHome,
} from '../support/env';

/**
 * Data arrival as a trigger: files dropped into a folder start the pipeline exactly once per content, with no
 * arrival lost while no worker runs and none merged with another. Through the CLI's own functions, pointed at
 * this test's server, store and queues by the environment.
 */
describe('inbox: a dropped file trains once per content, and survives restarts', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();
  let restoreEnv: () => void;
  const until = eventually;
  /** a year of Seattle weather as a CSV file, written elsewhere and moved in whole, as a careful sender does */
  async function drop(dir: string, name: string, year: number): Promise<void> {
    const staging = path.join(t.home, `.${name}`);
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT * FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))})
                WHERE year(CAST(date AS DATE)) = ${year} ORDER BY date)
           TO ${sqlString(staging)} (HEADER)`,
      ),
    );
    // settled: older than the two seconds a scan waits for a file still being written
    const past = new Date(Date.now() - 10_000);
    fs.utimesSync(staging, past, past);
    fs.renameSync(staging, path.join(dir, name));
  }

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-inbox-');
    client = await testClient();
    await workflowBundle();
    restoreEnv = cliEnvironment(t.home, queues);
  });
  after(async () => {
    restoreEnv();
    await client.connection.close();
    t.cleanup();
  });

  it('the same file dropped twice (and under another name) trains once; files dropped while no worker runs are not lost', async function () {
    this.timeout(600_000);
    const dir = path.join(t.home, 'inbox');
    fs.mkdirSync(dir);
    const spec = path.join(t.home, 'weather-inbox.json');
    const base = JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'), 'utf8'));
    fs.writeFileSync(
      spec,
      JSON.stringify({
        ...base,
        name: 'weather-inbox',
        training: { ...base.training, epochs: 10 },
        validation: { drift: { numeric: { fail: 10 }, categorical: { fail: 10 } } },
      }),
    );
    const handle = client.workflow.getHandle(inboxWorkflowId('weather-inbox'));
    const status = () => handle.query(inboxStatusQuery);
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      await inboxWatch('weather-inbox', { dir, spec, every: '1' });
      await drop(dir, '2012.csv', 2012);
      await until('the 2012 file taken', async () => ((await status()).arrivals.length >= 1 ? true : undefined));
      // the same bytes again, under the same name and under another
      await drop(dir, '2012.csv', 2012);
      await drop(dir, 'copy-of-2012.csv', 2012);
      await until('both copies taken', async () => ((await status()).arrivals.length >= 3 ? true : undefined));
    });
    // no worker: files arrive anyway
    await drop(dir, '2013.csv', 2013);
    await drop(dir, 'again-2012.csv', 2012);
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      await handle.signal(scanNowSignal);
      const s = await until('the files that came while no worker ran', async () => {
        const st = await status();
        return st.arrivals.length >= 5 ? st : undefined;
      });
      const started = s.arrivals.filter((a) => a.outcome === 'started');
      assert.deepEqual(
        started.map((a) => a.name),
        ['2012.csv', '2013.csv'],
        JSON.stringify(s.arrivals),
      );
      assert.equal(new Set(s.arrivals.filter((a) => a.name.includes('2012')).map((a) => a.workflowId)).size, 1);
      // both trainings run to their end; the inbox is empty, what arrived is kept aside by content
      for (const a of started) {
        const r = (await client.workflow.getHandle(a.workflowId).result()) as { outcome: string };
        assert.ok(['promoted', 'registered'].includes(r.outcome), r.outcome);
      }
      assert.deepEqual(
        fs.readdirSync(dir).filter((f) => !f.startsWith('.')),
        [],
      );
      // named by content and name: 2012.csv dropped twice is one entry
      assert.deepEqual(
        fs
          .readdirSync(path.join(dir, '.processed'))
          .map((f) => f.slice(13))
          .sort(),
        ['2012.csv', '2013.csv', 'again-2012.csv', 'copy-of-2012.csv'],
      );
      await inboxStop('weather-inbox', { reason: 'test done' });
    });
    const versions = await t.deps.registry.listVersions('weather-inbox');
    assert.equal(versions.length, 2, 'two contents, two versions');
    let pipelines = 0;
    for await (const _ of client.workflow.list({
      query: `WorkflowType = "trainingPipeline" AND LumenModel = "weather-inbox"`,
    }))
      pipelines++;
    assert.equal(pipelines, 2, 'two training runs in all');
  });
});
