import fs from 'node:fs';
import { storeWriteError } from '../artifacts/write-failure';
import { z } from 'zod';
import { ArtifactRef, ArtifactStore } from '../artifacts';
import { SourceError } from '../errors';
import type { DuckDBConnection } from '@duckdb/node-api';
import { loadArrowFile } from './arrow';
import { sqlString, withSourceDuckDB } from './duckdb';
import { timestampSql } from './timestamp';
import {
  SourceRef,
  describeSource,
  openSource,
  readableDirectories,
  sourceFingerprint,
  storeAccess,
  type OpenedSource,
  type SourceAccess,
} from './source';

export const ColumnSchema = z.object({ name: z.string(), type: z.string() });
export type ColumnSchema = z.infer<typeof ColumnSchema>;

/** An ingested batch: an immutable, content-addressed Parquet snapshot and what it came from. */
export const DatasetRef = ArtifactRef.extend({
  rows: z.number().int().nonnegative(),
  columns: z.array(ColumnSchema),
  source: SourceRef,
  sourceFingerprint: z.string(),
  /** set when this snapshot was cut from another (e.g. the good rows of a batch with quarantined rows) */
  derivedFrom: z.object({ sha256: z.string(), reason: z.string() }).optional(),
});
export type DatasetRef = z.infer<typeof DatasetRef>;

/** DuckDB table expression reading an opened source's file in its format. */
export function sourceScan(opened: OpenedSource): string {
  const file = sqlString(opened.file);
  switch (opened.format) {
    case 'parquet':
      return `read_parquet(${file})`;
    case 'csv':
      return `read_csv(${file}, header = true, auto_detect = true)`;
    case 'json':
      return `read_json_auto(${file})`;
    case 'arrow':
      throw new Error(`an Arrow source is read into the connection first (sourceTable), not scanned: ${opened.file}`);
  }
}

/**
 * The source as a table expression of this connection: a DuckDB reader over the file, or, for Arrow IPC, a
 * temporary table the file was loaded into (lib/data/arrow.ts).
 */
export async function sourceTable(con: DuckDBConnection, opened: OpenedSource): Promise<string> {
  if (opened.format !== 'arrow') return sourceScan(opened);
  await loadArrowFile(con, opened.file, '__arrow_source');
  return '__arrow_source';
}

function windowClause(source: SourceRef): string {
  if (!source.window) return '';
  const { column, start, end, format } = source.window;
  const col = timestampSql(column, format);
  return ` WHERE ${col} >= TIMESTAMP ${sqlString(start)} AND ${col} < TIMESTAMP ${sqlString(end)}`;
}

/**
 * Read a source (all its columns, as found) and write a Parquet snapshot whose name is the sha256 of its bytes.
 * Writing the same data twice gives the same digest, so the digest identifies the batch's content.
 */
export async function snapshotSource(
  store: ArtifactStore,
  source: SourceRef,
  access: SourceAccess = storeAccess(store),
): Promise<DatasetRef> {
  const opened = openSource(source, access);
  const file = opened.file;
  const fingerprint = await sourceFingerprint(opened);
  const tmp = `${store.tempPath('snapshot')}.parquet`;
  const sandbox = { read: readableDirectories(access), write: store.root };
  let rows: number;
  let columns: ColumnSchema[];
  try {
    ({ rows, columns } = await withSourceDuckDB(sandbox, async (con) => {
      const query = `SELECT * FROM ${await sourceTable(con, opened)}${windowClause(source)}`;
      const described = await con.runAndReadAll(`DESCRIBE ${query}`);
      const cols = described
        .getRowObjectsJson()
        .map((r) => ColumnSchema.parse({ name: r.column_name, type: r.column_type }));
      const copied = await con.runAndReadAll(
        `COPY (${query}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
      );
      const count = Number(copied.getRows()[0]?.[0] ?? 0);
      return { rows: count, columns: cols };
    }));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    // the store could not take the snapshot: a full or read-only disk, not a source that cannot be read
    const write = storeWriteError(`the artifact store ${store.location}`, store.root, err, tmp);
    if (write) throw write;
    throw new SourceError(`cannot read ${opened.format} source ${describeSource(source)}: ${firstLine(err)}`, {
      uri: source.uri,
      file,
    });
  }
  if (rows === 0 && source.window) {
    fs.rmSync(tmp, { force: true });
    throw new SourceError(await emptyWindowMessage(opened, sandbox), { uri: source.uri, file });
  }
  const ref = await store.putFile('snapshots', tmp, '.parquet');
  return { ...ref, rows, columns, source, sourceFingerprint: fingerprint };
}

/** Why a declared window selected nothing: what the file's time column actually holds. */
async function emptyWindowMessage(opened: OpenedSource, sandbox: { read: string[]; write: string }): Promise<string> {
  const w = opened.source.window!;
  const t = timestampSql(w.column, w.format);
  const [total, parsed, min, max] = await withSourceDuckDB(sandbox, async (con) => {
    const r = await con.runAndReadAll(
      `SELECT count(*), count(${t}), CAST(min(${t}) AS VARCHAR), CAST(max(${t}) AS VARCHAR) FROM ${await sourceTable(con, opened)}`,
    );
    const [n, p, lo, hi] = r.getRowsJS()[0];
    return [Number(n), Number(p), lo as string | null, hi as string | null];
  });
  const declared = `the declared window ${w.column} ${w.start} … ${w.end}`;
  const found =
    total === 0
      ? 'the file has no rows'
      : parsed === 0
        ? `none of its ${total} "${w.column}" values reads as a timestamp${w.format ? ` in the format ${w.format}` : ''}`
        : `its "${w.column}" values run from ${min ?? '?'} to ${max ?? '?'}`;
  return `no rows of ${opened.file} fall in ${declared}: ${found}`;
}

/** A local path of a snapshot, for DuckDB's read_parquet (downloaded and verified first from a remote store). */
export function snapshotPath(store: ArtifactStore, dataset: ArtifactRef): Promise<string> {
  return store.localFile(dataset);
}

export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
