/**
 * Fresh clone → first model: `git clone` of this commit into an empty folder, then `npm run demo` (set-up, the dev
 * server, the workers, one training run on January's flights), timed end to end — twice:
 *
 *   - cold: nothing of Lumen's own cache on the machine (a new, empty LUMEN_CACHE_DIR): the wheels are downloaded
 *     and both native addons compiled. npm's and pip's own caches are the machine's, as for any second project;
 *   - warm: another fresh clone on the same machine, with the cache the cold run filled (compiled addons,
 *     libtensorflow unpacked): what every clone after the first costs.
 *
 * Beside the peer: Temporal's own dev server (`temporal server start-dev`, the binary already downloaded) from start
 * to healthy, in the same run.
 *
 *   npm run bench:first-run        (= tsx bench/first-run.ts)
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDevServer } from '../tools/devserver';
import { repoRoot } from '../test/support/env';

interface Run {
  name: string;
  seconds: number;
  setup: string;
  steps: string;
  trained: string;
}

const GOAL_SECONDS = 90;

function demo(name: string, cacheDir: string): Promise<Run> {
  const clone = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-first-run-'));
  const cloned = spawnSync('git', ['clone', '-q', repoRoot, clone], { encoding: 'utf8' });
  if (cloned.status !== 0) throw new Error(`git clone failed: ${cloned.stderr}`);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'demo'], {
      cwd: clone,
      env: { ...process.env, LUMEN_CACHE_DIR: cacheDir, LUMEN_HOME: path.join(clone, '.lumen') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      fs.rmSync(clone, { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`npm run demo (${name}) exited with ${code}:\n${output.slice(-3000)}`));
      resolve({
        name,
        seconds,
        setup: /\[setup\] ready: .*; ([\d.]+ s)/.exec(output)?.[1] ?? '?',
        steps: /\[setup\] steps \([^)]*\): (.*)/.exec(output)?.[1] ?? '',
        trained: /^model\s+(.*)$/m.exec(output)?.[1] ?? 'no model line',
      });
    });
  });
}

async function main(): Promise<void> {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-first-run-cache-'));
  try {
    const cold = await demo('cold: nothing in Lumen’s machine cache', cacheDir);
    const warm = await demo('warm: a second clone, the machine cache filled', cacheDir);
    const t0 = performance.now();
    const server = await startDevServer();
    const peer = (performance.now() - t0) / 1000;
    await server.stop();
    console.log(`${os.cpus()[0].model.trim()}, ${os.availableParallelism()} cores, Node ${process.version}`);
    console.log(`peer: temporal server start-dev, start to healthy   ${peer.toFixed(1).padStart(6)} s`);
    for (const r of [cold, warm]) {
      console.log(
        `${r.name.padEnd(50)} ${r.seconds.toFixed(1).padStart(6)} s   ${(r.seconds / peer).toFixed(0)}× the peer's time` +
          `   goal ≤ ${GOAL_SECONDS} s: ${r.seconds <= GOAL_SECONDS ? 'met' : 'NOT met'}`,
      );
      console.log(`  set-up ${r.setup}; ${r.trained}`);
      if (r.steps) console.log(`  steps: ${r.steps}`);
    }
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
