/**
 * How long a `lumen` command that only reads the registry takes, end to end (process start to exit), as people
 * run it: `./lumen` (the documented way), `npx lumen`, `npm run lumen` and the compiled bin, against the baseline of
 * compiling the TypeScript at each call (tsx cli/lumen.ts, how every command ran before) and beside the peer,
 * Temporal's own command line answering `--version`. Same command, same registry, in one run.
 *
 *   npm run bench:cli                 (= tsx bench/cli-startup.ts --runs 15)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { temporalCliPath } from '../tools/devserver';
import { repoRoot } from '../test/support/env';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(command: string[], env: NodeJS.ProcessEnv, runs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const r = spawnSync(command[0], command.slice(1), { cwd: repoRoot, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${command.join(' ')} failed: ${r.stderr}`);
    out.push(performance.now() - started);
  }
  return out;
}

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 15);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-bench-cli-'));
const env = { ...process.env, LUMEN_HOME: home };
const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
const cases: [string, string[], NodeJS.ProcessEnv?][] = [
  ['tsx cli/lumen.ts models (baseline: compiled at each call)', [tsx, 'cli/lumen.ts', 'models']],
  // the peer: Temporal's own command line, a Go binary, answering without any work
  ['temporal --version (the peer)', [temporalCliPath(), '--version']],
  ['./lumen models (the documented way)', ['./lumen', 'models']],
  ['npx lumen models', ['npx', 'lumen', 'models']],
  // what a fresh clone or a changed file costs tsx: nothing in its compile cache
  ['  the same, tsx cache disabled', [tsx, 'cli/lumen.ts', 'models'], { TSX_DISABLE_CACHE: '1' }],
  ['node bin/lumen.js models (compiled by set-up)', [process.execPath, 'bin/lumen.js', 'models']],
  ['node bin/lumen.js --version', [process.execPath, 'bin/lumen.js', '--version']],
  ['npm run lumen -- models (npm, set-up check, then the bin)', ['npm', 'run', '--silent', 'lumen', '--', 'models']],
];
try {
  time(cases[3][1], env, 2); // warm the file cache
  const results = cases.map(([name, command, extra]) => ({
    name,
    ms: median(time(command, { ...env, ...extra }, runs)),
  }));
  const baseline = results[0].ms;
  const peer = results[1].ms;
  console.log(`median of ${runs} runs each, ${os.cpus().length} cores, Node ${process.version}`);
  for (const r of results) {
    console.log(
      `${r.name.padEnd(64)} ${r.ms.toFixed(0).padStart(6)} ms   ${(baseline / r.ms).toFixed(2)}× the baseline's speed` +
        `   ${(r.ms / peer).toFixed(1)}× the peer's time`,
    );
  }
  const documented = results[2].ms;
  console.log(
    `the documented way (./lumen): ${documented.toFixed(0)} ms, goal ≤ 250 ms: ${documented <= 250 ? 'met' : 'NOT met'}`,
  );
} finally {
  fs.rmSync(home, { recursive: true, force: true });
}
