/**
 * What merging the prediction log's closed hours is worth to the monitor. One hour of light traffic is logged as a
 * server logs it, one segment a second (3,600 files), then the monitor's kind of question is asked of it through a
 * snapshot: as the segments are, and after the hour is merged into one file (the baseline), in the same run.
 *
 *   npm run bench:log-merge     (= tsx bench/log-merge.ts --segments 3600 --per-segment 5)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { withDuckDB } from '../lib/data/duckdb';
import { newPredictionId } from '../lib/serving/ids';
import { snapshotLog } from '../lib/serving/log-segments';
import { DEFAULT_LOG_OPTIONS, PredictionLog } from '../lib/serving/prediction-log';

const HOUR = 3_600_000;

async function main(): Promise<void> {
  const opts = new Command()
    .option('--segments <n>', 'segments in the hour (one per second of traffic)', '3600')
    .option('--per-segment <n>', 'predictions in each segment', '5')
    .parse()
    .opts<{ segments: string; perSegment: string }>();
  const segments = Number(opts.segments);
  const per = Number(opts.perSegment);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-bench-merge-'));
  const hour = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
  let clock = hour;
  try {
    const log = new PredictionLog(root, { ...DEFAULT_LOG_OPTIONS, flushEveryMs: HOUR, retentionDays: 30 }, () => clock);
    let t = performance.now();
    for (let s = 0; s < segments; s++) {
      clock = hour + Math.floor((s * HOUR) / segments);
      await log.append(
        Array.from({ length: per }, (_, i) => ({
          id: newPredictionId(clock),
          model: 'm',
          version: 1,
          arm: 'champion' as const,
          at: clock,
          latencyMs: 1 + (i % 4),
          input: { distance: 100 + i },
          output: { probability: 0.5 },
          score: (s % 100) / 100,
          predicted: null,
          flags: [],
        })),
      );
      await log.flush();
    }
    const writing = (performance.now() - t) / 1000;
    const question = async (): Promise<{ seconds: number; snapshotSeconds: number; files: number; rows: number }> => {
      const t0 = performance.now();
      const snapshot = snapshotLog(root, 'm')!;
      const snapshotSeconds = (performance.now() - t0) / 1000;
      try {
        const rows = await withDuckDB(async (con) =>
          (
            await con.runAndReadAll(
              `SELECT version, arm, count(*) AS n, avg(score), quantile_cont(latency_ms, 0.99) FROM ${snapshot.scan} GROUP BY ALL`,
            )
          ).getRowsJS(),
        );
        return {
          seconds: (performance.now() - t0) / 1000,
          snapshotSeconds,
          files: snapshot.files,
          rows: Number(rows[0][2]),
        };
      } finally {
        snapshot.close();
      }
    };
    await question(); // warm the file cache
    const before = await question();
    clock = hour + HOUR + 1;
    t = performance.now();
    await log.merge();
    const merging = (performance.now() - t) / 1000;
    const after = await question();
    await log.close();
    console.log(`${os.cpus()[0].model.trim()}, ${os.cpus().length} cores, Node ${process.version}`);
    console.log(
      `one hour: ${segments} segments of ${per} predictions written in ${writing.toFixed(1)} s; merged in ${merging.toFixed(2)} s\n`,
    );
    console.log(`the monitor's question            files   snapshot s   total s   predictions   × merged`);
    for (const [name, r] of [
      ['over the segments as written', before],
      ['over the merged hour (baseline)', after],
    ] as const) {
      console.log(
        `${name.padEnd(34)} ${String(r.files).padStart(5)}   ${r.snapshotSeconds.toFixed(3).padStart(10)}   ${r.seconds.toFixed(3).padStart(7)}   ${String(r.rows).padStart(11)}   ${(r.seconds / after.seconds).toFixed(1).padStart(7)}×`,
      );
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
