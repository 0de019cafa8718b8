/**
 * Records the workflow histories that test/workflow/replay.test.ts replays. Run after an intentional change to
 * the workflow's command sequence (and review the diff):
 *
 *   npm run record-histories -- <tag>      writes <scenario>.<tag>.json and adds them to index.json
 *
 * Histories recorded by earlier code stay in the index: they stand for runs that were in flight when the code
 * changed, and must still replay (a change that breaks them needs `patched()`).
 */
import { policyOfSpec, weakenings } from '../../lib/access/model-policy';
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { startTrainingPipeline } from '../../client/pipeline';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { startDevServer } from '../../tools/devserver';
import { uriToPath } from '../../lib/artifacts';
import type { championChange, modelMonitor, verifyModel } from '../../workflows';
import { inboxStatusQuery, inboxWorkflowId } from '../../workflows/inbox-definitions';
import {
  checkNowSignal,
  monitorStatusQuery,
  monitorWorkflowId,
  pauseSignal,
  resumeSignal,
  retrainSignal,
  rollbackSignal,
  setPolicyUpdate,
} from '../../workflows/monitor-definitions';
import {
  approveCandidate,
  championChangeWorkflowId,
  releaseQuarantine,
  searchAttributeTypes,
  statusQuery,
  verifyWorkflowId,
} from '../../workflows/definitions';
import { repoRoot, tempHome, testClient, uniqueQueues, vegaPath, withWorkers } from '../support/env';

export interface RecordedHistory {
  file: string;
  workflowId: string;
  scenario: string;
}

async function run(): Promise<void> {
  const tag = process.argv[2];
  if (!tag || !/^[a-z0-9-]+$/.test(tag)) throw new Error('usage: npm run record-histories -- <tag> (e.g. v3)');
  const named = (base: string): string => `${base}.${tag}.json`;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const server = await startDevServer({ searchAttributes: searchAttributeTypes() });
  process.env.LUMEN_TEST_TEMPORAL_ADDRESS = server.address;
  const t = tempHome('lumen-record-');
  const client = await testClient();
  const queues = uniqueQueues();
  const spec = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
  const reencoded = path.join(t.home, 'weather-crlf.csv');
  fs.writeFileSync(reencoded, `\ufeff${fs.readFileSync(vegaPath('seattle-weather.csv'), 'utf8').replace(/\n/g, '\r\n')}`);
  // temperatures in Fahrenheit: every row still in range, the distribution far away
  const fahrenheit = (file: string, keep: (i: number) => boolean): string => {
    const lines = fs.readFileSync(vegaPath('seattle-weather.csv'), 'utf8').trim().split('\n');
    const out = lines.filter((_, i) => i === 0 || keep(i)).map((line, i) => {
      if (i === 0) return line;
      const cells = line.split(',');
      cells[2] = String(Number(cells[2]) * 1.8 + 32);
      cells[3] = String(Number(cells[3]) * 1.8 + 32);
      return cells.join(',');
    });
    fs.writeFileSync(file, out.join('\n'));
    return file;
  };
  const drifted = fahrenheit(path.join(t.home, 'fahrenheit.csv'), (i) => i % 2 === 0);
  const drifted2 = fahrenheit(path.join(t.home, 'fahrenheit-2.csv'), (i) => i % 2 === 1);
  const corrupt = path.join(t.home, 'corrupt.parquet');
  fs.writeFileSync(corrupt, fs.readFileSync(vegaPath('flights-3m.parquet')).subarray(0, 50_000));
  const scenarios = [
    { file: 'promoted.json', scenario: 'first model: trained, registered, promoted', source: { uri: 'vega-datasets:seattle-weather.csv' } },
    { file: 'duplicate.json', scenario: 'same content from a re-encoded file: recognised after ingest', source: { uri: reencoded } },
    {
      file: 'compared.json',
      scenario: 'a later batch judged against the champion',
      source: { uri: 'vega-datasets:seattle-weather.csv', window: { column: 'date', start: '2015-01-01', end: '2016-01-01' } },
    },
    {
      file: 'approved.json',
      scenario: 'candidate approved by a person, then promoted',
      source: { uri: 'vega-datasets:seattle-weather.csv', window: { column: 'date', start: '2014-01-01', end: '2015-01-01' } },
      approve: true,
    },
    { file: 'failed-ingest.json', scenario: 'corrupt source: non-retryable failure at ingest', source: { uri: corrupt } },
    { file: 'released.json', scenario: 'drifted batch quarantined, then released by a person', source: { uri: drifted }, release: true },
    { file: 'rejected.json', scenario: 'drifted batch quarantined, rejected on timeout', source: { uri: drifted2 }, timeout: '2s' },
    {
      file: 'untrusted-champion.json',
      scenario: 'the champion\'s bytes changed: critical alert, candidate judged without it, approved by a person',
      source: { uri: 'vega-datasets:seattle-weather.csv', window: { column: 'date', start: '2013-01-01', end: '2014-01-01' } },
      approve: true,
      breakChampion: true,
    },
  ].map((s) => ({ ...s, file: named(s.file.replace(/\.json$/, '')) }));
  const index: RecordedHistory[] = [];
  /** a champion's weights with one byte flipped, and how to put them back */
  const breakChampion = async (): Promise<{ version: number; restore: () => void }> => {
    const version = (await t.deps.registry.alias(spec.name, 'champion'))!;
    const record = await t.deps.registry.getVersion(spec.name, version);
    const weights = path.join(uriToPath(record!.artifact.uri), 'weights.bin');
    const good = fs.readFileSync(weights);
    const bad = Buffer.from(good);
    bad[100] ^= 0x01;
    fs.writeFileSync(weights, bad);
    return { version, restore: () => fs.writeFileSync(weights, good) };
  };
  try {
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      for (const s of scenarios) {
        let specFor = s.timeout
          ? parseModelSpec({ ...spec, validation: { ...spec.validation, quarantine: { timeout: s.timeout } } })
          : spec;
        if (s.approve) {
          specFor = parseModelSpec({
            ...spec,
            gate: { ...spec.gate, vsChampion: { minAbsoluteChange: -1 }, approval: { required: 'always', timeout: '10m' } },
          });
        }
        if (s.breakChampion) {
          // the champion now is the one trained on Fahrenheit: this batch must not be quarantined for drift
          specFor = parseModelSpec({
            ...specFor,
            validation: { ...specFor.validation, drift: { ...specFor.validation.drift, numeric: { fail: 100 }, categorical: { fail: 100 } } },
          });
        }
        // a scenario that loosens the gate is an admin's policy change first (runs are held to the registered one)
        const registered = await t.deps.registry.modelPolicy(spec.name);
        if (registered && weakenings(registered.policy, policyOfSpec(specFor)).length) {
          await t.deps.registry.registerModelPolicy({
            model: spec.name,
            policy: policyOfSpec(specFor),
            expectedVersion: registered.version,
            setBy: 'recorder',
            proof: 'claimed',
            reason: `the policy of the scenario ${s.file}`,
            workflowId: null,
          });
        }
        const broken = s.breakChampion ? await breakChampion() : undefined;
        const started = await startTrainingPipeline(client, specFor, s.source, { trainingTaskQueue: queues.training }, queues.pipeline);
        if (s.release) {
          let status = await started.handle.query(statusQuery);
          const deadline = Date.now() + 60_000;
          while (status.stage !== 'quarantined') {
            if (Date.now() > deadline) throw new Error(`${s.file}: not quarantined within a minute (stage ${status.stage})`);
            await new Promise((r) => setTimeout(r, 200));
            status = await started.handle.query(statusQuery);
          }
          await started.handle.executeUpdate(releaseQuarantine, {
            args: [{ dataset: status.quarantine!.dataset, by: 'recorder', reason: 'recorded for the replay test' }],
          });
        }
        if (s.approve) {
          let status = await started.handle.query(statusQuery);
          const deadline = Date.now() + 60_000;
          while (status.stage !== 'awaiting_approval') {
            if (Date.now() > deadline) throw new Error(`${s.file}: not awaiting approval within a minute (stage ${status.stage})`);
            await new Promise((r) => setTimeout(r, 200));
            status = await started.handle.query(statusQuery);
          }
          await started.handle.executeUpdate(approveCandidate, {
            args: [{ version: status.approval!.version, artifactSha256: status.approval!.artifactSha256, by: 'recorder', comment: 'recorded for the replay test' }],
          });
        }
        await started.handle.result().catch(() => undefined);
        if (broken) {
          // the broken version verified (and refused) before its bytes are put back
          const requestId = 'recorded-verify';
          const verify = await client.workflow.start<typeof verifyModel>('verifyModel', {
            taskQueue: queues.pipeline,
            workflowId: verifyWorkflowId(spec.name, requestId),
            args: [{ model: spec.name, version: broken.version, by: 'recorder', requestId, trainingTaskQueue: queues.training }],
          });
          await verify.result();
          fs.writeFileSync(path.join(__dirname, named('verify')), `${historyToJSON(await verify.fetchHistory())}\n`);
          index.push({ file: named('verify'), workflowId: verify.workflowId, scenario: 'verify refuses a version whose bytes changed' });
          broken.restore();
          const clearId = 'recorded-verify-cleared';
          const cleared = await client.workflow.start<typeof verifyModel>('verifyModel', {
            taskQueue: queues.pipeline,
            workflowId: verifyWorkflowId(spec.name, clearId),
            args: [{ model: spec.name, version: broken.version, by: 'recorder', requestId: clearId, trainingTaskQueue: queues.training }],
          });
          await cleared.result();
          fs.writeFileSync(path.join(__dirname, named('verify-cleared')), `${historyToJSON(await cleared.fetchHistory())}\n`);
          index.push({ file: named('verify-cleared'), workflowId: cleared.workflowId, scenario: 'verify clears a restored version' });
        }
        const history = await started.handle.fetchHistory();
        fs.writeFileSync(path.join(__dirname, s.file), `${historyToJSON(history)}\n`);
        index.push({ file: s.file, workflowId: started.workflowId, scenario: s.scenario });
        console.log(`recorded ${s.file}: ${s.scenario}`);
      }
    });
    // a rollback through the champion-change workflow (the approved candidate above is champion now)
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      const workflowId = championChangeWorkflowId(spec.name, 'recorded-rollback');
      const handle = await client.workflow.start<typeof championChange>('championChange', {
        taskQueue: queues.pipeline,
        workflowId,
        args: [{ model: spec.name, kind: 'rollback', reason: 'recorded for the replay test', by: 'recorder', requestId: 'recorded-rollback', trainingTaskQueue: queues.training }],
      });
      await handle.result();
      fs.writeFileSync(path.join(__dirname, named('rollback')), `${historyToJSON(await handle.fetchHistory())}\n`);
      index.push({ file: named('rollback'), workflowId, scenario: 'rollback to the previous champion, load-checked' });
      console.log(`recorded ${named('rollback')}`);
    });
    // the model's monitor (started by the first promotion): people's requests, a policy change, a manual rollback
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      const monitor = client.workflow.getHandle<typeof modelMonitor>(monitorWorkflowId(spec.name));
      const by = { by: 'recorder', reason: 'recorded for the replay test' };
      // a malformed move, dropped and counted at the edge (its handler must replay the same way)
      await monitor.signal('championMoved', null);
      await monitor.signal(pauseSignal, { ...by, requestId: 'rec-pause' });
      await monitor.signal(checkNowSignal, { ...by, requestId: 'rec-check' });
      await monitor.executeUpdate(setPolicyUpdate, { args: [{ policy: { cooldownMinutes: 30 }, ...by }] });
      await monitor.signal(resumeSignal, { ...by, requestId: 'rec-resume' });
      await monitor.signal(retrainSignal, { ...by, requestId: 'rec-retrain' });
      await monitor.signal(rollbackSignal, { ...by, requestId: 'rec-rollback' });
      const deadline = Date.now() + 180_000;
      for (;;) {
        const s = await monitor.query(monitorStatusQuery);
        if (s.pending.length === 0 && s.actions.some((a) => a.kind === 'rollback')) break;
        if (Date.now() > deadline) throw new Error('monitor: requests not acted on within 3 minutes');
        await new Promise((r) => setTimeout(r, 300));
      }
      fs.writeFileSync(path.join(__dirname, named('monitor')), `${historyToJSON(await monitor.fetchHistory())}\n`);
      index.push({
        file: named('monitor'),
        workflowId: monitorWorkflowId(spec.name),
        scenario:
          'monitor: started by a promotion, told of moves, a malformed signal dropped, paused, checked, policy changed, resumed, retrain and rollback asked',
      });
      await monitor.terminate('recorded');

      // the supervisor finds the model's monitor gone and starts it again
      const supervisor = await client.workflow.start('monitorSupervisor', {
        taskQueue: queues.pipeline,
        workflowId: 'supervisor:recorded',
        args: [{ everyMinutes: 0.02 }],
      });
      const restartedBy = Date.now() + 60_000;
      while ((await monitor.describe()).status.name !== 'RUNNING') {
        if (Date.now() > restartedBy) throw new Error('supervisor: the monitor was not started again within a minute');
        await new Promise((r) => setTimeout(r, 300));
      }
      await new Promise((r) => setTimeout(r, 3000)); // a round that finds it running
      fs.writeFileSync(path.join(__dirname, named('supervisor')), `${historyToJSON(await supervisor.fetchHistory())}\n`);
      index.push({
        file: named('supervisor'),
        workflowId: 'supervisor:recorded',
        scenario: 'supervisor: a terminated monitor started again, then found running',
      });
      await supervisor.terminate('recorded');
      await monitor.terminate('recorded');

      // a scheduled run (content trained on already: skipped) and an inbox arrival
      const scheduled = await client.workflow.start('scheduledTraining', {
        taskQueue: queues.pipeline,
        workflowId: 'scheduled:recorded',
        args: [{ scheduleId: 'recorded', model: spec.name, source: { uri: 'vega-datasets:seattle-weather.csv' }, trainingTaskQueue: queues.training }],
      });
      await scheduled.result();
      fs.writeFileSync(path.join(__dirname, named('scheduled')), `${historyToJSON(await scheduled.fetchHistory())}\n`);
      index.push({ file: named('scheduled'), workflowId: 'scheduled:recorded', scenario: 'scheduled training: content trained on already, skipped' });

      const inboxDir = path.join(t.home, 'inbox');
      fs.mkdirSync(inboxDir);
      const dropped = path.join(inboxDir, 'weather.csv');
      fs.copyFileSync(vegaPath('seattle-weather.csv'), dropped);
      const past = new Date(Date.now() - 10_000);
      fs.utimesSync(dropped, past, past);
      const inbox = await client.workflow.start('inboxWatcher', {
        taskQueue: queues.pipeline,
        workflowId: inboxWorkflowId(spec.name),
        args: [{ model: spec.name, dir: inboxDir, everySeconds: 1, trainingTaskQueue: queues.training }],
      });
      const until = Date.now() + 60_000;
      while ((await inbox.query(inboxStatusQuery)).arrivals.length === 0) {
        if (Date.now() > until) throw new Error('inbox: the file was not taken within a minute');
        await new Promise((r) => setTimeout(r, 300));
      }
      fs.writeFileSync(path.join(__dirname, named('inbox')), `${historyToJSON(await inbox.fetchHistory())}\n`);
      index.push({ file: named('inbox'), workflowId: inboxWorkflowId(spec.name), scenario: 'inbox: a file arrives, its pipeline starts, the file is cleared' });
      await inbox.terminate('recorded');
      console.log(`recorded ${named('monitor')}, ${named('supervisor')}, ${named('scheduled')}, ${named('inbox')}`);
    });
    const earlier = JSON.parse(fs.readFileSync(path.join(__dirname, 'index.json'), 'utf8')) as RecordedHistory[];
    const kept = earlier.filter((e) => !index.some((i) => i.file === e.file));
    fs.writeFileSync(path.join(__dirname, 'index.json'), `${JSON.stringify([...kept, ...index], null, 2)}\n`);
  } finally {
    await client.connection.close();
    t.cleanup();
    await server.stop();
  }
}

run().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
