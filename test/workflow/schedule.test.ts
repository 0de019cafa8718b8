import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { scheduleChange, scheduleCreate } from '../../cli/schedule-commands';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
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
 * Periodic training through Temporal Schedules, on the real dev server (the time-skipping test server cannot be
 * downloaded on this machine, and schedules fire every second here, which is as fast). The commands are the
 * CLI's own functions, pointed at this test's server, store and task queues by the environment, as a person's
 * shell would.
 */
describe('schedules: periodic training that skips known content and pauses itself when it keeps failing', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();
  let restoreEnv: () => void;
  const until = eventually;

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-schedule-');
    client = await testClient();
    await workflowBundle();
    restoreEnv = cliEnvironment(t.home, queues);
  });
  after(async () => {
    restoreEnv();
    await client.connection.close();
    t.cleanup();
  });

  it('fires every second; the first run trains, later runs of the same content are skipped; one training', async function () {
    this.timeout(600_000);
    const file = path.join(t.home, 'weather-2012.csv');
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT * FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))}) WHERE year(CAST(date AS DATE)) = 2012)
           TO ${sqlString(file)} (HEADER)`,
      ),
    );
    const spec = path.join(t.home, 'weather-sched.json');
    const base = JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'), 'utf8'));
    fs.writeFileSync(
      spec,
      JSON.stringify({ ...base, name: 'weather-sched', training: { ...base.training, epochs: 10 } }),
    );
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      await scheduleCreate('weather-sched', { every: '1s', source: file, spec, id: 'sched-ok' });
      const runs = await until('a run that trained and two that skipped', async () => {
        const list = await t.deps.registry.listScheduleRuns('sched-ok', 50);
        return list.length >= 3 ? list : undefined;
      });
      await scheduleChange('delete', 'sched-ok', {});
      assert.ok(
        runs.every((r) => r.ok),
        JSON.stringify(runs),
      );
      assert.match(runs[0].detail, /^promoted on .*weather-2012\.csv as it is now/);
      for (const r of runs.slice(1)) assert.match(r.detail, /already ran on this content/);
      const versions = await t.deps.registry.listVersions('weather-sched');
      assert.equal(versions.length, 1, 'trained once');
      let pipelines = 0;
      for await (const _ of client.workflow.list({
        query: `WorkflowType = "trainingPipeline" AND LumenModel = "weather-sched"`,
      }))
        pipelines++;
      assert.equal(pipelines, 1, 'one training run');
    });
  });

  it('a schedule whose runs keep failing pauses itself after --max-failures and raises a critical alert', async function () {
    this.timeout(300_000);
    const spec = path.join(repoRoot, 'examples', 'models', 'seattle-weather.json');
    const missing = path.join(t.home, 'nowhere.csv');
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      await scheduleCreate('seattle-weather', {
        every: '1s',
        source: missing,
        spec,
        id: 'sched-bad',
        maxFailures: '2',
      });
      const handle = client.schedule.getHandle('sched-bad');
      const paused = await until('paused', async () => {
        const d = await handle.describe();
        return d.state.paused ? d : undefined;
      });
      assert.match(paused.state.note ?? '', /paused after 2 failed runs in a row; last: source file not found/);
      const runs = await t.deps.registry.listScheduleRuns('sched-bad', 50);
      assert.equal(runs.filter((r) => !r.ok).length, 2, 'stopped at two');
      const alerts = await t.deps.registry.listAlerts('seattle-weather');
      const alert = alerts.find((a) => a.kind === 'schedule-paused');
      assert.ok(alert, 'alerted');
      assert.equal(alert.severity, 'critical');
      assert.match(alert.message, /lumen schedule resume sched-bad/);
      await handle.delete();
    });
  });
});
