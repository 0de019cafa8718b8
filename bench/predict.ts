/**
 * `lumen predict` on all 3M flights, Parquet in → Parquet out, several rounds; prints each round's steps and the
 * median. The model is the one `npm run bench:serve` serves (MLP 154→64→32→1, trained here on January 2001).
 * Baseline, in the same rounds: DuckDB copying the same file to Parquet with a constant prediction column — the
 * reading and writing any scorer of this file pays, with no checks, no encoding and no model. Each round also scores
 * the file with every row computed (`remember: false`), as a file of distinct rows would be.
 *
 *   npm run bench:predict        (= tsx bench/predict.ts --rounds 3)
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { scoreFile, type ScoreResult } from '../lib/serving/batch';
import { tempHome, vegaPath } from '../test/support/env';
import { trainBenchFlightsModel } from '../test/support/serving';

async function main(): Promise<void> {
  const opts = new Command()
    .option('--rounds <n>', 'how many times to score the file', '3')
    .option('--chunk-rows <n>', 'rows encoded and predicted at a time', '65536')
    .parse()
    .opts<{ rounds: string; chunkRows: string }>();
  const file = vegaPath('flights-3m.parquet');
  const t = tempHome('lumen-bench-predict-');
  const { version: v } = await trainBenchFlightsModel(t.deps);
  const totals: number[] = [];
  const copies: number[] = [];
  const everyRow: number[] = [];
  for (let r = 0; r < Number(opts.rounds); r++) {
    const copied = path.join(t.home, `copied-${r}.parquet`);
    const c0 = performance.now();
    await withDuckDB((con) =>
      con.run(
        `COPY (SELECT *, 0.5::DOUBLE AS probability FROM read_parquet(${sqlString(file)})) TO ${sqlString(copied)} (FORMAT parquet)`,
      ),
    );
    copies.push((performance.now() - c0) / 1000);
    fs.rmSync(copied, { force: true });
    const out = path.join(t.home, `scored-${r}.parquet`);
    const s = await scoreFile(t.deps.store, v, { uri: 'vega-datasets:flights-3m.parquet' }, out, {
      chunkRows: Number(opts.chunkRows),
    });
    const written = await withDuckDB(async (con) =>
      Number(
        (await con.runAndReadAll(`SELECT count(probability) FROM read_parquet(${sqlString(out)})`)).getRowsJS()[0][0],
      ),
    );
    fs.rmSync(out, { force: true });
    const every = await scoreFile(t.deps.store, v, { uri: 'vega-datasets:flights-3m.parquet' }, out, {
      chunkRows: Number(opts.chunkRows),
      remember: false,
    });
    fs.rmSync(out, { force: true });
    totals.push(s.seconds.total);
    everyRow.push(every.seconds.total);
    const steps = (x: ScoreResult): string =>
      `${x.seconds.total.toFixed(2)} s = ${(x.rows / x.seconds.total / 1e6).toFixed(2)}M rows/s (read ${x.seconds.read.toFixed(2)}, encode + predict ${x.seconds.predict.toFixed(2)}, write ${x.seconds.write.toFixed(2)}; ${x.computed} rows computed), ${(x.seconds.total / copies[r]).toFixed(2)}× the copy`;
    console.log(
      `round ${r + 1}: ${s.rows} rows, ${written} predictions written; baseline copy ${copies[r].toFixed(2)} s`,
    );
    console.log(`  ${'lumen predict:'.padEnd(36)}${steps(s)}`);
    console.log(`  ${'lumen predict, every row computed:'.padEnd(36)}${steps(every)}`);
  }
  const middle = (list: number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const median = middle(totals);
  console.log(
    `median: lumen predict ${median.toFixed(2)} s = ${(3_000_000 / median / 1e6).toFixed(2)}M rows/s; ` +
      `every row computed ${middle(everyRow).toFixed(2)} s = ${(3_000_000 / middle(everyRow) / 1e6).toFixed(2)}M rows/s; ` +
      `baseline copy ${middle(copies).toFixed(2)} s = ${(3_000_000 / middle(copies) / 1e6).toFixed(2)}M rows/s`,
  );
  fs.rmSync(t.home, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
