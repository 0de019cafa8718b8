/**
 * `lumen predict` on all 3M flights, Parquet in → Parquet out, two ways in one process: rows spelled out to the
 * model's 154 one-hot-wide inputs and multiplied by the first layer (the baseline), against compact rows whose one-hot
 * groups pick their kernel rows (what `lumen predict` does). Interleaved rounds; the two outputs are compared.
 *
 *   npm run bench:predict             # = tsx bench/predict.ts --rounds 3
 */
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { scoreFile, type ScoreResult } from '../lib/serving/batch';
import { loadModelSpec, parseModelSpec } from '../lib/spec';
import { repoRoot, tempHome } from '../test/support/env';
import { trainAndRegister } from '../test/support/serving';

async function main(): Promise<void> {
  const opts = new Command().option('--rounds <n>', 'interleaved rounds', '3').parse().opts<{ rounds: string }>();
  const t = tempHome('lumen-bench-predict-');
  try {
    const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
    const spec = parseModelSpec({ ...base, training: { ...base.training, epochs: 1, maxTrainingRows: 100_000 } });
    const january = {
      uri: 'vega-datasets:flights-3m.parquet',
      window: { column: 'date', start: '2001-01-01', end: '2001-02-01' },
    };
    const v = await trainAndRegister(t.deps, spec, january, { champion: true, workflowId: 'bench' });
    console.log(
      `${os.cpus()[0].model.trim()}, ${os.cpus().length} cores; ${spec.name} v${v.version} (MLP 154→64→32→1)\n`,
    );
    const runs: Record<'full' | 'compact', ScoreResult[]> = { full: [], compact: [] };
    const outs = { full: path.join(t.home, 'full.parquet'), compact: path.join(t.home, 'compact.parquet') };
    for (let round = 0; round < Number(opts.rounds); round++) {
      for (const kind of ['full', 'compact'] as const) {
        const r = await scoreFile(t.deps.store, v, { uri: 'vega-datasets:flights-3m.parquet' }, outs[kind], {
          fullWidth: kind === 'full',
        });
        runs[kind].push(r);
        console.log(
          `round ${round + 1} ${kind.padEnd(7)} ${(r.rows / r.seconds.total / 1e6).toFixed(2)}M rows/s: total ${r.seconds.total.toFixed(2)} s (read ${r.seconds.read.toFixed(2)}, encode + predict ${r.seconds.predict.toFixed(2)}, write ${r.seconds.write.toFixed(2)})`,
        );
      }
    }
    const worst = await withDuckDB(async (con) =>
      Number(
        (
          await con.runAndReadAll(
            `SELECT max(abs(a.probability - b.probability)) FROM read_parquet(${sqlString(outs.full)}) a
               POSITIONAL JOIN read_parquet(${sqlString(outs.compact)}) b`,
          )
        ).getRowsJS()[0][0],
      ),
    );
    const median = (list: ScoreResult[]): ScoreResult =>
      [...list].sort((a, b) => a.seconds.total - b.seconds.total)[Math.floor(list.length / 2)];
    const full = median(runs.full);
    const compact = median(runs.compact);
    const rate = (r: ScoreResult): string => `${(r.rows / r.seconds.total / 1e6).toFixed(2)}M`;
    console.log(`\nmedian of ${opts.rounds} rounds, ${full.rows} rows; largest difference between the two: ${worst}`);
    console.log('| path | rows/s | total s | read s | encode + predict s | write s | × full width |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, r] of [
      ['full width (baseline)', full],
      ['compact (lumen predict)', compact],
    ] as const) {
      console.log(
        `| ${name} | ${rate(r)} | ${r.seconds.total.toFixed(2)} | ${r.seconds.read.toFixed(2)} | ${r.seconds.predict.toFixed(2)} | ${r.seconds.write.toFixed(2)} | ${(full.seconds.total / r.seconds.total).toFixed(2)} |`,
      );
    }
  } finally {
    t.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
