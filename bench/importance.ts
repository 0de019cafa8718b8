/**
 * What permutation importance adds to a candidate's evaluation, on the flights model (five features) and January
 * 2001's holdout (about 100,000 rows): `evaluateArtifact` with importance off (the baseline: metrics, bootstrap
 * intervals, slices) against the default (5 repeats on at most 10,000 rows) and against every holdout row, in the
 * same process, alternating, the median of the rounds.
 *
 *   npm run bench:importance        (= tsx bench/importance.ts --rounds 3)
 */
import { Command } from 'commander';
import { snapshotSource } from '../lib/data/snapshot';
import { evaluateArtifact, evaluationOptions, loadHoldout } from '../lib/evaluation/evaluate';
import { tempHome } from '../test/support/env';
import { trainBenchFlightsModel } from '../test/support/serving';

async function run(): Promise<void> {
  const opts = new Command().option('--rounds <n>', 'rounds of each setting', '3').parse().opts<{ rounds: string }>();
  const t = tempHome('lumen-bench-importance-');
  try {
    const { spec, version } = await trainBenchFlightsModel(t.deps);
    const dataset = await snapshotSource(t.deps.store, {
      uri: 'vega-datasets:flights-3m.parquet',
      window: { column: 'date', start: '2001-01-01', end: '2001-02-01' },
    });
    const { table, rows } = await loadHoldout(t.deps.store, spec, dataset);
    const base = evaluationOptions(spec);
    const settings = {
      'importance off (baseline)': { ...base, importance: { ...base.importance, repeats: 0 } },
      [`default: ${base.importance.repeats} repeats on ≤ ${base.importance.maxRows} rows`]: base,
      [`${base.importance.repeats} repeats on all ${rows.length} rows`]: {
        ...base,
        importance: { ...base.importance, maxRows: rows.length },
      },
    };
    const seconds = new Map<string, number[]>(Object.keys(settings).map((k) => [k, []]));
    await evaluateArtifact(t.deps.store, version.artifact, table, rows, base); // warm up
    for (let r = 0; r < Number(opts.rounds); r++) {
      for (const [name, options] of Object.entries(settings)) {
        const started = performance.now();
        await evaluateArtifact(t.deps.store, version.artifact, table, rows, options);
        seconds.get(name)!.push((performance.now() - started) / 1000);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const baseline = median(seconds.get('importance off (baseline)')!);
    console.log(
      `flights-delay, ${spec.features.length} features, holdout ${rows.length} rows, ${opts.rounds} rounds\n`,
    );
    console.log('evaluation                              seconds   × baseline');
    for (const [name, xs] of seconds) {
      console.log(`${name.padEnd(38)} ${median(xs).toFixed(2).padStart(8)}   ${(median(xs) / baseline).toFixed(2)}×`);
    }
  } finally {
    t.cleanup();
  }
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
