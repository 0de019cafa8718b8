import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
for (const q of process.argv.slice(2)) {
  const r = await con.runAndReadAll(q);
  console.log(r.getRowObjectsJson().slice(0, 40));
}
