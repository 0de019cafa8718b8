import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * What the registry asks of a SQL database, so one implementation of the registry's logic serves SQLite (embedded)
 * and PostgreSQL (several hosts). Statements are written once, with `?` placeholders (or `@name` with an object),
 * in the SQL both accept; a driver translates what it must.
 */
export type Params = unknown[] | Record<string, unknown>;

export interface Sql {
  all<T>(sql: string, params?: Params): Promise<T[]>;
  get<T>(sql: string, params?: Params): Promise<T | undefined>;
  run(sql: string, params?: Params): Promise<{ changes: number }>;
}

export interface SqlDatabase extends Sql {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Run `fn` as one transaction that holds the write lock from its start (no two transactions interleave their
   * read-then-write); it commits when `fn` resolves, rolls back when it throws. Inside, use only `tx`.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): void;
}

/**
 * SQLite through better-sqlite3, whose calls are synchronous. A transaction may await between its statements, so
 * every use of the connection — inside a transaction or not — takes its turn on one queue: nothing from another
 * caller can run in the middle of a transaction and become part of it. Across processes, BEGIN IMMEDIATE takes
 * the file's write lock (waiting up to busy_timeout for another process to let go).
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;
  readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly direct: Sql;
  private readonly line: { queue: Promise<unknown> };

  constructor(file: string) {
    this.db = new Database(file);
    // one queue per file, shared by every connection to it in this process: a transaction that awaits holds the
    // file's write lock, and another connection of this process waiting for that lock (synchronously, up to
    // busy_timeout) would block the very thread the first needs to finish
    const key = file === ':memory:' ? Symbol('memory') : path.resolve(file);
    let line = SqliteDatabase.lines.get(key);
    if (!line) SqliteDatabase.lines.set(key, (line = { queue: Promise.resolve() }));
    this.line = line;
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('foreign_keys = ON');
    const stmt = (sql: string): Database.Statement => {
      let s = this.statements.get(sql);
      if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
      return s;
    };
    const bind = (params: Params | undefined): unknown[] =>
      params === undefined ? [] : Array.isArray(params) ? params : [params];
    this.direct = {
      all: async <T>(sql: string, params?: Params) => stmt(sql).all(...bind(params)) as T[],
      get: async <T>(sql: string, params?: Params) => stmt(sql).get(...bind(params)) as T | undefined,
      run: async (sql: string, params?: Params) => ({ changes: stmt(sql).run(...bind(params)).changes }),
    };
  }

  private static readonly lines = new Map<string | symbol, { queue: Promise<unknown> }>();

  private turn<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.line.queue.then(fn);
    this.line.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  all<T>(sql: string, params?: Params): Promise<T[]> {
    return this.turn(() => this.direct.all<T>(sql, params));
  }

  get<T>(sql: string, params?: Params): Promise<T | undefined> {
    return this.turn(() => this.direct.get<T>(sql, params));
  }

  run(sql: string, params?: Params): Promise<{ changes: number }> {
    return this.turn(() => this.direct.run(sql, params));
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.turn(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.direct);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  close(): void {
    this.db.close();
  }
}
