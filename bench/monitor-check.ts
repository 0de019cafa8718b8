/**
 * One health check of the monitor over a large prediction log: 1M served flight predictions (real rows of the
 * flights data as inputs, the champion's own scores) and 100k labels. Baseline, in the same process: one DuckDB
 * pass over the same log computing count, mean score and p99 latency — the least any check must read.
 *
 *   npm run bench:monitor          (= tsx bench/monitor-check.ts --rows 1000000 --labels 100000)
 */
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { checkHealth } from '../lib/monitor/health';
import { snapshotLog } from '../lib/serving/log-segments';
import { MonitorPolicy } from '../lib/monitor/policy';
import { prng } from '../lib/rng';
import { labelContract, labelProblem } from '../lib/labels';
import { FeedbackStore } from '../lib/serving/feedback';
import { newPredictionId } from '../lib/serving/ids';
import { DEFAULT_LOG_OPTIONS, PredictionLog, type PredictionRecord } from '../lib/serving/prediction-log';
import { loadModelSpec, parseModelSpec } from '../lib/spec';
import { repoRoot, tempHome, vegaPath } from '../test/support/env';
import { trainAndRegister } from '../test/support/serving';

async function run(): Promise<void> {
  const opts = new Command()
    .option('--rows <n>', 'logged predictions', '1000000')
    .option('--labels <n>', 'labels sent back', '100000')
    .parse()
    .opts<{ rows: string; labels: string }>();
  const n = Number(opts.rows);
  const labelled = Number(opts.labels);
  const t = tempHome('lumen-bench-monitor-');
  try {
    const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
    const spec = parseModelSpec({ ...base, training: { ...base.training, epochs: 1, maxTrainingRows: 50_000 } });
    const v = await trainAndRegister(
      t.deps,
      spec,
      { uri: 'vega-datasets:flights-3m.parquet', window: { column: 'date', start: '2001-01-01', end: '2001-02-01' } },
      { champion: true, workflowId: 'bench' },
    );
    // real served inputs: a million flights of February and March
    const inputs = await withDuckDB(async (con) =>
      (
        await con.runAndReadAll(
          `SELECT strftime(date, '%Y-%m-%d %H:%M:%S') AS date, distance, origin, destination, delay
             FROM read_parquet(${sqlString(vegaPath('flights-3m.parquet'))})
            WHERE date >= '2001-02-01' ORDER BY date LIMIT ${n}`,
        )
      ).getRowsJS(),
    );
    const rand = prng(5);
    const start = Date.now() - 3_600_000;
    const predictions = path.join(t.home, 'predictions');
    const log = new PredictionLog(predictions, { ...DEFAULT_LOG_OPTIONS, flushEveryMs: 3_600_000, retentionDays: 30 });
    const ids: string[] = [];
    const delays: number[] = [];
    for (let i = 0; i < inputs.length; i += 50_000) {
      const part: PredictionRecord[] = inputs.slice(i, i + 50_000).map((r, k) => {
        const at = start + Math.floor(((i + k) * 3_000_000) / n);
        const id = newPredictionId(at);
        ids.push(id);
        delays.push(Number(r[4]));
        const p = rand();
        return {
          id,
          model: spec.name,
          version: v.version,
          arm: 'champion',
          at,
          latencyMs: 1 + rand() * 4,
          input: { date: r[0], distance: Number(r[1]), origin: r[2], destination: r[3] },
          output: { probability: p },
          score: p,
          predicted: null,
          flags: [],
        };
      });
      await log.append(part);
      await log.flush();
    }
    const feedback = new FeedbackStore(path.join(predictions, 'feedback.sqlite'));
    const step = Math.max(1, Math.floor(ids.length / labelled));
    const items = [];
    for (let i = 0; i < ids.length && items.length < labelled; i += step)
      items.push({ predictionId: ids[i], label: delays[i] });
    // every id was just logged by this script, and every label is a delay: each is the flights model's to judge
    const contract = labelContract(spec, null);
    feedback.record(items, () => ({
      model: spec.name,
      version: v.version,
      labelProblem: (l) => labelProblem(contract, l),
    }));
    feedback.close();
    const from = new Date(start - 1000).toISOString();
    const to = new Date(Date.now()).toISOString();
    console.log(`${os.cpus()[0].model.trim()}, ${os.cpus().length} cores, Node ${process.version}`);
    console.log(`log: ${ids.length} predictions of ${spec.name} v${v.version}; ${items.length} labels\n`);

    const snapshot = snapshotLog(predictions, spec.name)!;
    const scan = snapshot.scan;
    const baseline = async (): Promise<number> => {
      const t0 = performance.now();
      await withDuckDB((con) =>
        con.runAndReadAll(
          `SELECT count(*), avg(score), quantile_cont(latency_ms, 0.99) FROM ${scan}
            WHERE "at" >= ${sqlString(from.replace('T', ' ').replace('Z', ''))}`,
        ),
      );
      return (performance.now() - t0) / 1000;
    };
    const policy = MonitorPolicy.parse({});
    for (let round = 1; round <= 3; round++) {
      const b = await baseline();
      const t0 = performance.now();
      const report = await checkHealth(
        t.deps.registry,
        t.deps.store,
        { predictions, feedback: path.join(predictions, 'feedback.sqlite') },
        {
          model: spec.name,
          from,
          to,
          policy,
          previousUnusualRates: [],
        },
      );
      const s = (performance.now() - t0) / 1000;
      console.log(
        `round ${round}: health check ${s.toFixed(2)} s = ${(report.predictions.total / s / 1e6).toFixed(2)}M predictions/s ` +
          `(${report.predictions.total} predictions, ${report.feedback.labelled} labelled, drift on ${report.inputDrift.rows} sampled rows, ` +
          `${report.findings.length} findings); baseline scan ${b.toFixed(2)} s; ratio ${(s / b).toFixed(1)}× the scan`,
      );
    }
    snapshot.close();
  } finally {
    t.cleanup();
  }
}

run().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
