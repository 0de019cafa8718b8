/**
 * Explanations on the served flights model (six features, 154 inputs, MLP 64→32→1), over HTTP on loopback:
 *
 *   1. one row explained at a time, nothing else running: latency p50 and p99, against one row predicted the same
 *      way (the baseline, same server, same client);
 *   2. single-row predictions under load (autocannon, 16 connections) alone, then with explanations asked
 *      throughout by two more connections: the predictions' throughput and p99 with explanations, as a ratio to
 *      without.
 *
 *   npm run bench:explain        (= tsx bench/explain.ts --requests 400 --seconds 8 --rounds 3)
 */
import { Command } from 'commander';
import { sqlString, withDuckDB } from '../lib/data/duckdb';
import { startServer } from '../serve/server';
import { tempHome, vegaPath } from '../test/support/env';
import { testServeOptions, trainBenchFlightsModel } from '../test/support/serving';
import { autocannon, type Load } from './load';

async function run(): Promise<void> {
  const opts = new Command()
    .option('--requests <n>', 'sequential requests per latency measurement', '400')
    .option('--seconds <n>', 'seconds per load round', '8')
    .option('--rounds <n>', 'load rounds (each: predictions alone, then with explanations)', '3')
    .parse()
    .opts<{ requests: string; seconds: string; rounds: string }>();
  const t = tempHome('lumen-bench-explain-');
  try {
    const { spec } = await trainBenchFlightsModel(t.deps);
    const server = await startServer(t.deps, testServeOptions(t.home, 'bench-token'));
    try {
      const rows = await withDuckDB(async (con) =>
        (
          await con.runAndReadAll(
            `SELECT strftime(date, '%Y-%m-%d %H:%M:%S') AS date, distance, origin, destination
               FROM read_parquet(${sqlString(vegaPath('flights-3m.parquet'))})
              WHERE date >= '2001-02-01' AND date < '2001-02-02' ORDER BY date, origin LIMIT 500`,
          )
        )
          .getRowObjectsJS()
          .map((r) => ({ ...r, distance: Number(r.distance) })),
      );
      const url = (route: string) => `${server.url}/v1/models/${spec.name}/${route}`;
      const features = spec.features.length;
      console.log(`flights-delay: ${features} features, exact Shapley values: ${2 ** features} subsets × 32 rows\n`);

      // 1. latency, one request at a time
      const timed = async (route: string): Promise<number[]> => {
        const ms: number[] = [];
        for (let i = 0; i < Number(opts.requests) + 20; i++) {
          const started = performance.now();
          const res = await fetch(url(route), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(rows[i % rows.length]),
          });
          if (res.status !== 200) throw new Error(`${route}: ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
          if (i >= 20) ms.push(performance.now() - started); // the first 20 warm up
        }
        return ms.sort((a, b) => a - b);
      };
      const q = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
      const predictMs = await timed('predict');
      const explainMs = await timed('explain');
      console.log('one row, one request at a time (ms)');
      console.log('| request | p50 | p99 | p50 × predict |');
      console.log('| --- | ---: | ---: | ---: |');
      console.log(
        `| predict (baseline) | ${q(predictMs, 0.5).toFixed(2)} | ${q(predictMs, 0.99).toFixed(2)} | 1.00× |`,
      );
      console.log(
        `| explain | ${q(explainMs, 0.5).toFixed(2)} | ${q(explainMs, 0.99).toFixed(2)} | ${(q(explainMs, 0.5) / q(predictMs, 0.5)).toFixed(1)}× |`,
      );
      console.log(`goal: explain p50 ≤ 10 ms, p99 ≤ 20 ms\n`);

      // 2. predictions under load, with and without explanations alongside
      const seconds = Number(opts.seconds);
      const body = JSON.stringify(rows[0]);
      await autocannon(url('predict'), body, 3, 16); // warm-up
      console.log('single-row predictions, 16 connections (req/s, p99 ms)');
      console.log('| round | alone | with explanations | × alone | p99 alone | p99 with | explanations/s |');
      console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (let round = 1; round <= Number(opts.rounds); round++) {
        const alone = await autocannon(url('predict'), body, seconds, 16);
        const [withExplain, explaining] = await Promise.all([
          autocannon(url('predict'), body, seconds, 16),
          autocannon(url('explain'), body, seconds, 2),
        ]);
        checkClean(alone, withExplain, explaining);
        console.log(
          `| ${round} | ${alone.rps.toFixed(0)} | ${withExplain.rps.toFixed(0)} | ${(withExplain.rps / alone.rps).toFixed(2)}× | ${alone.p99} | ${withExplain.p99} | ${explaining.rps.toFixed(0)} |`,
        );
      }
    } finally {
      await server.close();
    }
  } finally {
    t.cleanup();
  }
}

function checkClean(...loads: Load[]): void {
  for (const l of loads) {
    if (l.errors || l.non2xx) throw new Error(`a load round had ${l.errors} errors and ${l.non2xx} non-2xx answers`);
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
