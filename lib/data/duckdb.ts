import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import os from 'node:os';
import path from 'node:path';
import { sqlString } from './sql';

/** One in-memory DuckDB per process; DuckDB runs its own threads, so one instance is enough. */
let instance: Promise<DuckDBInstance> | undefined;

export async function duckdb(): Promise<DuckDBConnection> {
  instance ??= DuckDBInstance.create(':memory:', { threads: String(os.availableParallelism()) });
  return (await instance).connect();
}

/** Run with a connection and always close it. */
export async function withDuckDB<T>(fn: (con: DuckDBConnection) => Promise<T>): Promise<T> {
  const con = await duckdb();
  try {
    return await fn(con);
  } finally {
    con.closeSync();
  }
}

/**
 * The DuckDB that opens sources: a file named by a spec, a schedule or a person, and the bytes inside it, are the
 * outside world. It may touch only the given directories (read the allowed source roots, write the artifact store
 * or the output's folder) — DuckDB refuses any other path itself, whatever a crafted file or path asks for — loads
 * no extension it does not already hold, and keeps to a memory limit and thread count that leave room for the rest
 * of the process (LUMEN_DUCKDB_MEMORY, default 40% of this machine's memory; LUMEN_DUCKDB_THREADS, default every
 * core), spilling into `.duckdb-tmp` of the folder it writes to beyond it. Its settings are locked once made. One instance per
 * set of directories, kept for the process.
 */
const sandboxes = new Map<string, Promise<DuckDBInstance>>();

export async function withSourceDuckDB<T>(
  access: { read: string[]; write: string },
  fn: (con: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const asDir = (d: string): string => (d.endsWith(path.sep) ? d : d + path.sep);
  const dirs = [...new Set([...access.read, access.write].map(asDir))].sort();
  const key = `${asDir(access.write)}\n${dirs.join('\n')}`;
  let made = sandboxes.get(key);
  if (!made) {
    made = sandbox(dirs, path.join(access.write, '.duckdb-tmp'));
    sandboxes.set(key, made);
    made.catch(() => sandboxes.delete(key));
  }
  const con = await (await made).connect();
  try {
    return await fn(con);
  } finally {
    con.closeSync();
  }
}

async function sandbox(dirs: string[], spill: string): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(':memory:', {
    threads: process.env.LUMEN_DUCKDB_THREADS ?? String(os.availableParallelism()),
    memory_limit: process.env.LUMEN_DUCKDB_MEMORY ?? `${Math.floor((os.totalmem() * 0.4) / 2 ** 20)}MB`,
    temp_directory: spill,
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const con = await instance.connect();
  try {
    await con.run(`SET allowed_directories = [${dirs.map(sqlString).join(', ')}]`);
    await con.run('SET enable_external_access = false');
    await con.run('SET lock_configuration = true');
  } finally {
    con.closeSync();
  }
  return instance;
}

export { jsonFieldPath, sqlIdent, sqlString } from './sql';
