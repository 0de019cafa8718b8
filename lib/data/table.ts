import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString, withDuckDB } from './duckdb';
import type { ArtifactStore } from '../artifacts';
import { DatasetRef, snapshotPath } from './snapshot';
import { epochMsSql, timestampSql } from './timestamp';

/** A column loaded for computation: numbers (NaN = missing; timestamps as epoch ms) or strings (null = missing). */
export type ColumnData = { kind: 'number'; values: Float64Array } | { kind: 'string'; values: (string | null)[] };

/** Columns of one dataset, all of the same length. */
export interface Table {
  rows: number;
  columns: Map<string, ColumnData>;
}

export interface ColumnRequest {
  name: string;
  /** code: a category's 1-based position in `vocabulary`, 0 when absent or missing (read as a number) */
  as: 'number' | 'timestamp' | 'string' | 'code';
  /** for timestamps written as text that is not ISO 8601: the contract's strptime format */
  format?: string;
  /** for codes: the categories, in order */
  vocabulary?: string[];
}

/** Key of a loaded column: the same source column may be read as a timestamp and as a string. */
export function columnKey(req: ColumnRequest): string {
  return `${req.as}:${req.name}`;
}

/** How a requested column is read, as a SQL expression (the actual type: how the file stores it, if known). */
export function selectColumn(req: ColumnRequest, actualType?: string): string {
  const col = sqlIdent(req.name);
  switch (req.as) {
    case 'timestamp':
      return epochMsSql(timestampSql(req.name, req.format, actualType));
    case 'number':
      return `CAST(${col} AS DOUBLE)`;
    case 'string':
      return `CAST(${col} AS VARCHAR)`;
    case 'code': {
      // the same lookup as the preprocessor's (text equality), done by DuckDB: no JavaScript string per row
      const list = `[${(req.vocabulary ?? []).map(sqlString).join(', ')}]::VARCHAR[]`;
      return `CAST(coalesce(list_position(${list}, CAST(${col} AS VARCHAR)), 0) AS DOUBLE)`;
    }
  }
}

/** Columns of `rows` missing values each (NaN, or null for text), to be filled. */
function emptyColumns(requests: ColumnRequest[], rows: number): Map<string, ColumnData> {
  const columns = new Map<string, ColumnData>();
  for (const req of requests) {
    columns.set(
      columnKey(req),
      req.as === 'string'
        ? { kind: 'string', values: new Array<string | null>(rows).fill(null) }
        : { kind: 'number', values: new Float64Array(rows).fill(NaN) },
    );
  }
  return columns;
}

/**
 * Load selected columns of a snapshot into typed arrays, chunk by chunk (no per-row objects).
 * Columns absent from the snapshot come back as all-missing, so optional columns need no special casing.
 */
export async function loadTable(store: ArtifactStore, dataset: DatasetRef, requests: ColumnRequest[]): Promise<Table> {
  const types = new Map(dataset.columns.map((c) => [c.name, c.type]));
  const present = new Set(types.keys());
  const loaded = requests.filter((r) => present.has(r.name));
  const rows = dataset.rows;
  const columns = emptyColumns(requests, rows);
  if (loaded.length === 0 || rows === 0) return { rows, columns };
  await withDuckDB(async (con) => {
    const sql = `SELECT ${loaded.map((r) => selectColumn(r, types.get(r.name))).join(', ')} FROM read_parquet(${sqlString(await snapshotPath(store, dataset))})`;
    const result = await con.run(sql);
    let offset = 0;
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const n = chunk.rowCount;
      loaded.forEach((req, i) => {
        const vector = chunk.getColumnVector(i);
        const target = columns.get(columnKey(req))!;
        if (target.kind === 'number') {
          const out = target.values;
          for (let j = 0; j < n; j++) out[offset + j] = (vector.getItem(j) as number | null) ?? NaN;
        } else {
          const out = target.values;
          for (let j = 0; j < n; j++) out[offset + j] = vector.getItem(j) as string | null;
        }
      });
      offset += n;
    }
    if (offset !== rows) throw new Error(`snapshot ${dataset.uri} yielded ${offset} rows, expected ${rows}`);
  });
  return { rows, columns };
}

/**
 * Read columns of any DuckDB table expression in pieces of about `rows` rows, as tables the preprocessor reads
 * (the same column reading as `loadTable`): for scoring files too large to hold encoded at once. A piece's number
 * columns are views of arrays the next piece is read into: `onTable` must be done with them when it returns.
 */
export async function readTableChunks(
  con: DuckDBConnection,
  from: string,
  types: Map<string, string>,
  requests: ColumnRequest[],
  rows: number,
  onTable: (table: Table, offset: number) => Promise<void> | void,
): Promise<number> {
  const loaded = requests.filter((r) => types.has(r.name));
  const select = loaded.length ? loaded.map((r) => selectColumn(r, types.get(r.name))).join(', ') : '1 AS __none';
  const result = await con.run(`SELECT ${select} FROM ${from}`);
  const size = Math.max(rows, 4096); // whole DuckDB chunks (2048 rows) always fit
  let offset = 0;
  // every row of a loaded column is written before it is read, and the others stay missing: the arrays are reused
  const columns = emptyColumns(requests, size);
  let filled = 0;
  const emit = async (): Promise<void> => {
    if (filled === 0) return;
    const n = filled;
    // trimmed to the rows filled
    const piece = new Map<string, ColumnData>();
    for (const [key, data] of columns) {
      piece.set(
        key,
        data.kind === 'number'
          ? { kind: 'number', values: data.values.subarray(0, n) }
          : { kind: 'string', values: data.values.slice(0, n) },
      );
    }
    await onTable({ rows: n, columns: piece }, offset);
    offset += n;
    filled = 0;
  };
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    const n = chunk.rowCount;
    if (filled + n > size) await emit();
    const at = filled;
    loaded.forEach((req, i) => {
      const vector = chunk.getColumnVector(i);
      const target = columns.get(columnKey(req))!;
      if (target.kind === 'number') {
        const out = target.values;
        for (let j = 0; j < n; j++) out[at + j] = (vector.getItem(j) as number | null) ?? NaN;
      } else {
        const out = target.values;
        for (let j = 0; j < n; j++) out[at + j] = vector.getItem(j) as string | null;
      }
    });
    filled += n;
  }
  await emit();
  return offset;
}
