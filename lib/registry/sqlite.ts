import fs from 'node:fs';
import path from 'node:path';
import { SqliteDatabase } from './sql';
import { MIGRATIONS } from './migrations';
import { SqlRegistry } from './sql-registry';

/**
 * The embedded registry: one SQLite file in WAL mode, safe for several processes (worker, CLI) on one machine.
 * Every write that must be atomic (version numbering, alias moves with their history rows) runs in an IMMEDIATE
 * transaction, which takes the write lock up front.
 */
export class SqliteRegistry extends SqlRegistry {
  constructor(file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    const sql = new SqliteDatabase(file);
    super(sql);
    const db = sql.db;
    const applied = db.pragma('user_version', { simple: true }) as number;
    // synchronous, at start: only when there is something to apply (it takes the write lock)
    if (applied >= MIGRATIONS.length) return;
    db.transaction(() => {
      for (let i = applied; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]);
      db.pragma(`user_version = ${MIGRATIONS.length}`);
    }).immediate();
  }
}
