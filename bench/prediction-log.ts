/**
 * Where the prediction log should live, measured: 1M predictions written through Lumen's log (Parquet segments
 * written by DuckDB) and into SQLite (one table, batched inserts in transactions — the other embedded choice),
 * then the monitor's kind of question asked of each: per version and arm, the count, the mean score, p99 latency
 * and the share of flagged inputs over the last day.
 *
 *   npm run bench:log          (= tsx bench/prediction-log.ts --rows 1000000)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Command } from 'commander';
import { withDuckDB } from '../lib/data/duckdb';
import { newPredictionId } from '../lib/serving/ids';
import { DEFAULT_LOG_OPTIONS, PredictionLog, type PredictionRecord } from '../lib/serving/prediction-log';
import { prng } from '../lib/rng';

function records(n: number, start: number): PredictionRecord[] {
  const rand = prng(17);
  const airports = ['ATL', 'ORD', 'DFW', 'LAX', 'DEN', 'PHX', 'ZZZ'];
  return Array.from({ length: n }, (_, i) => {
    const origin = airports[Math.floor(rand() * airports.length)];
    return {
      id: newPredictionId(start + Math.floor(i / 20)),
      model: 'flights-delay',
      version: i % 10 === 0 ? 3 : 2,
      arm: i % 10 === 0 ? 'canary' : 'champion',
      at: start + Math.floor(i / 20),
      latencyMs: 1 + rand() * 4,
      input: { date: '2001-02-14 08:30:00', distance: Math.floor(100 + rand() * 2000), origin, destination: 'ORD' },
      output: { probability: rand() },
      score: rand(),
      predicted: null,
      flags: origin === 'ZZZ' ? [{ field: 'origin', code: 'unknown-category' }] : [],
    };
  });
}

async function run(): Promise<void> {
  const { rows } = new Command().option('--rows <n>', 'predictions', '1000000').parse().opts<{ rows: string }>();
  const n = Number(rows);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-bench-log-'));
  const start = Date.now() - n / 20;
  const all = records(n, start);
  try {
    // Lumen's log: appended in request-sized pieces, written every "second" (here: every 20,000 records)
    const log = new PredictionLog(path.join(dir, 'parquet'), {
      ...DEFAULT_LOG_OPTIONS,
      flushEveryMs: 3_600_000,
      retentionDays: 30,
    });
    let t = performance.now();
    for (let i = 0; i < n; i += 20_000) {
      await log.append(all.slice(i, i + 20_000));
      await log.flush();
    }
    const parquetWrite = (performance.now() - t) / 1000;
    const query = (from: string, quantile: string) => `
      SELECT version, arm, count(*) AS n, avg(score) AS mean_score, ${quantile} AS p99_ms,
             avg(CASE WHEN flags <> '[]' THEN 1.0 ELSE 0.0 END) AS flagged
        FROM ${from} WHERE "at" >= ? GROUP BY version, arm ORDER BY version, arm`;
    const since = new Date(start).toISOString().replace('T', ' ').replace('Z', '');
    t = performance.now();
    const duck = await withDuckDB(async (con) =>
      (
        await con.runAndReadAll(
          query(log.scanOf('flights-delay'), 'quantile_cont(latency_ms, 0.99)').replace('?', `TIMESTAMP '${since}'`),
        )
      ).getRowsJS(),
    );
    const parquetQuery = (performance.now() - t) / 1000;

    // SQLite: the same records, in transactions of 20,000
    const db = new Database(path.join(dir, 'log.sqlite'));
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE predictions (id TEXT PRIMARY KEY, model TEXT, version INTEGER, arm TEXT, at TEXT,
               latency_ms REAL, score REAL, predicted TEXT, input TEXT, output TEXT, flags TEXT)`);
    db.exec('CREATE INDEX predictions_at ON predictions(at)');
    const insert = db.prepare('INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    t = performance.now();
    for (let i = 0; i < n; i += 20_000) {
      db.transaction(() => {
        for (const r of all.slice(i, i + 20_000)) {
          insert.run(
            r.id,
            r.model,
            r.version,
            r.arm,
            new Date(r.at).toISOString().replace('T', ' ').replace('Z', ''),
            r.latencyMs,
            r.score,
            r.predicted,
            JSON.stringify(r.input),
            JSON.stringify(r.output),
            JSON.stringify(r.flags),
          );
        }
      })();
    }
    const sqliteWrite = (performance.now() - t) / 1000;
    t = performance.now();
    // SQLite has no quantile: the p99 per group takes a second query over the sorted latencies
    const groups = db.prepare(query('predictions', 'NULL')).all(since) as { version: number; arm: string; n: number }[];
    for (const g of groups) {
      db.prepare(
        'SELECT latency_ms FROM predictions WHERE "at" >= ? AND version = ? AND arm = ? ORDER BY latency_ms LIMIT 1 OFFSET ?',
      ).get(since, g.version, g.arm, Math.floor(g.n * 0.99));
    }
    const sqliteQuery = (performance.now() - t) / 1000;
    db.close();

    const size = (p: string): number => {
      if (!fs.existsSync(p)) return 0;
      if (fs.statSync(p).isFile()) return fs.statSync(p).size;
      return fs.readdirSync(p).reduce((s, f) => s + size(path.join(p, f)), 0);
    };
    console.log(`${n.toLocaleString()} predictions, ${os.cpus()[0].model.trim()}, ${os.cpus().length} cores`);
    console.log(`groups found by both: ${duck.length} / ${groups.length}`);
    console.log(`store                         write s   rows/s      query s   × parquet query   MB on disk`);
    console.log(
      `Parquet segments (DuckDB)     ${parquetWrite.toFixed(2).padStart(7)}   ${(n / parquetWrite / 1e6).toFixed(2)}M     ${parquetQuery.toFixed(3).padStart(7)}   1.00×             ${(size(path.join(dir, 'parquet')) / 1e6).toFixed(1)}`,
    );
    console.log(
      `SQLite table (better-sqlite3) ${sqliteWrite.toFixed(2).padStart(7)}   ${(n / sqliteWrite / 1e6).toFixed(2)}M     ${sqliteQuery.toFixed(3).padStart(7)}   ${(sqliteQuery / parquetQuery).toFixed(1)}× slower        ${(size(path.join(dir, 'log.sqlite')) / 1e6).toFixed(1)}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

run().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
