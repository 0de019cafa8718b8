import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import os from 'node:os';

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

/** Quote a string as a SQL literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Quote an identifier. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
