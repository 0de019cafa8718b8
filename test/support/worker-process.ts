import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot, temporalAddress } from './env';

/** Workers in their own OS processes, to be killed like crashed machines (fault tests). */

export interface WorkerProcess {
  child: ChildProcess;
  /** everything it printed so far */
  output: () => string;
}

export function spawnWorker(
  home: string,
  queues: { pipeline: string; training: string },
  roles: 'pipeline' | 'training' | 'pipeline,training',
  address = temporalAddress(),
  /** more environment, e.g. Temporal's TLS settings */
  extra: NodeJS.ProcessEnv = {},
  /** a command the worker runs under, e.g. one that gives it a mount namespace (test/support/small-volume.ts) */
  prefix: string[] = [],
): WorkerProcess {
  const [command, ...prefixArgs] = prefix.length ? prefix : [process.execPath];
  const child = spawn(
    command,
    [
      ...(prefix.length ? [...prefixArgs, process.execPath] : []),
      '--import',
      'tsx',
      'worker/main.ts',
      '--queues',
      roles,
      '--training-queue',
      queues.training,
      '--pipeline-queue',
      queues.pipeline,
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, LUMEN_HOME: home, TEMPORAL_ADDRESS: address, LUMEN_LOG_LEVEL: 'INFO', ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM') console.error(`worker exited ${code}:\n${output}`);
  });
  return { child, output: () => output };
}

export async function kill(worker: WorkerProcess): Promise<number> {
  worker.child.kill('SIGKILL');
  await new Promise((r) => worker.child.once('exit', r));
  return Date.now();
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
