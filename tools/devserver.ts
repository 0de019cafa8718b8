import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A local Temporal dev server (the `temporal` CLI's `server start-dev`), started as a child process and waited
 * for with `temporal operator cluster health` — the SDK's own start wait is a fixed 5 s, which flakes on 2 cores.
 */
export interface DevServer {
  address: string;
  namespace: string;
  /** Web UI base URL, or undefined when headless */
  uiUrl?: string;
  process: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  port?: number;
  /** Web UI port; omit for a headless server */
  uiPort?: number;
  /** SQLite file for persistence; omit for in-memory state */
  dbFile?: string;
  logFile?: string;
  searchAttributes?: Record<string, 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList'>;
  startTimeoutMs?: number;
}

/** the project folder, from tools/ (source) or dist/tools/ (compiled) */
const root = fs.existsSync(path.resolve(__dirname, '..', 'package.json'))
  ? path.resolve(__dirname, '..')
  : path.resolve(__dirname, '..', '..');

/** TEMPORAL_CLI_PATH, else what set-up installed, else `temporal` on PATH. */
export function temporalCliPath(): string {
  if (process.env.TEMPORAL_CLI_PATH) return process.env.TEMPORAL_CLI_PATH;
  const statePath = path.join(root, '.tools', 'toolchain-state.json');
  if (fs.existsSync(statePath)) {
    const state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as { temporal?: { path?: string } };
    if (state.temporal?.path && fs.existsSync(state.temporal.path)) return state.temporal.path;
  }
  const which = spawnSync('which', ['temporal'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  throw new Error('no Temporal CLI found: run `node tools/setup.mjs` or set TEMPORAL_CLI_PATH');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether this `temporal` CLI's `server start-dev` takes an option (older builds lack some). */
function cliOffers(cli: string, option: string): boolean {
  const help = spawnSync(cli, ['server', 'start-dev', '--help'], { encoding: 'utf8', timeout: 10_000 });
  return `${help.stdout}`.includes(option);
}

/** True when a Temporal frontend at `address` answers SERVING. */
export function isHealthy(address: string): boolean {
  const res = spawnSync(temporalCliPath(), ['operator', 'cluster', 'health', '--address', address], {
    encoding: 'utf8',
    timeout: 5000,
  });
  return res.status === 0 && res.stdout.includes('SERVING');
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const cli = temporalCliPath();
  const port = options.port ?? (await freePort());
  if (await portInUse(port)) throw new Error(`cannot start Temporal dev server: port ${port} is already in use`);
  if (options.uiPort !== undefined && (await portInUse(options.uiPort))) {
    throw new Error(`cannot start Temporal dev server: Web UI port ${options.uiPort} is already in use`);
  }
  const address = `127.0.0.1:${port}`;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  args.push(...(options.uiPort !== undefined ? ['--ui-port', String(options.uiPort)] : ['--headless']));
  // the Web UI would fetch a news feed from temporal.io on every page: nothing leaves this machine unasked
  if (options.uiPort !== undefined && cliOffers(cli, '--ui-disable-news-fetch')) args.push('--ui-disable-news-fetch');
  if (options.dbFile) {
    fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push(
      '--db-filename',
      options.dbFile,
      '--sqlite-pragma',
      'journal_mode=WAL',
      '--sqlite-pragma',
      'synchronous=NORMAL',
    );
  }
  for (const [name, type] of Object.entries(options.searchAttributes ?? {}))
    args.push('--search-attribute', `${name}=${type}`);
  const logFile = options.logFile ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-')), 'server.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(cli, args, { stdio: ['ignore', log, log], detached: false });
  fs.closeSync(log);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!isHealthy(address)) {
    if (exited !== undefined) {
      throw new Error(`Temporal dev server exited with ${exited} before it was healthy; log:\n${tail(logFile)}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `Temporal dev server at ${address} not healthy within ${options.startTimeoutMs ?? 60_000} ms; log:\n${tail(logFile)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    address,
    namespace: 'default',
    uiUrl: options.uiPort !== undefined ? `http://localhost:${options.uiPort}` : undefined,
    process: child,
    logFile,
    stop: () => stopProcess(child),
  };
}

export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
