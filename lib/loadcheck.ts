import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ArtifactRef, ArtifactStore } from './artifacts';
import type { Registry } from './registry/types';

export interface LoadCheckResult {
  passed: boolean;
  detail: string;
  maxAbsDiff?: number;
  backend?: string;
  seconds: number;
  at: string;
}

/**
 * Load a model in a fresh Node process (nothing cached from training or evaluation), verify its digest and run the
 * canary. Any failure — a flipped byte, swapped files, a crash, a timeout, a wrong prediction — is a failed check.
 */
export function runLoadCheck(
  store: ArtifactStore,
  artifact: ArtifactRef,
  canary: ArtifactRef,
  options: { tolerance?: number; timeoutMs?: number } = {},
): Promise<LoadCheckResult> {
  const started = performance.now();
  // compiled (dist/…/*.js) or run from source through tsx: the script sits beside this module's own kind
  const compiled = __filename.endsWith('.js');
  const script = path.resolve(__dirname, '..', 'worker', compiled ? 'load-check.js' : 'load-check.ts');
  const args = compiled ? [script] : ['--require', require.resolve('tsx/cjs'), script];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    const finish = (partial: Omit<LoadCheckResult, 'seconds' | 'at'>): void => {
      clearTimeout(timer);
      resolve({ ...partial, seconds: (performance.now() - started) / 1000, at: new Date().toISOString() });
    };
    child.on('error', (e) => finish({ passed: false, detail: `load check process failed to start: ${e.message}` }));
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        finish(JSON.parse(line) as Omit<LoadCheckResult, 'seconds' | 'at'>);
      } catch {
        finish({
          passed: false,
          detail: `load check process ended (${signal ?? `exit ${code}`}) without a result: ${err.trim().split('\n').slice(-3).join(' | ')}`,
        });
      }
    });
    child.stdin.end(JSON.stringify({ store: store.config, artifact, canary, tolerance: options.tolerance ?? 1e-4 }));
  });
}

/**
 * Whether a registered version can be trusted now: its bytes still hash to what was registered, and no load check
 * has failed since (a failed check stays until `lumen verify` passes one). Returns the reason when it cannot;
 * a failed byte check is recorded as a failed load check, so no promotion or rollback moves to it either.
 */
export async function registeredVersionProblem(
  store: ArtifactStore,
  registry: Registry,
  model: string,
  version: number,
): Promise<string | null> {
  const record = await registry.getVersion(model, version);
  if (!record) return `${model} v${version} is not registered`;
  try {
    await store.verify(record.artifact);
  } catch (err) {
    const detail = `bytes on disk differ from those registered: ${(err as Error).message}`;
    await registry.recordLoadCheck(model, version, { passed: false, detail, at: new Date().toISOString() });
    return detail;
  }
  if (record.loadCheck && !record.loadCheck.passed) {
    return `its last load check failed (${record.loadCheck.at}): ${record.loadCheck.detail}`;
  }
  return null;
}
