import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../test/support/env';

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** the server's CPU time per request (µs, all its threads) */
  cpuUs?: number;
}

/** Load a JSON POST route with autocannon, run in its own process so the server under test keeps this one. */
export async function autocannon(
  url: string,
  body: string,
  seconds: number,
  connections: number,
  rate?: number,
): Promise<Load> {
  const args = [
    path.join(repoRoot, 'node_modules', 'autocannon', 'autocannon.js'),
    '-j',
    '-c',
    String(connections),
    '-d',
    String(seconds),
    '-m',
    'POST',
    '-H',
    'content-type=application/json',
    '-b',
    body,
    ...(rate ? ['-R', String(rate)] : []),
    url,
  ];
  // asynchronously: the server under test answers on this process's event loop meanwhile
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`autocannon failed: ${stderr}`);
  const j = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    errors: number;
    non2xx: number;
  };
  return { rps: j.requests.average, p50: j.latency.p50, p99: j.latency.p99, errors: j.errors, non2xx: j.non2xx };
}
