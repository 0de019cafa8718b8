/**
 * Profile + validate the full 3M-row flights file against its contract and a reference (January), as the
 * pipeline's validate step does: DuckDB profile, row checks with quarantine split, batch checks, drift on every
 * contract column, report artifacts.
 * Baselines in the same run: a bare DuckDB scan of every column (the I/O floor), and zod parsing the same rows
 * one object at a time (the obvious TypeScript approach; row objects are built before timing, in its favour).
 * Run: npm run bench:validate
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { FileArtifactStore } from '../lib/artifacts';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { snapshotPath, snapshotSource } from '../lib/data/snapshot';
import { monthWindow } from '../lib/data/source';
import { loadModelSpec } from '../lib/spec';
import { profileDataset } from '../lib/validation/profile';
import { validateBatch } from '../lib/validation/report';

const root = path.resolve(__dirname, '..');

async function run(): Promise<void> {
  const spec = loadModelSpec(path.join(root, 'examples', 'models', 'flights-delay.json'));
  const store = new FileArtifactStore(path.join(os.tmpdir(), 'lumen-bench-validate'));
  let t = performance.now();
  const full = await snapshotSource(store, { uri: 'vega-datasets:flights-3m.parquet' });
  const ingest = (performance.now() - t) / 1000;
  const jan = await snapshotSource(store, {
    uri: 'vega-datasets:flights-3m.parquet',
    window: monthWindow('date', '2001-01'),
  });
  const reference = { dataset: jan, profile: await profileDataset(store, jan), kind: 'champion' as const };
  console.log(
    `flights-3m: ${full.rows.toLocaleString('en-US')} rows; reference January (${jan.rows.toLocaleString('en-US')} rows); ${os.cpus()[0].model}, ${os.availableParallelism()} cores\n`,
  );

  await validateBatch(store, spec, jan, reference); // warm-up: DuckDB, worker pool
  t = performance.now();
  const result = await validateBatch(store, spec, full, reference);
  const validate = (performance.now() - t) / 1000;
  t = performance.now();
  await profileDataset(store, full, reference.profile);
  const profileOnly = (performance.now() - t) / 1000;

  const file = sqlString(await snapshotPath(store, full));
  t = performance.now();
  await withDuckDB((con) =>
    con.runAndReadAll(
      `SELECT count(*), min(date), max(date), min(delay), max(delay), min(distance), max(distance), min(origin), max(destination) FROM read_parquet(${file})`,
    ),
  );
  const scan = (performance.now() - t) / 1000;

  const rows = await withDuckDB(async (con) =>
    (
      await con.runAndReadAll(
        `SELECT epoch_ms(date)::DOUBLE AS date, delay::INTEGER AS delay, distance::INTEGER AS distance, origin, destination FROM read_parquet(${file})`,
      )
    ).getRowObjectsJS(),
  );
  const Row = z.object({
    date: z.number().finite(),
    delay: z.number().int().min(-1440).max(2880),
    distance: z.number().int().min(1).max(5000),
    origin: z.string().min(1),
    destination: z.string().min(1),
  });
  t = performance.now();
  let bad = 0;
  for (const row of rows) if (!Row.safeParse(row).success) bad++;
  const zodSeconds = (performance.now() - t) / 1000;

  const line = (name: string, s: number): void =>
    console.log(
      `${name.padEnd(58)} ${s.toFixed(2).padStart(7)} s  ${Math.round(full.rows / s)
        .toLocaleString('en-US')
        .padStart(12)} rows/s  ${(s / validate).toFixed(2)}×`,
    );
  console.log(`validation outcome: ${result.report.outcome} — ${result.report.summary.slice(0, 160)}…\n`);
  console.log('step                                                        seconds      throughput   × lumen validate');
  line('ingest: snapshot the file to content-addressed Parquet', ingest);
  line('lumen: profile + row checks + batch checks + drift + report', validate);
  line('  of which the profile alone', profileOnly);
  line('baseline: DuckDB bare scan of every column', scan);
  line(`baseline: zod, row objects already in memory (${bad} bad)`, zodSeconds);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
