import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot, temporalAddress } from './env';

/** The `lumen` command as people run it: the compiled bin, in its own process, with its exit code and output. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function lumen(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'lumen.js'), ...args], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lumen ${args.join(' ')} did not finish within ${timeoutMs / 1000} s:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Start a long-running command and resolve once its output says `ready`. */
export function startUntil(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  timeoutMs: number,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'lumen.js'), ...args], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs / 1000} s:\n${output}`)), timeoutMs);
    const look = (d: Buffer): void => {
      output += d.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve({ child, output: () => output });
      }
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.once('exit', (code) => reject(new Error(`exited ${code} before it was ready:\n${output}`)));
  });
}

/** The exit code, or the signal that ended the process (as "SIGINT", say). */
export function exited(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
}

/**
 * The environment a person's shell gives `lumen` in these tests: their Lumen home, the test server and queues, and
 * output to a pipe, as in CI (a `CI` variable set, no colour asked for): plain text, no colour codes.
 */
export function cliEnv(home: string, queues: { pipeline: string; training: string }): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _force, NO_COLOR: _no, ...inherited } = process.env;
  return {
    ...inherited,
    CI: 'true',
    LUMEN_HOME: home,
    TEMPORAL_ADDRESS: temporalAddress(),
    LUMEN_PIPELINE_QUEUE: queues.pipeline,
    LUMEN_TRAINING_QUEUE: queues.training,
  };
}
