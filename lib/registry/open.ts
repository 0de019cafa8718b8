import { SpecError } from '../errors';
import { SqliteRegistry } from './sqlite';
import type { Registry } from './types';

/** A connection URL with its password hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/**
 * The registry this process uses: PostgreSQL when LUMEN_REGISTRY_URL names one (postgres://user:password@host/db,
 * for workers on several hosts), else the SQLite file in LUMEN_HOME (or LUMEN_REGISTRY). Migrations run here.
 */
export async function openRegistryAt(sqliteFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Registry> {
  const url = env.LUMEN_REGISTRY_URL;
  if (!url) return new SqliteRegistry(sqliteFile);
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new SpecError(`LUMEN_REGISTRY_URL must be a postgres:// URL; got "${redactUrl(url)}"`);
  }
  try {
    // loaded only here: node-postgres is no part of a command that reads the SQLite file
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PostgresRegistry } = require('./postgres') as typeof import('./postgres');
    return await PostgresRegistry.open(url);
  } catch (err) {
    throw new SpecError(`cannot open the registry at ${redactUrl(url)}: ${(err as Error).message}`);
  }
}
