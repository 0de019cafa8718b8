import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { workerLogFunction } from '../worker/log';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { FileArtifactStore, type ArtifactRef, type ArtifactStore } from '../lib/artifacts';
import { lumenPaths, projectRoot } from '../lib/config';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { monthWindow, type SourceRef } from '../lib/data/source';
import { SqliteRegistry } from '../lib/registry/sqlite';
import type { ModelVersion } from '../lib/registry/types';
import { prng } from '../lib/rng';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../lib/spec';
import { startServer, type RunningServer } from '../serve/server';
import { freePort, portInUse, startDevServer, stopProcess, type DevServer } from '../tools/devserver';
import { codeVersion } from '../lib/version';
import { createWorkers } from '../worker/workers';
import {
  championChangeWorkflowId,
  searchAttributeTypes,
  statusQuery,
  type ChampionChangeInput,
} from '../workflows/definitions';
import type { championChange, modelMonitor, trainingPipeline } from '../workflows';
import { monitorStatusQuery, monitorWorkflowId, type MonitorStatus } from '../workflows/monitor-definitions';
import { connectClient, localClientConfig, workflowUrl, type ClientConfig } from '../client/connection';
import { loadAccessPolicy } from '../lib/access/policy';
import { decideCandidateWith, decideQuarantineWith } from '../client/decisions';
import { CliError } from '../client/errors';
import { actor } from '../client/identity';
import { color, interactive } from '../client/output';
import { startTrainingPipeline } from '../client/pipeline';
import { DEFAULT_LOG_OPTIONS } from '../lib/serving/prediction-log';

/**
 * `lumen demo --loop`: the whole loop, live, on six months of real 2001 flights, in about ten minutes.
 *
 * A Temporal dev server, a pipeline worker (here) and a training worker (its own process, so it can be killed), a
 * serving instance with its console, and traffic: flights of the month replayed as prediction requests, their
 * true delays sent back a few seconds later as feedback. A month of traffic lasts well under a minute; the monitor
 * checks every 15 s. The story, each step waited for and failing loudly if it does not happen:
 *
 *   1. January trains the first model; the auto-approver (or you, with --approve ask) approves it.
 *   2. February traffic: the monitor finds nothing.
 *   3. A feed bug shifts every delay by 30 minutes: the batch is quarantined for drift. An operator releases it by
 *      mistake; its candidate is not approved; the operator promotes it by hand anyway (with an override). Served, it does measurably
 *      worse than the version before on the labels that come back, and the monitor rolls it back by itself.
 *   4. March arrives as a clean batch: validated, accepted, trained, gated, approved, promoted under traffic.
 *   5. From May the traffic is evening flights only (real ones, resampled): served inputs drift from the training
 *      data and more flights are late. The monitor retrains on the newest accepted batch plus the labelled
 *      predictions; the training worker is killed mid-training and the run resumes from its checkpoint on a new
 *      one; the new version is gated, approved and promoted under traffic.
 *
 * The drift of step 5 and the faults of steps 3 and 5 are injected, and said so; the rest is the flights as they
 * were. Every choice of rows follows the seed. State lives in <LUMEN_HOME>/demo-loop, started afresh each time.
 */
export interface LoopOptions {
  seed: string;
  approve: string;
  keep?: boolean;
}

const MODEL_FILE = path.join('examples', 'models', 'flights-delay.json');
const FLIGHTS = 'vega-datasets:flights-3m.parquet';
/** how long after a prediction its true label comes back */
const LABEL_DELAY_MS = 4000;
/** traffic: one request of ROWS rows every TICK_MS */
const TICK_MS = 50;
const ROWS = 8;
/** The first epoch a training worker logged as complete after `from` bytes of its log, if any. */
function epochLogged(file: string, from: number): number | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.max(0, size - from));
    fs.readSync(fd, buffer, 0, buffer.length, from);
    const m = /epoch complete \[[^\]]*\] .*?\bepoch=(\d+)/.exec(buffer.toString('utf8'));
    return m ? Number(m[1]) : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** what any one step may take before the demo says it did not happen */
const STEP_TIMEOUT_MS = 4 * 60_000;

interface Event {
  at: number;
  month: string;
  serving: number | null;
  what: string;
  link?: string;
}

interface Row {
  date: string;
  distance: number;
  origin: string;
  destination: string;
  delay: number;
}

/** The demo's spec: the flights model as in examples/, with the changes a ten-minute demo needs, printed. */
function demoSpec(): { spec: ModelSpec; changes: string[] } {
  const base = loadModelSpec(path.join(projectRoot(), MODEL_FILE));
  const changes = [
    'training: 3 epochs on at most 150,000 rows (examples/: 4 epochs, every row)',
    'gate: a person approves every promotion, timeout 30 minutes',
    'monitor: a check every 15 s; 300 predictions and 200 labels to judge; 2 checks in a row to act; 2-minute cooldown',
    'monitor: unusual inputs up to 35% (a quarter of flights use airports the model buckets as "other"); slices of 400 labels for fairness',
    'monitor: a retrain takes 200,000 rows of the newest accepted batch, so the labelled traffic weighs more',
  ];
  const spec = parseModelSpec({
    ...base,
    training: { ...base.training, epochs: 3, maxTrainingRows: 150_000 },
    gate: { ...base.gate, approval: { required: 'always', timeout: '30m' } },
    monitor: {
      everyMinutes: 0.25,
      minPredictions: 300,
      minLabels: 200,
      breaches: 2,
      clearAfter: 2,
      cooldownMinutes: 2,
      unusual: { maxRate: 0.35 },
      fairness: { minSliceLabels: 400 },
      retrain: { acceptedRows: 200_000 },
    },
  });
  return { spec, changes };
}

export async function runLoopDemo(opts: LoopOptions): Promise<void> {
  const seed = Number(opts.seed);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new CliError(`--seed must be a whole number ≥ 0, got "${opts.seed}"`);
  if (opts.approve !== 'auto' && opts.approve !== 'ask') {
    throw new CliError(`--approve must be auto or ask, got "${opts.approve}"`);
  }
  if (opts.approve === 'ask' && !process.stdin.isTTY) {
    throw new CliError('--approve ask needs a terminal to ask at; use --approve auto');
  }
  Runtime.install({ logger: new DefaultLogger('WARN', workerLogFunction(false)), shutdownSignals: [] });
  const loop = new LoopDemo(seed, opts.approve, opts.keep ?? false);
  try {
    await loop.run();
  } finally {
    await loop.stop();
  }
}

class LoopDemo {
  private readonly home = path.join(lumenPaths().home, 'demo-loop');
  private readonly started = Date.now();
  private readonly events: Event[] = [];
  private readonly rand: () => number;
  private readonly spec: ModelSpec;
  private readonly changes: string[];
  private registry!: SqliteRegistry;
  private store!: ArtifactStore;
  private devServer?: DevServer;
  private config!: ClientConfig;
  private client?: Client;
  private connection?: NativeConnection;
  private workers: Worker[] = [];
  private running: Promise<void>[] = [];
  private trainer?: ChildProcess;
  private server?: RunningServer;
  private traffic?: NodeJS.Timeout;
  private progress?: NodeJS.Timeout;
  private approver?: NodeJS.Timeout;
  private month = '—';
  private pool: Row[] = [];
  private next = 0;
  private readonly labels: { id: string; delay: number; due: number }[] = [];
  private readonly counts = { served: 0, labelled: 0, failed: 0, byVersion: new Map<number, number>() };
  private readonly swaps: { at: number; from: number | null; to: number }[] = [];
  private lastServed: number | null = null;
  private step = 'starting';
  private asking = false;
  private readonly decided = new Set<string>();
  private readonly token = randomBytes(18).toString('base64url');

  constructor(
    seed: number,
    private readonly approve: string,
    private readonly keep: boolean,
  ) {
    this.rand = prng(seed);
    ({ spec: this.spec, changes: this.changes } = demoSpec());
  }

  private say(line: string): void {
    if (interactive) process.stdout.write('\r\x1b[2K');
    console.log(line);
  }

  private event(what: string, link?: string): void {
    const e: Event = { at: Date.now(), month: this.month, serving: this.lastServed, what, link };
    this.events.push(e);
    this.say(`${color.dim(clock(e.at - this.started))} ${color.bold(this.month.padEnd(8))} ${what}`);
  }

  async run(): Promise<void> {
    fs.rmSync(this.home, { recursive: true, force: true });
    fs.mkdirSync(this.home, { recursive: true });
    const paths = lumenPaths(this.home);
    this.store = new FileArtifactStore(paths.artifacts);
    this.registry = new SqliteRegistry(paths.registry);
    // workers tell the serving instance about promotions with this token (it also watches the registry)
    process.env.LUMEN_ADMIN_TOKEN = this.token;
    console.log(color.bold('Lumen, the whole loop on six months of 2001 flights'));
    console.log(`state      ${this.home} (started afresh)`);
    console.log(
      `spec       ${MODEL_FILE}, changed for the demo:\n${this.changes.map((c) => `           - ${c}`).join('\n')}`,
    );

    await this.startServices();
    this.approver = setInterval(() => void this.approvePending(), 1000);
    this.progress = setInterval(() => this.showProgress(), 500);

    await this.january();
    await this.february();
    await this.feedBug();
    await this.march();
    await this.eveningShift();
    this.setStep('final traffic');
    await sleep(20_000);
    this.stopTraffic();
    await this.server!.log?.flush();
    this.timeline();
    if (this.keep) {
      const stopped = new Promise<void>((resolve) => {
        process.on('SIGINT', () => resolve());
        process.on('SIGTERM', () => resolve());
      });
      this.say(
        `\nstill running: console ${this.server!.url}/ui, Temporal Web UI ${this.config.uiUrl} — Ctrl-C stops everything`,
      );
      await stopped;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // what runs

  private async startServices(): Promise<void> {
    const port = (await portInUse(7233)) ? await freePort() : 7233;
    const uiPort = (await portInUse(8233)) ? await freePort() : 8233;
    this.devServer = await startDevServer({
      port,
      uiPort,
      dbFile: path.join(this.home, 'temporal', 'dev.sqlite'),
      logFile: path.join(this.home, 'temporal', 'server.log'),
      searchAttributes: searchAttributeTypes(),
    });
    this.config = localClientConfig(this.devServer.address, this.devServer.uiUrl);
    console.log(
      `temporal   ${this.config.address}, Web UI ${this.config.uiUrl}${port !== 7233 ? ' (7233 was taken)' : ''}`,
    );
    this.client = await connectClient(this.config);
    this.connection = await NativeConnection.connect(this.config.connection);
    this.workers = await createWorkers({
      connection: this.connection,
      roles: ['pipeline'],
      deps: {
        store: this.store,
        registry: this.registry,
        codeVersion: codeVersion(),
        access: () => loadAccessPolicy(this.home),
      },
    });
    this.running = this.workers.map((w) => w.run());
    this.startTrainer();
    this.server = await startServer(
      { store: this.store, registry: this.registry },
      {
        host: '127.0.0.1',
        port: 0,
        batch: { maxBatch: 256, maxWaitMs: 0 },
        bodyLimit: 1024 * 1024,
        maxRows: 1000,
        rateLimit: null,
        tokens: { admin: this.token, feedback: this.token, predict: null },
        watchMs: 2000,
        log: {
          root: path.join(this.home, 'predictions'),
          options: { ...DEFAULT_LOG_OPTIONS, flushEveryMs: 1000, retentionDays: 30 },
        },
        feedbackFile: path.join(this.home, 'predictions', 'feedback.sqlite'),
        corsOrigin: null,
        temporal: this.config,
      },
    );
    console.log(`serving    ${this.server.url} (console ${this.server.url}/ui)`);
    console.log(
      `approvals  ${this.approve === 'auto' ? 'the auto-approver (approves a candidate whose batch its contract accepted; --approve ask to decide yourself)' : 'you decide, when asked'}\n`,
    );
  }

  /** The training worker, in its own process: what step 5 kills. */
  private startTrainer(): void {
    const log = fs.openSync(path.join(this.home, 'training-worker.log'), 'a');
    this.trainer = spawn(
      process.execPath,
      [path.join(projectRoot(), 'dist', 'worker', 'main.js'), '--queues', 'training'],
      {
        env: { ...process.env, LUMEN_HOME: this.home, TEMPORAL_ADDRESS: this.config.address },
        stdio: ['ignore', log, log],
      },
    );
    fs.closeSync(log);
  }

  async stop(): Promise<void> {
    for (const t of [this.traffic, this.progress, this.approver]) if (t) clearInterval(t);
    if (interactive) process.stdout.write('\r\x1b[2K');
    await this.server?.close().catch(() => undefined);
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(this.running);
    if (this.trainer && this.trainer.exitCode === null) await stopProcess(this.trainer).catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    await this.client?.connection.close().catch(() => undefined);
    await this.devServer?.stop().catch(() => undefined);
    this.registry?.close();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // the story

  private async january(): Promise<void> {
    this.month = '2001-01';
    this.setStep('training the first model on January');
    const run = await this.train(monthSource('2001-01'), 'January');
    const result = await run.handle.result();
    if (result.outcome !== 'promoted') throw new Error(`January's model was not promoted: ${result.outcome}`);
    await this.until('v1 served', async () =>
      this.server!.host.served(this.spec.name)?.version === 1 ? true : undefined,
    );
    this.event(
      `v${result.version} promoted (${metric(result.metrics)}); the monitor starts`,
      this.link(run.workflowId),
    );
    await this.loadTraffic('2001-01');
    this.startTraffic();
  }

  private async february(): Promise<void> {
    await this.loadTraffic('2001-02');
    this.setStep('February traffic; the monitor checks every 15 s');
    const from = (await this.monitor())?.checks ?? 0;
    await this.until('three health checks of February traffic', async () => {
      const s = await this.monitor();
      return s && s.checks >= from + 3 ? s : undefined;
    });
    const s = (await this.monitor())!;
    const last = s.reports.at(-1);
    this.event(
      `monitor: ${s.checks} checks, ${last?.findings.length ? `findings: ${last.findings.map((f) => f.kind).join(', ')}` : 'healthy'}`,
      this.link(monitorWorkflowId(this.spec.name)),
    );
  }

  private async feedBug(): Promise<void> {
    this.setStep('a feed bug: every delay of a February batch 30 minutes too late');
    const file = path.join(this.home, 'batches', 'february-feed-bug.parquet');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT * REPLACE (delay + 30 AS delay) FROM ${flightsScan()} WHERE date >= '2001-02-01' AND date < '2001-03-01')
           TO ${sqlString(file)} (FORMAT parquet)`,
      ),
    );
    this.event('injected: a February batch whose delays are all 30 minutes late (a feed bug)');
    const run = await this.train({ uri: file }, 'the buggy February batch');
    await this.until('the quarantine', async () =>
      (await run.handle.query(statusQuery)).stage === 'quarantined' ? true : undefined,
    );
    const [held] = await this.registry.listValidations({ model: this.spec.name, decision: 'quarantined' });
    this.event(
      `quarantined by its contract: ${held ? await summaryOf(held.report, this.store) : ''}`,
      this.link(run.workflowId),
    );
    const released = await decideQuarantineWith(() => Promise.resolve(this.client!), this.registry, {
      kind: 'release',
      target: run.workflowId,
      by: 'operator',
      reason: 'demo: released by mistake — it should have been discarded',
    });
    this.event(`injected: an operator releases it by mistake (${released.decision})`);
    const result = await run.handle.result();
    if (result.version === null) throw new Error(`the released batch trained no version: ${result.outcome}`);
    const bad = result.version;
    this.event(
      `v${bad} trained on it: ${result.outcome}${result.approval?.comment ? ` (${result.approval.by}: ${result.approval.comment})` : ''}`,
      this.link(run.workflowId),
    );

    await this.loadTraffic('2001-03');
    this.setStep(`promoting v${bad} by hand`);
    const requestId = randomUUID();
    const change: ChampionChangeInput = {
      model: this.spec.name,
      kind: 'promote',
      to: bad,
      reason: 'demo: promoted by hand, skipping the review',
      by: 'operator',
      requestId,
      // the rejected candidate takes traffic only with an override saying why; the operator gives one, wrongly
      override: 'demo: "the rejection was only about the released batch" (it was not)',
    };
    const workflowId = championChangeWorkflowId(this.spec.name, requestId);
    await this.client!.workflow.execute<typeof championChange>('championChange', {
      taskQueue: 'lumen-pipeline',
      workflowId,
      args: [change],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
    await this.until(`v${bad} served`, async () =>
      this.server!.host.served(this.spec.name)?.version === bad ? true : undefined,
    );
    this.event(
      `injected: an operator promotes the rejected v${bad} by hand with an override; it is served (hot swap)`,
      this.link(workflowId),
    );
    this.setStep(`waiting for the monitor to notice v${bad}`);
    const rollback = await this.until('the automatic rollback', async () =>
      (await this.registry.listMonitorActions(this.spec.name)).find(
        (a) => a.kind === 'rollback' && a.trigger === 'auto',
      ),
    );
    await this.until('the rolled-back version served', async () => {
      const v = this.server!.host.served(this.spec.name)?.version;
      return v !== undefined && v !== bad ? true : undefined;
    });
    this.event(
      `monitor rolled back automatically to v${this.server!.host.served(this.spec.name)?.version}: ${rollback.reason}`,
      this.link(rollback.workflowId ?? monitorWorkflowId(this.spec.name)),
    );
  }

  private async march(): Promise<void> {
    this.month = '2001-03';
    this.setStep('March arrives as a clean batch');
    const run = await this.train(monthSource('2001-03'), 'March');
    const result = await run.handle.result();
    this.event(
      `March: ${result.validation.decision}, v${result.version} ${result.outcome}${result.verdict ? ` — ${result.verdict.reason}` : ''}`,
      this.link(run.workflowId),
    );
    if (result.outcome === 'promoted') {
      await this.until(`v${result.version} served`, async () =>
        this.server!.host.served(this.spec.name)?.version === result.version ? true : undefined,
      );
    }
    await this.loadTraffic('2001-04');
    await sleep(30_000);
  }

  private async eveningShift(): Promise<void> {
    // no training runs between here and the retrain: the next epoch the training worker logs is the retrain's
    const trainerLog = path.join(this.home, 'training-worker.log');
    const logFrom = fs.statSync(trainerLog).size;
    await this.loadTraffic('2001-05', true);
    this.event('injected: from May the traffic is evening flights only (17:00–23:59), real ones resampled');
    this.setStep('waiting for the monitor to see the drift');
    const action = await this.until('a retrain started by the monitor', async () =>
      (await this.registry.listMonitorActions(this.spec.name)).find(
        (a) => a.kind === 'retrain' && a.trigger === 'auto' && a.workflowId,
      ),
    );
    this.event(`monitor retrains: ${action.reason}`, this.link(action.workflowId!));
    await this.loadTraffic('2001-06', true);
    const handle = this.client!.workflow.getHandle<typeof trainingPipeline>(action.workflowId!);
    this.setStep('retraining; the training worker will be killed mid-training');
    // killed the moment the worker says an epoch is done and checkpointed: an epoch of this retrain takes well under
    // a second on one thread per op, too short a window to wait for the heartbeat to reach the server first
    const epoch = await this.until(
      `training under way in ${action.workflowId}`,
      () => Promise.resolve(epochLogged(trainerLog, logFrom)),
      25,
    );
    this.trainer!.kill('SIGKILL');
    this.event(`injected: the training worker is killed (SIGKILL) after epoch ${epoch}`);
    await sleep(3000);
    this.startTrainer();
    this.event('a new training worker starts; the server retries the training there once the heartbeat times out');
    this.setStep('the retrain resumes on the new worker');
    const result = await handle.result();
    this.event(
      `retrain: resumed from epoch ${result.resumedFromEpoch ?? '— (not interrupted)'}; v${result.version} ${result.outcome}${result.verdict ? ` — ${result.verdict.reason}` : ''}`,
      this.link(action.workflowId!),
    );
    if (result.resumedFromEpoch === null)
      throw new Error('the retrain was not interrupted: the worker was killed too late');
    if (result.outcome === 'promoted') {
      await this.until(`v${result.version} served`, async () =>
        this.server!.host.served(this.spec.name)?.version === result.version ? true : undefined,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // pieces

  private train(source: SourceRef, what: string) {
    this.event(`batch: ${what} → the training pipeline`);
    return startTrainingPipeline(this.client!, this.spec, source, { actor: 'demo' });
  }

  private link(workflowId: string): string {
    return workflowUrl(this.config, workflowId);
  }

  private setStep(step: string): void {
    this.step = step;
  }

  private async monitor(): Promise<MonitorStatus | undefined> {
    return this.client!.workflow.getHandle<typeof modelMonitor>(monitorWorkflowId(this.spec.name))
      .query(monitorStatusQuery)
      .catch(() => undefined);
  }

  private async until<T>(what: string, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        throw new Error(`${what} did not happen within ${STEP_TIMEOUT_MS / 60_000} minutes (state in ${this.home})`);
      }
      await sleep(everyMs);
    }
  }

  /** The month's flights as traffic: a seeded sample, the whole month's mix (evening flights only, when asked). */
  private async loadTraffic(month: string, evening = false): Promise<void> {
    this.month = month;
    const { start, end } = monthWindow('date', month);
    const rows = await withDuckDB(async (con) =>
      (
        await con.runAndReadAll(
          `SELECT strftime(date, '%Y-%m-%d %H:%M:%S') AS date, distance, origin, destination, delay FROM ${flightsScan()}
            WHERE date >= '${start}' AND date < '${end}' ${evening ? 'AND hour(date) >= 17' : ''}
            ORDER BY hash(date, origin, destination, distance, ${Math.floor(this.rand() * 1e9)}) LIMIT 40000`,
        )
      ).getRowObjectsJS(),
    );
    this.pool = rows.map((r) => ({
      date: r.date as string,
      distance: Number(r.distance),
      origin: r.origin as string,
      destination: r.destination as string,
      delay: Number(r.delay),
    }));
    this.next = 0;
    if (this.traffic) this.event(`traffic: ${month}${evening ? ', evening flights only' : ''}`);
  }

  private startTraffic(): void {
    let sending = 0;
    this.traffic = setInterval(() => {
      if (sending > 4) return; // the server is behind: do not pile requests up
      sending++;
      void this.sendTick().finally(() => sending--);
    }, TICK_MS);
  }

  private stopTraffic(): void {
    if (this.traffic) clearInterval(this.traffic);
    this.traffic = undefined;
  }

  private async sendTick(): Promise<void> {
    // each flight of the month once, in the seeded order of the pool
    const batch = Array.from({ length: ROWS }, () => this.pool[this.next++ % this.pool.length]);
    try {
      const res = await fetch(`${this.server!.url}/v1/models/${this.spec.name}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch.map(({ delay: _label, ...input }) => input)),
      });
      if (res.status !== 200) {
        this.counts.failed++;
        return;
      }
      const answer = (await res.json()) as { version: number; predictions: { id: string }[] };
      this.counts.served += answer.predictions.length;
      this.counts.byVersion.set(
        answer.version,
        (this.counts.byVersion.get(answer.version) ?? 0) + answer.predictions.length,
      );
      if (this.lastServed !== answer.version) {
        this.swaps.push({ at: Date.now(), from: this.lastServed, to: answer.version });
        this.lastServed = answer.version;
      }
      const due = Date.now() + LABEL_DELAY_MS;
      answer.predictions.forEach((p, i) => this.labels.push({ id: p.id, delay: batch[i].delay, due }));
      if (this.labels.length && this.labels[0].due <= Date.now()) await this.sendLabels();
    } catch {
      this.counts.failed++;
    }
  }

  private async sendLabels(): Promise<void> {
    const now = Date.now();
    let n = 0;
    while (n < this.labels.length && this.labels[n].due <= now) n++;
    const due = this.labels.splice(0, n);
    if (due.length === 0) return;
    const res = await fetch(`${this.server!.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify(due.map((l) => ({ predictionId: l.id, label: l.delay }))),
    });
    if (res.status === 200) this.counts.labelled += due.length;
  }

  /** Approve or reject what waits: by the auto-approver's rule, or by asking. */
  private async approvePending(): Promise<void> {
    if (this.asking) return;
    const pending = await this.registry.listApprovals({ model: this.spec.name, status: 'pending' }).catch(() => []);
    for (const p of pending) {
      const key = `${p.model}:v${p.version}`;
      if (this.decided.has(key)) continue;
      const version = await this.registry.getVersion(p.model, p.version);
      if (!version) continue;
      this.decided.add(key);
      this.asking = true;
      try {
        const decision = this.approve === 'ask' ? await this.ask(version) : autoDecision(version);
        const answer = await decideCandidateWith(() => Promise.resolve(this.client!), this.registry, {
          kind: decision.kind,
          model: p.model,
          version: p.version,
          by: decision.by,
          comment: decision.comment,
        });
        this.event(`${answer.decision} v${p.version} by ${decision.by}: ${decision.comment}`, this.link(p.workflowId));
      } catch (err) {
        this.event(color.red(`the decision on v${p.version} failed: ${(err as Error).message}`));
      } finally {
        this.asking = false;
      }
    }
  }

  private async ask(v: ModelVersion): Promise<{ kind: 'approve' | 'reject'; by: string; comment: string }> {
    const verdict = (v.evaluation as { verdict?: { reason: string } }).verdict;
    this.say(color.bold(`\n${v.model} v${v.version} waits for your approval`));
    this.say(
      `  ${metric(v.metrics)}\n  gate: ${verdict?.reason ?? '–'}\n  batch: ${v.lineage.validation.decision} (${v.lineage.validation.outcome})`,
    );
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    try {
      const yes = /^y/i.test(await rl.question('  approve and promote? [y/N] '));
      const comment =
        (await rl.question('  comment: ')).trim() ||
        (yes ? 'approved at the demo prompt' : 'rejected at the demo prompt');
      return { kind: yes ? 'approve' : 'reject', by: actor(), comment };
    } finally {
      rl.close();
    }
  }

  private showProgress(): void {
    if (!interactive || this.asking) return;
    const s = this.counts;
    const line = `${clock(Date.now() - this.started)} ${this.month}  served ${s.served.toLocaleString('en-US')} · labelled ${s.labelled.toLocaleString('en-US')}${s.failed ? color.red(` · ${s.failed} failed`) : ''} · serving v${this.lastServed ?? '–'}  ${color.dim(this.step)}`;
    process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns ?? 120) + 20)}`);
  }

  /** What happened, when, which version served; the error on feedback check by check; where to look. */
  private timeline(): void {
    this.say(color.bold('\nTimeline'));
    for (const e of this.events) {
      this.say(
        `  ${clock(e.at - this.started)}  ${e.month.padEnd(7)}  serving ${e.serving === null ? '– ' : `v${e.serving}`}  ${e.what}`,
      );
    }
    this.say(color.bold('\nHot swaps seen by the traffic'));
    for (const s of this.swaps) this.say(`  ${clock(s.at - this.started)}  v${s.from ?? '–'} → v${s.to}`);
    this.say(
      `  ${this.counts.served.toLocaleString('en-US')} predictions served (${[...this.counts.byVersion].map(([v, n]) => `v${v} ${n.toLocaleString('en-US')}`).join(', ')}), ${this.counts.labelled.toLocaleString('en-US')} labelled, ${this.counts.failed} failed requests`,
    );
    void this.curve();
  }

  private curve(): void {
    // printed from the registry: every health check's error on feedback, and the champion it judged
    void this.registry.listMonitorReports(this.spec.name, { limit: 500 }).then((reports) => {
      const points = reports
        .map((r) => ({ s: r.summary, champion: r.champion }))
        .filter((p) => typeof p.s.championError === 'number');
      if (points.length === 0) return;
      const values = points.map((p) => p.s.championError as number);
      const max = Math.max(...values);
      const bars = '▁▂▃▄▅▆▇█';
      this.say(color.bold('\nError rate on feedback, check by check (the champion then below)'));
      this.say(
        `  ${values.map((v) => bars[Math.min(7, Math.floor((v / max) * 7.999))]).join('')}  max ${(100 * max).toFixed(1)}%`,
      );
      this.say(`  ${points.map((p) => String(p.champion ?? '-').slice(-1)).join('')}`);
      this.say(color.bold('\nWhere to look'));
      this.say(
        `  Temporal Web UI  ${this.config.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`LumenModel="${this.spec.name}"`)}`,
      );
      this.say(`  the monitor      ${this.link(monitorWorkflowId(this.spec.name))}`);
      this.say(
        `  console          ${this.keep ? `${this.server!.url}/ui` : 'with --keep, at /ui of the serving instance'}`,
      );
      this.say(`  state            ${this.home}`);
      if (!this.keep) {
        const port = this.config.address.split(':').pop();
        this.say(
          `  the links work while a server runs on this state: LUMEN_HOME=${this.home} npx lumen server${port === '7233' ? '' : ` --port ${port}`}`,
        );
      }
    });
  }
}

/** The auto-approver's rule: a candidate whose batch its contract accepted is approved; any other is not. */
function autoDecision(v: ModelVersion): { kind: 'approve' | 'reject'; by: string; comment: string } {
  const validation = v.lineage.validation;
  if (validation.decision === 'accepted') {
    return {
      kind: 'approve',
      by: 'auto-approver',
      comment: `gate passed; batch ${validation.outcome} and accepted by its contract`,
    };
  }
  return {
    kind: 'reject',
    by: 'auto-approver',
    comment: `its batch was ${validation.decision} by ${validation.decidedBy ?? 'someone'}, not accepted by its contract: a person must look`,
  };
}

function monthSource(month: string): SourceRef {
  return { uri: FLIGHTS, window: monthWindow('date', month) };
}

function flightsScan(): string {
  const file = path.join(
    path.resolve(path.dirname(require.resolve('vega-datasets')), '..'),
    'data',
    'flights-3m.parquet',
  );
  return `read_parquet(${sqlString(file)})`;
}

async function summaryOf(report: ArtifactRef, store: ArtifactStore): Promise<string> {
  const file = await store.verify(report);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { summary?: string }).summary ?? '';
}

function metric(m: Record<string, number> | null | undefined): string {
  if (!m) return 'no metrics';
  return ['auc', 'accuracy']
    .filter((k) => k in m)
    .map((k) => `${k} ${m[k].toFixed(3)}`)
    .join(', ');
}

function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
