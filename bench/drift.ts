/**
 * Drift on 1M reference × 1M current rows × 20 numeric features: KS (statistic + p-value), PSI, Jensen–Shannon
 * and normed Wasserstein per feature, as lib/stats computes them during validation (the last row is exactly the
 * validation path: reference columns sorted once and cached, current columns sorted and scored on every core).
 * Baselines, same data: scipy.stats.ks_2samp alone, and Evidently's psi/jensenshannon/wasserstein stattests
 * (Python venv under .tools/bench-venv, created on first run; pass --no-python to skip).
 * Run: npm run bench:drift [-- --rows 1000000 --features 20]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { numericDrift } from '../lib/stats/drift';
import { numericDriftMany, toShared } from '../lib/stats/pool';
import { sortFloat64 } from '../lib/stats/sort';

const root = path.resolve(__dirname, '..');

/** Same generator as the drift reference tests: Irwin–Hall(3) from 32-bit multiplicative hashes. */
function generate(n: number, seed: number, scale: number, shift: number): Float64Array {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const u1 = ((Math.imul(k, 2654435761) + seed) >>> 0) / 4294967296;
    const u2 = ((Math.imul(k, 2246822519) + seed * 3 + 1) >>> 0) / 4294967296;
    const u3 = ((Math.imul(k, 3266489917) + seed * 7 + 2) >>> 0) / 4294967296;
    out[k] = (u1 + u2 + u3 - 1.5) * scale + shift;
  }
  return out;
}

function measure(refs: Float64Array[], curs: Float64Array[], sortedRefs?: Float64Array[]): number {
  const t0 = performance.now();
  for (let f = 0; f < curs.length; f++) {
    const r = sortedRefs ? sortedRefs[f] : sortFloat64(refs[f]);
    numericDrift(r, sortFloat64(curs[f]));
  }
  return (performance.now() - t0) / 1000;
}

function python(): string | null {
  const venv = path.join(root, '.tools', 'bench-venv');
  const bin = path.join(venv, 'bin', 'python');
  if (!fs.existsSync(path.join(venv, '.ready'))) {
    console.log('[bench] creating .tools/bench-venv with scipy and Evidently (first run only)');
    const mk = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    if (mk.status !== 0) return null;
    const pip = spawnSync(
      path.join(venv, 'bin', 'pip'),
      ['install', '-q', 'scipy==1.17.1', 'numpy==2.4.6', 'pandas<2.3', 'evidently==0.7.23'],
      { stdio: 'inherit' },
    );
    if (pip.status !== 0) return null;
    fs.writeFileSync(path.join(venv, '.ready'), '');
  }
  return bin;
}

async function run(): Promise<void> {
  const opts = new Command()
    .option('--rows <n>', 'rows per sample', '1000000')
    .option('--features <n>', 'numeric features', '20')
    .option('--no-python', 'skip the scipy/Evidently baselines')
    .parse()
    .opts<{ rows: string; features: string; python: boolean }>();
  const n = Number(opts.rows);
  const features = Number(opts.features);
  const refs = Array.from({ length: features }, (_, f) => generate(n, 2 * f + 1, 2 + f / 10, 0));
  const curs = Array.from({ length: features }, (_, f) => generate(n, 2 * f + 2, 2 + f / 10, f % 4 === 0 ? 0.05 : 0));
  console.log(
    `${features} features × ${n.toLocaleString('en-US')} reference × ${n.toLocaleString('en-US')} current rows; ${os.cpus()[0].model}, ${os.availableParallelism()} cores\n`,
  );

  measure(refs.slice(0, 2), curs.slice(0, 2)); // warm-up
  const cold = measure(refs, curs);
  const sortedRefs = refs.map((r) => toShared(sortFloat64(r)));
  const sharedCurs = curs.map(toShared);
  const warm = measure(refs, curs, sortedRefs);
  await numericDriftMany(sortedRefs.slice(0, 2).map((reference, f) => ({ reference, current: sharedCurs[f] }))); // start the pool
  const t0 = performance.now();
  await numericDriftMany(sortedRefs.map((reference, f) => ({ reference, current: sharedCurs[f] })));
  const parallel = (performance.now() - t0) / 1000;
  const rate = (s: number): string =>
    `${Math.round(n / s)
      .toLocaleString('en-US')
      .padStart(11)} rows/s`;
  const rows: [string, number][] = [
    ['lumen, 1 thread, both samples sorted', cold],
    ['lumen, 1 thread, reference sorted once and cached', warm],
    [`lumen, ${os.availableParallelism()} worker threads, reference cached (as in validation)`, parallel],
  ];

  if (opts.python) {
    const py = python();
    if (!py) console.log('[bench] Python baselines unavailable (venv or pip failed)');
    else {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-drift-bench-'));
      refs.forEach((r, f) => fs.writeFileSync(path.join(dir, `ref-${f}.f64`), Buffer.from(r.buffer)));
      curs.forEach((c, f) => fs.writeFileSync(path.join(dir, `cur-${f}.f64`), Buffer.from(c.buffer)));
      const out = spawnSync(py, [path.join(__dirname, 'drift_baseline.py'), dir, String(features)], {
        encoding: 'utf8',
      });
      fs.rmSync(dir, { recursive: true, force: true });
      if (out.status !== 0) throw new Error(`python baseline failed: ${out.stderr}`);
      const seconds = JSON.parse(out.stdout.trim().split('\n').pop()!) as Record<string, number>;
      for (const [name, s] of Object.entries(seconds)) rows.push([name, s]);
    }
  }
  const baseline = rows.find(([name]) => name.startsWith('scipy'))?.[1];
  console.log(
    'method                                                        seconds   throughput        × scipy ks_2samp',
  );
  for (const [name, s] of rows) {
    console.log(
      `${name.padEnd(60)} ${s.toFixed(2).padStart(8)}  ${rate(s)}   ${baseline ? `${(baseline / s).toFixed(2)}×` : '–'}`,
    );
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
