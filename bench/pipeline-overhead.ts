/**
 * End-to-end pipeline time on one month of real flights, split into Temporal orchestration overhead and
 * activity work. Baseline: the same stages called directly in this process, no Temporal (validation, training,
 * evaluation with the gate, the load check in a fresh process, registration and promotion).
 * Run: npm run bench:pipeline [-- --month 2001-01]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { startTrainingPipeline } from '../client/pipeline';
import { FileArtifactStore } from '../lib/artifacts';
import { lumenPaths } from '../lib/config';
import { snapshotSource } from '../lib/data/snapshot';
import { monthWindow } from '../lib/data/source';
import { evaluateArtifact, evaluationOptions, loadHoldout, makeCanary } from '../lib/evaluation/evaluate';
import { runLoadCheck } from '../lib/loadcheck';
import { decideGate } from '../lib/gate';
import { SqliteRegistry } from '../lib/registry/sqlite';
import { loadModelSpec, specHash } from '../lib/spec';
import { trainOnDataset } from '../lib/training';
import { validateBatch } from '../lib/validation/report';
import { startDevServer } from '../tools/devserver';
import { createWorkers } from '../worker/workers';
import { searchAttributeTypes } from '../workflows/definitions';

const root = path.resolve(__dirname, '..');

function ms(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
}

async function run(): Promise<void> {
  const { month } = new Command()
    .option('--month <YYYY-MM>', 'month of flights', '2001-01')
    .parse()
    .opts<{ month: string }>();
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const spec = loadModelSpec(path.join(root, 'examples', 'models', 'flights-delay.json'));
  const source = { uri: 'vega-datasets:flights-3m.parquet', window: monthWindow('date', month) };

  // Baseline: the same stages, called directly.
  const directHome = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-bench-direct-'));
  const store = new FileArtifactStore(lumenPaths(directHome).artifacts);
  const registry = new SqliteRegistry(lumenPaths(directHome).registry);
  const t0 = performance.now();
  const dataset = await snapshotSource(store, source);
  const checked = await validateBatch(store, spec, dataset, null);
  await registry.recordDataset(dataset, checked.profileArtifact);
  const trained = await trainOnDataset(store, spec, dataset, {
    checkpointKind: 'checkpoints/bench',
    onCheckpoint: () => Promise.resolve(),
  });
  const { table, rows } = await loadHoldout(store, spec, dataset);
  const scored = await evaluateArtifact(store, trained.artifact, table, rows, evaluationOptions(spec));
  const metrics = scored.metrics;
  const verdict = decideGate(spec, scored, null);
  const canary = await store.putJson('canaries', await makeCanary(store, spec, trained.artifact, table, rows));
  const v = await registry.registerVersion({
    model: spec.name,
    artifact: trained.artifact,
    task: spec.task,
    spec,
    specHash: specHash(spec),
    dataset,
    lineage: {
      sourceDataset: dataset.sha256,
      contractHash: checked.report.contractHash,
      validation: {
        id: 0,
        outcome: checked.report.outcome,
        decision: 'accepted',
        decidedBy: 'contract',
        reason: null,
        report: checked.reportArtifact,
        html: checked.htmlArtifact,
        profile: checked.profileArtifact,
        quarantine: null,
      },
    },
    codeVersion: 'bench',
    backend: trained.backend,
    seed: spec.training.seed,
    workflowId: 'direct',
    runId: 'direct',
    metrics,
    training: {},
    evaluation: {},
  });
  const loadCheck = await runLoadCheck(store, trained.artifact, canary);
  if (verdict.passed && loadCheck.passed) {
    await registry.moveChampion({
      model: spec.name,
      to: v.version,
      expectedChampion: null,
      kind: 'promote',
      actor: 'bench',
      reason: verdict.reason,
      requestId: 'direct',
      requireLoadCheck: false,
    });
  }
  const direct = performance.now() - t0;
  registry.close();

  // Through Temporal: dev server (SQLite file, as in the demo), in-process workers.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-bench-temporal-'));
  const server = await startDevServer({
    dbFile: path.join(home, 'temporal.sqlite'),
    searchAttributes: searchAttributeTypes(),
  });
  const paths = lumenPaths(home);
  const deps = {
    store: new FileArtifactStore(paths.artifacts),
    registry: new SqliteRegistry(paths.registry),
    codeVersion: 'bench',
  };
  const connection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  try {
    const workers = await createWorkers({ connection, roles: ['pipeline', 'training'], deps });
    const running = workers.map((w) => w.run());
    const t1 = performance.now();
    const started = await startTrainingPipeline(client, spec, source);
    const result = await started.handle.result();
    const clientSeen = performance.now() - t1;
    for (const w of workers) w.shutdown();
    await Promise.all(running);

    const events = (await started.handle.fetchHistory()).events ?? [];
    const first = ms(events[0].eventTime);
    const last = ms(events[events.length - 1].eventTime);
    const scheduled = new Map<number, { type: string; at: number }>();
    const started_ = new Map<number, number>();
    const rowsOut: { type: string; queue: number; work: number }[] = [];
    for (const e of events as temporal.api.history.v1.IHistoryEvent[]) {
      const at = ms(e.eventTime);
      if (e.activityTaskScheduledEventAttributes) {
        scheduled.set(Number(e.eventId), {
          type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?',
          at,
        });
      } else if (e.activityTaskStartedEventAttributes) {
        started_.set(Number(e.activityTaskStartedEventAttributes.scheduledEventId), at);
      } else if (e.activityTaskCompletedEventAttributes) {
        const id = Number(e.activityTaskCompletedEventAttributes.scheduledEventId);
        const s = scheduled.get(id)!;
        const st = started_.get(id)!;
        rowsOut.push({ type: s.type, queue: st - s.at, work: at - st });
      }
    }
    const work = rowsOut.reduce((sum, r) => sum + r.work, 0);
    const total = last - first;
    console.log(
      `flights ${month}: ${result.dataset.rows} rows; model v${result.version} auc ${result.metrics?.auc.toFixed(4)}`,
    );
    console.log('\nactivity               queue→start ms   work ms');
    for (const r of rowsOut)
      console.log(`${r.type.padEnd(22)} ${r.queue.toFixed(0).padStart(14)} ${r.work.toFixed(0).padStart(9)}`);
    console.log(`\nworkflow (server clock, first→last event)  ${total.toFixed(0)} ms`);
    console.log(
      `  activity work                           ${work.toFixed(0)} ms (${((100 * work) / total).toFixed(1)}%)`,
    );
    console.log(
      `  orchestration overhead                  ${(total - work).toFixed(0)} ms (${((100 * (total - work)) / total).toFixed(1)}%), ${rowsOut.length} activities, ${events.length} events`,
    );
    console.log(`client start → result                     ${clientSeen.toFixed(0)} ms`);
    console.log(`baseline: same stages called directly     ${direct.toFixed(0)} ms`);
    console.log(`ratio Temporal pipeline / direct          ${(clientSeen / direct).toFixed(3)}×`);
  } finally {
    await client.connection.close();
    await connection.close();
    await server.stop();
    deps.registry.close();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
