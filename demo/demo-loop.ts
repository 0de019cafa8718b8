import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { workerLogFunction } from '../worker/log';
import type { ArtifactRef, ArtifactStore } from '../lib/artifacts';
import { lumenPaths, projectRoot } from '../lib/config';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { monthWindow, type SourceRef } from '../lib/data/source';
import { prng } from '../lib/rng';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../lib/spec';
import { championChangeWorkflowId, statusQuery, type ChampionChangeInput } from '../workflows/definitions';
import type { championChange, modelMonitor, trainingPipeline } from '../workflows';
import { monitorStatusQuery, monitorWorkflowId, type MonitorStatus } from '../workflows/monitor-definitions';
import { decideQuarantineWith } from '../client/decisions';
import { CliError } from '../client/errors';
import { color } from '../client/output';
import { startTrainingPipeline } from '../client/pipeline';
import { Journal, metric } from './loop/journal';
import { Operator } from './loop/operator';
import { LoopServices } from './loop/services';
import { DEMO_TOPICS, KafkaTraffic } from './loop/kafka-traffic';
import { flightsScan, Traffic } from './loop/traffic';

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
  /** how traffic, answers and labels travel: HTTP (the default) or Kafka */
  via?: string;
}

const MODEL_FILE = path.join('examples', 'models', 'flights-delay.json');
const FLIGHTS = 'vega-datasets:flights-3m.parquet';
/** what any one step may take before the demo says it did not happen */
const STEP_TIMEOUT_MS = 4 * 60_000;

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
  const via = opts.via ?? 'http';
  if (via !== 'http' && via !== 'kafka') throw new CliError(`--via must be http or kafka, got "${opts.via}"`);
  if (opts.approve === 'ask' && !process.stdin.isTTY) {
    throw new CliError('--approve ask needs a terminal to ask at; use --approve auto');
  }
  Runtime.install({ logger: new DefaultLogger('WARN', workerLogFunction(false)), shutdownSignals: [] });
  const loop = new LoopDemo(seed, opts.approve, opts.keep ?? false, via);
  try {
    await loop.run();
  } finally {
    await loop.stop();
  }
}

/** The story, month by month; each step waited for, and failing loudly if it does not happen in time. */
class LoopDemo {
  private readonly services = new LoopServices(path.join(lumenPaths().home, 'demo-loop'));
  private readonly spec: ModelSpec;
  private readonly changes: string[];
  private readonly rand: () => number;
  private traffic!: Traffic;
  private journal!: Journal;
  private operator?: Operator;

  constructor(
    seed: number,
    private readonly approve: 'auto' | 'ask',
    private readonly keep: boolean,
    private readonly via: 'http' | 'kafka' = 'http',
  ) {
    this.rand = prng(seed);
    ({ spec: this.spec, changes: this.changes } = demoSpec());
  }

  async run(): Promise<void> {
    const { services, spec } = this;
    console.log(color.bold('Lumen, the whole loop on six months of 2001 flights'));
    console.log(`state      ${services.home} (started afresh)`);
    console.log(
      `spec       ${MODEL_FILE}, changed for the demo:\n${this.changes.map((c) => `           - ${c}`).join('\n')}`,
    );
    await services.start(
      this.approve === 'auto'
        ? 'the auto-approver (approves a candidate whose batch its contract accepted; --approve ask to decide yourself)'
        : 'you decide, when asked',
      this.via,
    );
    this.traffic =
      this.via === 'kafka'
        ? new KafkaTraffic(services.kafka!, spec.name, this.rand, () => services.labelsRecorded())
        : new Traffic(services.server.url, spec.name, services.token, this.rand);
    this.journal = new Journal(this.traffic.counts);
    this.operator = new Operator(services, this.journal, spec.name, this.approve);
    this.operator.start();
    this.journal.showProgress();

    await this.january();
    await this.february();
    await this.feedBug();
    await this.march();
    await this.eveningShift();
    this.step('final traffic');
    await sleep(20_000);
    this.traffic.stop();
    await services.server.log?.flush();
    await this.journal.report(services.registry, spec.name, this.whereToLook());
    if (this.keep) {
      const stopped = new Promise<void>((resolve) => {
        process.on('SIGINT', () => resolve());
        process.on('SIGTERM', () => resolve());
      });
      this.journal.say(
        `\nstill running: console ${services.server.url}/ui, Temporal Web UI ${services.config.uiUrl} — Ctrl-C stops everything`,
      );
      await stopped;
    }
  }

  async stop(): Promise<void> {
    this.traffic?.stop();
    if (this.traffic instanceof KafkaTraffic) await this.traffic.close();
    this.operator?.stop();
    this.journal?.stop();
    await this.services.stop();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // the story

  private async january(): Promise<void> {
    this.journal.month = '2001-01';
    this.step('training the first model on January');
    const run = await this.train(monthSource('2001-01'), 'January');
    const result = await run.handle.result();
    if (result.outcome !== 'promoted') throw new Error(`January's model was not promoted: ${result.outcome}`);
    await this.until('v1 served', async () =>
      this.services.server.host.served(this.spec.name)?.version === 1 ? true : undefined,
    );
    this.journal.event(
      `v${result.version} promoted (${metric(result.metrics)}); the monitor starts`,
      this.services.link(run.workflowId),
    );
    await this.trafficOf('2001-01');
    this.traffic.start();
  }

  private async february(): Promise<void> {
    await this.trafficOf('2001-02');
    this.step('February traffic; the monitor checks every 15 s');
    const from = (await this.monitor())?.checks ?? 0;
    await this.until('three health checks of February traffic', async () => {
      const s = await this.monitor();
      return s && s.checks >= from + 3 ? s : undefined;
    });
    const s = (await this.monitor())!;
    const last = s.reports.at(-1);
    this.journal.event(
      `monitor: ${s.checks} checks, ${last?.findings.length ? `findings: ${last.findings.map((f) => f.kind).join(', ')}` : 'healthy'}`,
      this.services.link(monitorWorkflowId(this.spec.name)),
    );
  }

  private async feedBug(): Promise<void> {
    this.step('a feed bug: every delay of a February batch 30 minutes too late');
    const file = path.join(this.services.home, 'batches', 'february-feed-bug.parquet');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT * REPLACE (delay + 30 AS delay) FROM ${flightsScan()} WHERE date >= '2001-02-01' AND date < '2001-03-01')
           TO ${sqlString(file)} (FORMAT parquet)`,
      ),
    );
    this.journal.event('injected: a February batch whose delays are all 30 minutes late (a feed bug)');
    const run = await this.train({ uri: file }, 'the buggy February batch');
    await this.until('the quarantine', async () =>
      (await run.handle.query(statusQuery)).stage === 'quarantined' ? true : undefined,
    );
    const [held] = await this.services.registry.listValidations({ model: this.spec.name, decision: 'quarantined' });
    this.journal.event(
      `quarantined by its contract: ${held ? await summaryOf(held.report, this.services.store) : ''}`,
      this.services.link(run.workflowId),
    );
    const released = await decideQuarantineWith(() => Promise.resolve(this.services.client), this.services.registry, {
      kind: 'release',
      target: run.workflowId,
      by: 'operator',
      reason: 'demo: released by mistake — it should have been discarded',
    });
    this.journal.event(`injected: an operator releases it by mistake (${released.decision})`);
    const result = await run.handle.result();
    if (result.version === null) throw new Error(`the released batch trained no version: ${result.outcome}`);
    const bad = result.version;
    this.journal.event(
      `v${bad} trained on it: ${result.outcome}${result.approval?.comment ? ` (${result.approval.by}: ${result.approval.comment})` : ''}`,
      this.services.link(run.workflowId),
    );

    await this.trafficOf('2001-03');
    this.step(`promoting v${bad} by hand`);
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
    await this.services.client.workflow.execute<typeof championChange>('championChange', {
      taskQueue: 'lumen-pipeline',
      workflowId,
      args: [change],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
    await this.until(`v${bad} served`, async () =>
      this.services.server.host.served(this.spec.name)?.version === bad ? true : undefined,
    );
    this.journal.event(
      `injected: an operator promotes the rejected v${bad} by hand with an override; it is served (hot swap)`,
      this.services.link(workflowId),
    );
    this.step(`waiting for the monitor to notice v${bad}`);
    const rollback = await this.until('the automatic rollback', async () =>
      (await this.services.registry.listMonitorActions(this.spec.name)).find(
        (a) => a.kind === 'rollback' && a.trigger === 'auto',
      ),
    );
    await this.until('the rolled-back version served', async () => {
      const v = this.services.server.host.served(this.spec.name)?.version;
      return v !== undefined && v !== bad ? true : undefined;
    });
    this.journal.event(
      `monitor rolled back automatically to v${this.services.server.host.served(this.spec.name)?.version}: ${rollback.reason}`,
      this.services.link(rollback.workflowId ?? monitorWorkflowId(this.spec.name)),
    );
  }

  private async march(): Promise<void> {
    this.journal.month = '2001-03';
    this.step('March arrives as a clean batch');
    const run = await this.train(monthSource('2001-03'), 'March');
    const result = await run.handle.result();
    this.journal.event(
      `March: ${result.validation.decision}, v${result.version} ${result.outcome}${result.verdict ? ` — ${result.verdict.reason}` : ''}`,
      this.services.link(run.workflowId),
    );
    if (result.outcome === 'promoted') {
      await this.until(`v${result.version} served`, async () =>
        this.services.server.host.served(this.spec.name)?.version === result.version ? true : undefined,
      );
    }
    await this.trafficOf('2001-04');
    await sleep(30_000);
  }

  private async eveningShift(): Promise<void> {
    // no training runs between here and the retrain: the next epoch the training worker logs is the retrain's
    const trainerLog = this.services.trainerLog;
    const logFrom = fs.statSync(trainerLog).size;
    await this.trafficOf('2001-05', true);
    this.journal.event('injected: from May the traffic is evening flights only (17:00–23:59), real ones resampled');
    this.step('waiting for the monitor to see the drift');
    const action = await this.until('a retrain started by the monitor', async () =>
      (await this.services.registry.listMonitorActions(this.spec.name)).find(
        (a) => a.kind === 'retrain' && a.trigger === 'auto' && a.workflowId,
      ),
    );
    this.journal.event(`monitor retrains: ${action.reason}`, this.services.link(action.workflowId!));
    await this.trafficOf('2001-06', true);
    const handle = this.services.client.workflow.getHandle<typeof trainingPipeline>(action.workflowId!);
    this.step('retraining; the training worker will be killed mid-training');
    // killed the moment the worker says an epoch is done and checkpointed: an epoch of this retrain takes well under
    // a second on one thread per op, too short a window to wait for the heartbeat to reach the server first
    const epoch = await this.until(
      `training under way in ${action.workflowId}`,
      () => Promise.resolve(epochLogged(trainerLog, logFrom)),
      25,
    );
    this.services.killTrainer();
    this.journal.event(`injected: the training worker is killed (SIGKILL) after epoch ${epoch}`);
    await sleep(3000);
    this.services.startTrainer();
    this.journal.event(
      'a new training worker starts; the server retries the training there once the heartbeat times out',
    );
    this.step('the retrain resumes on the new worker');
    const result = await handle.result();
    this.journal.event(
      `retrain: resumed from epoch ${result.resumedFromEpoch ?? '— (not interrupted)'}; v${result.version} ${result.outcome}${result.verdict ? ` — ${result.verdict.reason}` : ''}`,
      this.services.link(action.workflowId!),
    );
    if (result.resumedFromEpoch === null)
      throw new Error('the retrain was not interrupted: the worker was killed too late');
    if (result.outcome === 'promoted') {
      await this.until(`v${result.version} served`, async () =>
        this.services.server.host.served(this.spec.name)?.version === result.version ? true : undefined,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // pieces

  private train(source: SourceRef, what: string) {
    this.journal.event(`batch: ${what} → the training pipeline`);
    return startTrainingPipeline(this.services.client, this.spec, source, { actor: 'demo' });
  }

  private step(step: string): void {
    this.journal.step = step;
  }

  /** Traffic from this month on (evening flights only, when asked). */
  private async trafficOf(month: string, evening = false): Promise<void> {
    this.journal.month = month;
    await this.traffic.load(month, evening);
    if (this.traffic.running) this.journal.event(`traffic: ${month}${evening ? ', evening flights only' : ''}`);
  }

  private async monitor(): Promise<MonitorStatus | undefined> {
    return this.services.client.workflow
      .getHandle<typeof modelMonitor>(monitorWorkflowId(this.spec.name))
      .query(monitorStatusQuery)
      .catch(() => undefined);
  }

  private async until<T>(what: string, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        throw new Error(
          `${what} did not happen within ${STEP_TIMEOUT_MS / 60_000} minutes (state in ${this.services.home})`,
        );
      }
      await sleep(everyMs);
    }
  }

  private whereToLook(): string[] {
    const { config, server, home } = this.services;
    const port = config.address.split(':').pop();
    return [
      `Temporal Web UI  ${config.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`LumenModel="${this.spec.name}"`)}`,
      `the monitor      ${this.services.link(monitorWorkflowId(this.spec.name))}`,
      `console          ${this.keep ? `${server.url}/ui` : 'with --keep, at /ui of the serving instance'}`,
      `state            ${home}`,
      ...(this.via === 'kafka'
        ? [
            `kafka topics     ${Object.values(DEMO_TOPICS).join(', ')} at ${this.services.kafka?.brokers.join(',')} (log in ${home}/kafka)`,
          ]
        : []),
      ...(this.keep
        ? []
        : [
            `the links work while a server runs on this state: LUMEN_HOME=${home} ./lumen server${port === '7233' ? '' : ` --port ${port}`}`,
          ]),
    ];
  }
}

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

function monthSource(month: string): SourceRef {
  return { uri: FLIGHTS, window: monthWindow('date', month) };
}

async function summaryOf(report: ArtifactRef, store: ArtifactStore): Promise<string> {
  const file = await store.verify(report);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { summary?: string }).summary ?? '';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
