/**
 * The chaos run: Lumen's whole stack as a user runs it — a Temporal server persisting to SQLite, two pipeline and
 * two training workers, `lumen serve`, the monitor, batches arriving, predictions and labels flowing — while a
 * seeded schedule kills a random process (SIGKILL) or freezes one for 30 s (SIGSTOP), the Temporal server and the
 * serving process included. A killed process is started again a few seconds later, as a supervisor would. Then it
 * lets the stack settle and checks what must hold, whatever happened, and prints it as a table.
 *
 *   npm run test:chaos                        a short run (CI): 3 minutes of faults
 *   npm run bench:chaos                       30 minutes of faults (docs/benchmarks.md)
 *   npm run test:chaos -- --seed 42 --minutes 3    replay a run: the same seed gives the same schedule
 *
 * Exit code 0 when every invariant held; 1 otherwise, with the seed to replay.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Command } from 'commander';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { startTrainingPipeline } from '../../client/pipeline';
import { serverUnreachable } from '../../client/errors';
import { withDuckDB } from '../../lib/data/duckdb';
import type { SourceRef } from '../../lib/data/source';
import { openRegistryAt } from '../../lib/registry/open';
import type { Registry } from '../../lib/registry/types';
import { lumenPaths } from '../../lib/config';
import { prng } from '../../lib/rng';
import { logFiles, parquetScan } from '../../lib/serving/log-segments';
import { walFiles } from '../../lib/serving/log-wal';
import { parseModelSpec, type ModelSpec } from '../../lib/spec';
import { freePort, startDevServer } from '../../tools/devserver';
import { LumenStage, searchAttributeTypes } from '../../workflows/definitions';
import { monitorStatusQuery, monitorWorkflowId } from '../../workflows/monitor-definitions';
import { repoRoot } from '../support/env';
import { weatherRows, type WeatherRow } from '../support/serving';
import { weather } from '../support/weather';

const TOKEN = 'chaos-admin-token';
/** how long a frozen process stays frozen */
const FREEZE_MS = 30_000;
/** a served version may lag a move by this much: the serving instance's registry watch, plus a freeze */
const SERVE_LAG_MS = FREEZE_MS + 10_000;

interface Options {
  seed: number;
  minutes: number;
  home?: string;
}

interface Fault {
  at: number;
  target: string;
  kind: 'kill' | 'freeze';
}

/** One process of the stack, started again when chaos (or anything) ends it. */
class Supervised {
  child: ChildProcess | null = null;
  private output = '';
  starts = 0;
  /** exits that chaos did not cause */
  unexpected: string[] = [];
  private expectExit = false;

  constructor(
    readonly name: string,
    private readonly launch: () => Promise<ChildProcess>,
  ) {}

  async start(): Promise<void> {
    this.expectExit = false;
    const child = await this.launch();
    this.starts++;
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20_000)));
    child.stderr?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20_000)));
    child.once('exit', (code, signal) => {
      if (!this.expectExit) this.unexpected.push(`exit ${code ?? signal}: ${this.output.slice(-400).trim()}`);
    });
  }

  tail(): string {
    return this.output.slice(-2000);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectExit = true;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Graceful: SIGINT (serve writes its log), then SIGKILL after 20 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectExit = true;
    child.kill('SIGCONT');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The chaos run's model: Seattle weather, checked every 15 s by its monitor, half-years as batches. */
function chaosSpec(): ModelSpec {
  return parseModelSpec({
    ...weather,
    name: 'weather-chaos',
    training: { ...weather.training, epochs: 30 },
    // seasonal half-years must not be quarantined for drift: nobody is there to release them
    // and the monitor's retrain batches hold the traffic's repeated rows (sampled with replacement) as duplicates
    validation: {
      drift: { numeric: { fail: 10 }, categorical: { fail: 10 }, time: { gapDays: { warn: 62, fail: 5000 } } },
      maxDuplicateShare: { warn: 0.5, fail: 1.01 },
    },
    monitor: { everyMinutes: 0.25, minPredictions: 40, minLabels: 30 },
  });
}

function halfYear(y: number, half: 1 | 2): SourceRef {
  return {
    uri: 'vega-datasets:seattle-weather.csv',
    window: {
      column: 'date',
      start: half === 1 ? `${y}-01-01` : `${y}-07-01`,
      end: half === 1 ? `${y}-07-01` : `${y + 1}-01-01`,
    },
  };
}

async function run(): Promise<void> {
  const opts = new Command()
    .option('--seed <n>', 'the schedule of faults and the order of traffic', String(Date.now() % 100_000))
    .option('--minutes <n>', 'minutes of faults', '3')
    .option('--home <dir>', 'keep the run in this folder (default: a temporary one, removed when all held)')
    .parse()
    .opts<{ seed: string; minutes: string; home?: string }>();
  const options: Options = { seed: Number(opts.seed), minutes: Number(opts.minutes), home: opts.home };
  // one stream per use, so the schedule of faults is the same whatever the traffic did
  const faultRand = prng(options.seed);
  const batchRand = prng(options.seed + 1);
  const trafficRand = prng(options.seed + 2);
  const replay = `npm run test:chaos -- --seed ${options.seed} --minutes ${options.minutes}`;
  console.log(`chaos: seed ${options.seed}, ${options.minutes} min of faults (replay: ${replay})`);

  const home = options.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-chaos-'));
  fs.mkdirSync(home, { recursive: true });
  const paths = lumenPaths(home);
  const port = await freePort();
  const servePort = await freePort();
  const dbFile = path.join(home, 'temporal', 'temporal.sqlite');
  const address = `127.0.0.1:${port}`;
  const queues = { pipeline: `chaos-pipeline`, training: `chaos-training` };
  const env = {
    ...process.env,
    LUMEN_HOME: home,
    TEMPORAL_ADDRESS: address,
    LUMEN_PIPELINE_QUEUE: queues.pipeline,
    LUMEN_TRAINING_QUEUE: queues.training,
    LUMEN_ADMIN_TOKEN: TOKEN,
    LUMEN_LOG_LEVEL: 'WARN',
  };
  const node = (args: string[]) => () =>
    Promise.resolve(spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const server = new Supervised(
    'temporal',
    async () => (await startDevServer({ port, dbFile, searchAttributes: searchAttributeTypes() })).process,
  );
  const worker = (name: string, queue: 'pipeline' | 'training') =>
    new Supervised(
      name,
      node([path.join(repoRoot, 'dist', 'worker', 'main.js'), '--queues', queue, '--identity', name]),
    );
  const serve = new Supervised(
    'serve',
    node([path.join(repoRoot, 'bin', 'lumen.js'), 'serve', '--port', String(servePort), '--watch-ms', '1000']),
  );
  const processes = [
    server,
    worker('pipeline-1', 'pipeline'),
    worker('pipeline-2', 'pipeline'),
    worker('training-1', 'training'),
    worker('training-2', 'training'),
    serve,
  ];
  const faults: Fault[] = [];
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s`;
  const say = (line: string) => console.log(`${elapsed()}  ${line}`);

  await server.start();
  for (const p of processes.slice(1)) await p.start();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const spec = chaosSpec();
  const rows = await weatherRows(2015);

  /** a call to Temporal that outlives the server's outages */
  const patiently = async <T>(call: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (!serverUnreachable(err)) throw err;
        await sleep(1000);
      }
    }
  };

  // batches: every half-year of 2012–2015 in a seeded order, one the same batch twice, 25 s apart
  const batches: SourceRef[] = [];
  for (const y of [2012, 2013, 2014, 2015]) for (const h of [1, 2] as const) batches.push(halfYear(y, h));
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(batchRand() * (i + 1));
    [batches[i], batches[j]] = [batches[j], batches[i]];
  }
  batches.splice(3, 0, batches[1]);
  const runs: WorkflowHandle[] = [];
  let stopping = false;
  const feeding = (async () => {
    for (const source of batches) {
      if (stopping) break;
      try {
        const run = await patiently(() =>
          startTrainingPipeline(
            client,
            spec,
            source,
            { trainingTaskQueue: queues.training, actor: 'chaos' },
            queues.pipeline,
          ),
        );
        runs.push(run.handle);
        say(`batch ${source.window!.start}: ${run.state} ${run.workflowId}`);
      } catch (err) {
        say(`batch ${source.window!.start} not started: ${(err as Error).message}`);
      }
      await sleep(25_000);
    }
  })();

  // traffic: 20 requests a second; labels for half of the answers, 3 s later
  const answered = new Map<string, { version: number; at: number; label: string }>();
  const labelled = new Set<string>();
  /** labels the service refused for good (a class the answering version never learned): not sent again */
  const refusedLabels = new Set<string>();
  let refusedRequests = 0;
  const traffic = (async () => {
    let i = 0;
    while (!stopping) {
      const row: WeatherRow = rows[Math.floor(trafficRand() * rows.length)];
      const { weather: label, ...input } = row;
      const sent = Date.now();
      void fetch(`http://127.0.0.1:${servePort}/v1/models/${spec.name}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(input),
        signal: AbortSignal.timeout(10_000),
      })
        .then(async (res) => {
          const body = (await res.json()) as { version?: number; predictions?: { id: string }[] };
          if (res.status === 200 && body.predictions) {
            answered.set(body.predictions[0].id, { version: body.version!, at: sent, label });
          } else refusedRequests++;
        })
        .catch(() => refusedRequests++);
      if (i++ % 40 === 0) await sendLabels();
      await sleep(50);
    }
  })();
  async function sendLabels(): Promise<void> {
    const due = [...answered].filter(
      ([id, a], k) => k % 2 === 0 && !labelled.has(id) && !refusedLabels.has(id) && Date.now() - a.at > 3000,
    );
    if (!due.length) return;
    try {
      const res = await fetch(`http://127.0.0.1:${servePort}/v1/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(due.map(([id, a]) => ({ predictionId: id, label: a.label }))),
        signal: AbortSignal.timeout(10_000),
      });
      // 400 lists what was not kept: an id the log does not hold yet is sent again; a label of a class the served
      // version never learned (a rare one) would be refused again, and is done with
      if (res.status === 200 || res.status === 400) {
        const body = (await res.json()) as { unknown?: { index: number }[]; invalid?: { index: number }[] };
        const later = new Set((body.unknown ?? []).map((u) => u.index));
        const refused = new Set((body.invalid ?? []).map((u) => u.index));
        due.forEach(([id], k) => {
          if (refused.has(k)) refusedLabels.add(id);
          else if (!later.has(k)) labelled.add(id);
        });
      }
    } catch {
      // the next round sends them again (feedback is idempotent per prediction)
    }
  }

  // faults: after a warm-up, one every 15–35 s
  const chaos = (async () => {
    await sleep(30_000);
    const end = started + 30_000 + options.minutes * 60_000;
    while (Date.now() < end) {
      const target = processes[Math.floor(faultRand() * processes.length)];
      const kind: Fault['kind'] = faultRand() < 0.7 ? 'kill' : 'freeze';
      faults.push({ at: Date.now() - started, target: target.name, kind });
      if (kind === 'kill') {
        say(`SIGKILL ${target.name}`);
        await target.kill();
        await sleep(2000 + faultRand() * 3000);
        await target.start();
        say(`started ${target.name} again`);
      } else {
        say(`SIGSTOP ${target.name} for ${FREEZE_MS / 1000} s`);
        target.freeze();
        await sleep(FREEZE_MS);
        target.thaw();
      }
      await sleep(15_000 + faultRand() * 20_000);
    }
  })();
  await chaos;
  say('faults over; settling');
  stopping = true;
  await traffic;
  await feeding;
  for (const p of processes) if (!p.running) await p.start();
  // every run ends (no person is needed by any of them), and the last labels go out
  const settleBy = Date.now() + 180_000;
  for (const handle of runs) {
    // polled, not a long wait for the result: nothing is left pending when the connection closes
    while (Date.now() < settleBy && (await patiently(() => handle.describe())).status.name === 'RUNNING') {
      await sleep(2000);
    }
  }
  await sleep(3000);
  await sendLabels();
  await serve.stop();

  const registry = await openRegistryAt(paths.registry);
  const table: [string, boolean, string][] = [];
  try {
    await check(table, { client, registry, home, spec, answered, labelled, runs, processes, dbFile });
  } finally {
    registry.close();
    for (const p of processes.slice(1)) await p.stop();
    await connection.close();
    await server.stop();
  }
  const kills = faults.filter((f) => f.kind === 'kill').length;
  console.log(
    `\n${faults.length} faults (${kills} SIGKILL, ${faults.length - kills} SIGSTOP of ${FREEZE_MS / 1000} s): ` +
      faults.map((f) => `${(f.at / 1000).toFixed(0)} s ${f.kind} ${f.target}`).join(', '),
  );
  console.log(
    `${answered.size} predictions answered, ${refusedRequests} requests not answered, ${labelled.size} labelled, ${refusedLabels.size} labels refused (classes the version never learned)\n`,
  );
  const width = Math.max(...table.map(([name]) => name.length));
  for (const [name, held, evidence] of table) {
    console.log(`${name.padEnd(width)}  ${held ? 'held    ' : 'VIOLATED'}  ${evidence}`);
  }
  const violated = table.filter(([, held]) => !held);
  if (violated.length) {
    console.log(`\n${violated.length} invariant(s) violated. Replay: ${replay} --home ${home}`);
    for (const p of processes) if (p.unexpected.length) console.log(`${p.name}: ${p.unexpected.join(' | ')}`);
    process.exitCode = 1;
  } else {
    console.log('\nevery invariant held');
    if (!options.home) fs.rmSync(home, { recursive: true, force: true });
  }
}

interface Run {
  client: Client;
  registry: Registry;
  home: string;
  spec: ModelSpec;
  answered: Map<string, { version: number; at: number }>;
  labelled: Set<string>;
  runs: WorkflowHandle[];
  processes: Supervised[];
  dbFile: string;
}

async function check(table: [string, boolean, string][], r: Run): Promise<void> {
  const model = r.spec.name;
  const root = path.join(r.home, 'predictions');

  // the prediction log
  const ahead = walFiles(root);
  const logged = await withDuckDB(async (con) => {
    const files = logFiles(root, model);
    if (!files.length) return new Map<string, { n: number; version: number; at: number; arm: string }>();
    const rows = (
      await con.runAndReadAll(
        `SELECT id, count(*) AS n, any_value(version) AS version, epoch_ms(any_value("at")) AS at, any_value(arm) AS arm
           FROM ${parquetScan(files)} GROUP BY id`,
      )
    ).getRowsJS();
    return new Map(
      rows.map((row) => [
        row[0] as string,
        { n: Number(row[1]), version: Number(row[2]), at: Number(row[3]), arm: row[4] as string },
      ]),
    );
  });
  const missing = [...r.answered.keys()].filter((id) => !logged.has(id));
  const twice = [...logged].filter(([, v]) => v.n > 1);
  table.push([
    'every answered prediction is in the log exactly once',
    missing.length === 0 && twice.length === 0 && ahead.length === 0,
    `${r.answered.size} answered; ${missing.length} missing${missing.length ? ` (${missing.slice(0, 3).join(', ')})` : ''}; ${twice.length} twice; ${ahead.length} write-ahead files left`,
  ]);
  const feedbackFile = path.join(root, 'feedback.sqlite');
  const labels: string[] = [];
  if (fs.existsSync(feedbackFile)) {
    const db = new Database(feedbackFile, { readonly: true });
    try {
      for (const row of db.prepare('SELECT prediction_id FROM feedback').all() as { prediction_id: string }[]) {
        labels.push(row.prediction_id);
      }
    } finally {
      db.close();
    }
  }
  const orphanLabels = labels.filter((id) => !logged.has(id));
  table.push([
    'every accepted label joins a logged prediction',
    orphanLabels.length === 0 && labels.length >= r.labelled.size,
    `${labels.length} labels accepted (${r.labelled.size} acknowledged); ${orphanLabels.length} without a logged prediction`,
  ]);

  // training and the registry
  const versions = await r.registry.listVersions(model);
  const byContent = new Map<string, number>();
  const byRun = new Map<string, number>();
  for (const v of versions) {
    byContent.set(`${v.datasetSha256}/${v.specHash}`, (byContent.get(`${v.datasetSha256}/${v.specHash}`) ?? 0) + 1);
    byRun.set(v.workflowId, (byRun.get(v.workflowId) ?? 0) + 1);
  }
  const contentTwice = [...byContent.values()].filter((n) => n > 1).length;
  const runTwice = [...byRun.values()].filter((n) => n > 1).length;
  table.push([
    'each batch content with a given spec trained once; one version per run',
    contentTwice === 0 && runTwice === 0,
    `${versions.length} versions; ${contentTwice} contents and ${runTwice} runs with more than one`,
  ]);

  const moves = (await r.registry.aliasHistory(model)).filter((e) => e.alias === 'champion');
  const breaks = moves.filter((m, i) => i > 0 && m.fromVersion !== moves[i - 1].toVersion);
  table.push([
    'the champion history is unbroken',
    breaks.length === 0 && (moves[0]?.fromVersion ?? null) === null,
    `${moves.length} moves: ${moves.map((m) => `${m.fromVersion ?? '–'}→${m.toVersion}`).join(', ')}`,
  ]);
  // a served version was champion at the time (or within the serving instance's lag of a move)
  const championAt = (t: number): number[] => {
    const out: number[] = [];
    let current: number | null = null;
    for (const m of moves) {
      const at = Date.parse(m.at);
      if (at > t) break;
      if (at >= t - SERVE_LAG_MS && current !== null) out.push(current);
      current = m.toVersion;
    }
    if (current !== null) out.push(current);
    return out;
  };
  let lagged = 0;
  const wrong: string[] = [];
  for (const [id, rec] of logged) {
    if (rec.arm !== 'champion') continue;
    const allowed = championAt(rec.at);
    if (!allowed.includes(rec.version)) wrong.push(`${id} v${rec.version}`);
    else if (allowed[allowed.length - 1] !== rec.version) lagged++;
  }
  table.push([
    'every served version was champion at the time',
    wrong.length === 0,
    `${logged.size} logged; ${wrong.length} by a version that was not champion${wrong.length ? ` (${wrong.slice(0, 3).join(', ')})` : ''}; ${lagged} within ${SERVE_LAG_MS / 1000} s after a move`,
  ]);

  // monitors and workflows
  const champion = await r.registry.alias(model, 'champion');
  let monitorOk = champion === null;
  let monitorNote = 'no champion';
  if (champion !== null) {
    try {
      const handle = r.client.workflow.getHandle(monitorWorkflowId(model));
      const described = await handle.describe();
      const status = await r.client.connection.withDeadline(Date.now() + 15_000, () =>
        handle.query(monitorStatusQuery),
      );
      monitorOk = described.status.name === 'RUNNING';
      monitorNote = `${described.status.name}; ${status.checks} checks, champion v${status.champion} (registry v${champion}); ${status.dropped.total} signals dropped`;
    } catch (err) {
      monitorNote = `no answer: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  table.push(['every model with a champion has one running monitor that answers', monitorOk, monitorNote]);

  const stuck: string[] = [];
  let open = 0;
  for await (const w of r.client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    open++;
    const d = await r.client.workflow.getHandle(w.workflowId).describe();
    const attempt = d.raw.pendingWorkflowTask?.attempt ?? 0;
    if (attempt > 1) stuck.push(`${w.workflowId}: workflow task failing (attempt ${attempt})`);
    if (w.type === 'trainingPipeline') {
      const pending = (d.raw.pendingActivities ?? [])
        .map(
          (a) =>
            `${a.activityType?.name} attempt ${a.attempt} (${a.lastFailure?.message?.split('\n')[0] ?? 'no failure'})`,
        )
        .join(', ');
      stuck.push(
        `${w.workflowId}: still running after the settle, at ${d.typedSearchAttributes.get(LumenStage)}; ${pending || 'no activity pending'}`,
      );
    }
    for (const a of d.raw.pendingActivities ?? []) {
      if ((a.attempt ?? 1) > 3) stuck.push(`${w.workflowId}: ${a.activityType?.name} at attempt ${a.attempt}`);
    }
  }
  const failed: string[] = [];
  for (const handle of r.runs) {
    const d = await handle.describe();
    if (d.status.name !== 'COMPLETED' && d.status.name !== 'RUNNING') {
      const why = await handle.result().then(
        () => '',
        (err: Error) => (err.cause as Error | undefined)?.message ?? err.message,
      );
      failed.push(`${handle.workflowId} ${d.status.name}: ${why}`);
    }
  }
  table.push([
    'no workflow is stuck, and every run ended',
    stuck.length === 0 && failed.length === 0,
    `${open} open (monitor, supervisor); ${r.runs.length} runs started${[...stuck, ...failed].length ? `; ${[...stuck, ...failed].slice(0, 3).join('; ')}` : ', all completed'}`,
  ]);

  const leftovers: string[] = [];
  const artifacts = path.join(r.home, 'artifacts');
  for (const sub of ['.tmp', path.join('checkpoints', model)]) {
    const dir = path.join(artifacts, sub);
    if (fs.existsSync(dir)) for (const name of fs.readdirSync(dir)) leftovers.push(path.join(sub, name));
  }
  const readers = path.join(root, '.readers');
  if (fs.existsSync(readers)) for (const name of fs.readdirSync(readers)) leftovers.push(path.join('.readers', name));
  table.push([
    'no orphaned temporary files or checkpoints',
    leftovers.length === 0,
    `${leftovers.length} left${leftovers.length ? `: ${leftovers.slice(0, 4).join(', ')}` : ''}`,
  ]);

  const unexpected = r.processes.filter((p) => p.unexpected.length);
  table.push([
    'no process ended by itself',
    unexpected.length === 0,
    r.processes.map((p) => `${p.name} started ${p.starts}×`).join(', '),
  ]);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
