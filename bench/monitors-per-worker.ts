/**
 * How many monitors one worker carries: N modelMonitor workflows, each checking its own model every minute (the
 * real health-check activity over its own prediction log), all on one worker process, against a dev server of
 * their own. Reported: the sustained rate of checks against the rate asked for (N per minute), the CPU of the
 * worker and of the server, the longest history of a run (continue-as-new keeps it bounded), and how late checks
 * start. Baseline, in the same script: the same monitors over models with nothing logged (the orchestration alone).
 *
 *   npm run bench:monitors       (= tsx bench/monitors-per-worker.ts --monitors 1000 --minutes 5)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Command } from 'commander';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { newPredictionId } from '../lib/serving/ids';
import { DEFAULT_LOG_OPTIONS, PredictionLog, type PredictionRecord } from '../lib/serving/prediction-log';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../lib/spec';
import { prng } from '../lib/rng';
import { startDevServer } from '../tools/devserver';
import { searchAttributeTypes } from '../workflows/definitions';
import { monitorStatusQuery, monitorWorkflowId } from '../workflows/monitor-definitions';
import { createWorkers } from '../worker/workers';
import { repoRoot, tempHome, vegaPath, type TestHome } from '../test/support/env';
import { trainAndRegister } from '../test/support/serving';

/** user + system CPU seconds of a process, from /proc (clock ticks: 100 per second on Linux, `getconf CLK_TCK`) */
function cpuSecondsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function run(): Promise<void> {
  const opts = new Command()
    .option('--monitors <n>', 'monitor workflows', '1000')
    .option('--minutes <n>', 'minutes measured per run', '5')
    .option('--rows <n>', 'predictions logged per model and minute', '250')
    .option('--only <run>', 'one run only: baseline (nothing logged) or logged')
    .parse()
    .opts<{ monitors: string; minutes: string; rows: string; only?: string }>();
  const n = Number(opts.monitors);
  const minutes = Number(opts.minutes);
  const perMinute = Number(opts.rows);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  console.log(`${os.cpus()[0].model.trim()}, ${os.cpus().length} cores, Node ${process.version}`);
  console.log(`${n} monitors, one check a minute each, ${minutes} min per run\n`);

  const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
  const runs = opts.only === 'baseline' ? [false] : opts.only === 'logged' ? [true] : [false, true];
  for (const logged of runs) {
    const server = await startDevServer({ searchAttributes: searchAttributeTypes() });
    const t: TestHome = tempHome('lumen-bench-monitors-');
    try {
      // one trained version, registered under N model names (the monitor reads each model's own log)
      const specOf = (i: number): ModelSpec =>
        parseModelSpec({
          ...base,
          name: `m${String(i).padStart(4, '0')}`,
          training: { ...base.training, epochs: 5 },
          monitor: { everyMinutes: 1, minPredictions: 100 },
        });
      const first = await trainAndRegister(
        t.deps,
        specOf(0),
        {
          uri: 'vega-datasets:seattle-weather.csv',
          window: { column: 'date', start: '2012-01-01', end: '2014-01-01' },
        },
        { champion: true, workflowId: 'bench-0' },
      );
      const dataset = (await t.deps.registry.getDataset(first.datasetSha256))!;
      for (let i = 1; i < n; i++) {
        const spec = specOf(i);
        const v = await t.deps.registry.registerVersion({
          ...first,
          model: spec.name,
          spec,
          dataset,
          workflowId: `bench-${i}`,
          runId: `bench-${i}`,
        });
        await t.deps.registry.recordLoadCheck(spec.name, v.version, first.loadCheck!);
        await t.deps.registry.moveChampion({
          model: spec.name,
          to: v.version,
          expectedChampion: 'any',
          kind: 'promote',
          actor: 'bench',
          reason: 'bench',
          requestId: `promote-${i}`,
          requireLoadCheck: true,
        });
      }
      const log = new PredictionLog(path.join(t.home, 'predictions'), {
        ...DEFAULT_LOG_OPTIONS,
        flushEveryMs: 3_600_000,
        retentionDays: 30,
      });
      // the traffic of the whole run, written before it starts (no writer competes with the worker while it is
      // measured): per model, `rows` predictions a minute, time-stamped over the minutes to come
      const rand = prng(3);
      // served inputs: real days of the years the model was trained on (no drift: no retrain storms)
      const days = await withDuckDB(async (con) =>
        (
          await con.runAndReadAll(
            `SELECT strftime(CAST(date AS DATE), '%Y-%m-%d') AS date, precipitation, temp_max, temp_min, wind
               FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))}) WHERE year(CAST(date AS DATE)) IN (2012, 2013)`,
          )
        ).getRowObjectsJson(),
      );
      const span = (minutes + 2) * 60_000;
      const from = Date.now();
      if (logged) {
        for (let i = 0; i < n; i++) {
          const count = Math.round((perMinute * span) / 60_000);
          const records: PredictionRecord[] = Array.from({ length: count }, (_, k) => {
            const at = from + Math.floor((k * span) / count);
            return {
              id: newPredictionId(at),
              model: `m${String(i).padStart(4, '0')}`,
              version: 1,
              arm: 'champion',
              at,
              latencyMs: 1 + rand() * 3,
              input: days[Math.floor(rand() * days.length)],
              output: { class: 'sun' },
              score: rand(),
              predicted: 'sun',
              flags: [],
            };
          });
          await log.append(records);
          if (i % 50 === 49 || i === n - 1) await log.flush();
        }
      }

      const connection = await NativeConnection.connect({ address: server.address });
      const queues = { pipeline: 'bench-pipeline', training: 'bench-training' };
      const workers = await createWorkers({ connection, roles: ['pipeline'], deps: t.deps, taskQueues: queues });
      const running = workers.map((w) => w.run());
      const client = new Client({ connection: await Connection.connect({ address: server.address }) });
      const startedAt = Date.now();
      const setUpSeconds = (startedAt - from) / 1000;
      for (let i = 0; i < n; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, n - i) }, (_, k) =>
            client.workflow.start('modelMonitor', {
              taskQueue: queues.pipeline,
              workflowId: monitorWorkflowId(`m${String(i + k).padStart(4, '0')}`),
              args: [{ model: `m${String(i + k).padStart(4, '0')}`, trainingTaskQueue: queues.training }],
            }),
          ),
        );
      }
      const firstMinute = Date.now();
      // the first minute fills the pipes; then measured
      await new Promise((r) => setTimeout(r, 60_000));
      const countReports = async (): Promise<number> => {
        let total = 0;
        for (let i = 0; i < n; i++)
          total += (await t.deps.registry.listMonitorReports(`m${String(i).padStart(4, '0')}`)).length;
        return total;
      };
      const reports0 = await countReports();
      const cpuWorker0 = process.cpuUsage();
      const cpuServer0 = cpuSecondsOf(server.process.pid!);
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, minutes * 60_000));
      const seconds = (Date.now() - t0) / 1000;
      const reports = (await countReports()) - reports0;
      const cpu = process.cpuUsage(cpuWorker0);
      const workerCpu = (cpu.user + cpu.system) / 1e6 / seconds;
      const serverCpu = (cpuSecondsOf(server.process.pid!) - cpuServer0) / seconds;
      const asked = (n * seconds) / 60;
      console.log(
        `${logged ? `with ${perMinute} logged predictions per model and minute (input drift, prediction drift, latency)` : 'baseline: nothing logged (orchestration alone)'}:\n` +
          `  ${reports} checks in ${seconds.toFixed(0)} s = ${((reports / seconds) * 60).toFixed(0)}/min against ${n}/min asked: ${(reports / asked).toFixed(2)}×; ` +
          `worker CPU ${(workerCpu * 100).toFixed(0)}% of a core, server ${(serverCpu * 100).toFixed(0)}%; ` +
          `logs written in ${setUpSeconds.toFixed(0)} s, monitors started in ${((firstMinute - startedAt) / 1000).toFixed(0)} s`,
      );
      let longest = 0;
      let continued = 0;
      let unanswered = 0;
      for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 50))) {
        try {
          const s = await client.workflow
            .getHandle(monitorWorkflowId(`m${String(i).padStart(4, '0')}`))
            .query(monitorStatusQuery);
          longest = Math.max(longest, s.historyLength);
          continued = Math.max(continued, s.continuedAsNew);
        } catch {
          unanswered++; // a worker too far behind does not answer queries in time
        }
      }
      console.log(
        `  longest history of 50 sampled monitors: ${longest} events (continued as new up to ${continued}×)${unanswered ? `; ${unanswered} of them did not answer a query in time` : ''}`,
      );
      for (const w of workers) w.shutdown();
      await Promise.all(running);
      await client.connection.close();
      await connection.close();
    } finally {
      await server.stop();
      t.cleanup();
    }
  }
}

run().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
