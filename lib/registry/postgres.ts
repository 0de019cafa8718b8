import pg from 'pg';
import type { Params, Sql, SqlDatabase } from './sql';

// counts and sums come back as int8, which node-postgres leaves as text: a registry's never pass 2^53
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

/** `?` and `@name` placeholders, as the registry writes them, in PostgreSQL's `$n` form with the values in order. */
export function toPositional(sql: string, params: Params | undefined): { text: string; values?: unknown[] } {
  // no values: the simple protocol, which also takes several statements (a migration)
  if (params === undefined) return { text: sql };
  if (Array.isArray(params)) {
    let n = 0;
    return { text: sql.replace(/\?/g, () => `$${++n}`), values: params };
  }
  const names: string[] = [];
  const text = sql.replace(/@(\w+)/g, (_, name: string) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `$${i + 1}`;
  });
  return { text, values: names.map((n) => params[n]) };
}

function over(query: (text: string, values?: unknown[]) => Promise<pg.QueryResult>): Sql {
  const q = (sql: string, params?: Params) => {
    const { text, values } = toPositional(sql, params);
    return query(text, values);
  };
  return {
    all: async <T>(sql: string, params?: Params) => (await q(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: Params) => (await q(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params?: Params) => ({ changes: (await q(sql, params)).rowCount ?? 0 }),
  };
}

/**
 * PostgreSQL through a node-postgres pool. A transaction takes one connection and, first, a transaction-level
 * advisory lock that every registry transaction shares: like SQLite's BEGIN IMMEDIATE, writers go one at a time,
 * across every process and host, so the read-then-write of version numbering and alias moves stays atomic.
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly direct: Sql;

  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 8 });
    this.direct = over((text, values) => this.pool.query(text, values));
  }

  all<T>(sql: string, params?: Params): Promise<T[]> {
    return this.direct.all<T>(sql, params);
  }
  get<T>(sql: string, params?: Params): Promise<T | undefined> {
    return this.direct.get<T>(sql, params);
  }
  run(sql: string, params?: Params): Promise<{ changes: number }> {
    return this.direct.run(sql, params);
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(7318)');
      const result = await fn(over((text, values) => client.query(text, values)));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  close(): void {
    void this.pool.end();
  }
}
