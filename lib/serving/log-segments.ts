import type { DuckDBConnection } from '@duckdb/node-api';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ownedName, removeOrphansIn } from '../artifacts/temporary';
import { sqlString, withDuckDB } from '../data/duckdb';

/**
 * The prediction log's files, and how they are kept few. A server writes one segment per model per flush (every
 * second under traffic): 86,400 files a day, which a monitor would have to open on every check. So each closed hour
 * of a writer's segments is merged into one file, and readers take a consistent snapshot of what is there.
 *
 * Names, in <root>/<model>/date=<YYYY-MM-DD>/:
 *   <flush ms>-<writer>-<n>.parquet   a segment, as a server writes it (writer: one token per process)
 *   <hour ms>-<writer>-hour.parquet   every segment of that writer in that hour, merged
 * A merged file covers the segments of its writer and hour: a reader that finds both (the merge is written before
 * its segments are deleted) reads only the merged file, so a record is never counted twice.
 */
const SEGMENT = /^(\d+)-([0-9a-z]+)-(\d+)\.parquet$/;
const MERGED = /^(\d+)-([0-9a-z]+)-hour\.parquet$/;
const HOUR_MS = 3_600_000;
const DAY_FOLDER = /^date=\d{4}-\d{2}-\d{2}$/;

/**
 * A closed hour of another writer's segments is merged only this long after it ended: a live writer never names a
 * segment in an hour that has ended by its own clock, and this leaves room for clocks that disagree.
 */
export const ORPHAN_GRACE_MS = 2 * HOUR_MS;

/** A merge lock older than this was left by a process that died while merging; it is removed. */
const STALE_LOCK_MS = 10 * 60_000;

/** A token for one writing process: its segments' names carry it (pids repeat across containers). */
export function newWriterToken(): string {
  return `w${randomBytes(5).toString('hex')}`;
}

export function segmentName(flushMs: number, writer: string, n: number): string {
  return `${flushMs}-${writer}-${n}.parquet`;
}

function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

interface DayFiles {
  dir: string;
  /** writer|hour → the merged file's name */
  merged: Map<string, string>;
  /** writer|hour → segment names */
  segments: Map<string, string[]>;
  /** other visible Parquet files (written by hand, or by an older layout): read as they are */
  other: string[];
}

function readDay(dir: string): DayFiles {
  const day: DayFiles = { dir, merged: new Map(), segments: new Map(), other: [] };
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('.') || !name.endsWith('.parquet')) continue;
    const m = MERGED.exec(name);
    if (m) {
      day.merged.set(`${m[2]}|${Number(m[1])}`, name);
      continue;
    }
    const s = SEGMENT.exec(name);
    if (s) {
      const key = `${s[2]}|${hourOf(Number(s[1]))}`;
      day.segments.set(key, [...(day.segments.get(key) ?? []), name]);
    } else day.other.push(name);
  }
  return day;
}

/**
 * The model's day folders, without those that cannot hold a record made at or after `sinceMs`: a record is written
 * after it is made, into the folder of the day it is written, so every earlier folder is older. An hour of slack
 * covers a clock set back. Folders not named by a day are always read.
 */
function daysOf(root: string, model: string, sinceMs = -Infinity): string[] {
  const dir = path.join(root, model);
  if (!fs.existsSync(dir)) return [];
  const first = Number.isFinite(sinceMs) ? `date=${new Date(sinceMs - HOUR_MS).toISOString().slice(0, 10)}` : '';
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .filter((d) => !DAY_FOLDER.test(d.name) || d.name >= first)
    .map((d) => path.join(dir, d.name));
}

/**
 * The files a reader should read now: merged hours, the segments no merged file covers, and anything else; only
 * the days that can hold records made at or after `sinceMs`, when it is given.
 */
export function logFiles(root: string, model: string, sinceMs?: number): string[] {
  const files: string[] = [];
  for (const dir of daysOf(root, model, sinceMs)) {
    const day = readDay(dir);
    for (const name of day.merged.values()) files.push(path.join(dir, name));
    for (const [key, names] of day.segments) {
      if (!day.merged.has(key)) for (const name of names) files.push(path.join(dir, name));
    }
    for (const name of day.other) files.push(path.join(dir, name));
  }
  return files.sort();
}

export function parquetScan(files: string[] | string): string {
  const list = typeof files === 'string' ? sqlString(files) : `[${files.map(sqlString).join(', ')}]`;
  return `read_parquet(${list}, hive_partitioning = false, union_by_name = true)`;
}

/** What a reader reads for a whole check: a DuckDB table expression over files that stay put until it is closed. */
export interface LogSnapshot {
  scan: string;
  files: number;
  close(): void;
}

/**
 * Hard links to the model's files at this moment, in a folder of the reader's own under <root>/.readers: a merge
 * that deletes segments while a check runs cannot take them from under its queries, and the check's several queries
 * all see the same records. Where the volume cannot link, the files are read where they are (a merge during the
 * check then fails it loudly, and the activity retries). With `sinceMs`, only the days that can hold records made
 * then or later (a check over the last week need not open a month). Null when nothing is logged.
 */
export function snapshotLog(root: string, model: string, sinceMs?: number): LogSnapshot | null {
  const readers = path.join(root, '.readers');
  fs.mkdirSync(readers, { recursive: true });
  // a reader that died mid-check (its process gone) leaves its links: they go now, the others within the hour
  removeOrphansIn(readers);
  removeStale(readers, HOUR_MS);
  for (let attempt = 0; ; attempt++) {
    const files = logFiles(root, model, sinceMs);
    if (files.length === 0) return null;
    const dir = path.join(readers, ownedName(model));
    fs.mkdirSync(dir);
    const close = (): void => fs.rmSync(dir, { recursive: true, force: true });
    try {
      files.forEach((file, i) => fs.linkSync(file, path.join(dir, `${String(i).padStart(7, '0')}.parquet`)));
      return { scan: parquetScan(path.join(dir, '*.parquet')), files: files.length, close };
    } catch (err) {
      close();
      const code = (err as NodeJS.ErrnoException).code;
      // a merge finished between the listing and the links: list again
      if (code === 'ENOENT' && attempt < 5) continue;
      if (code === 'ENOENT') throw err;
      return { scan: parquetScan(files), files: files.length, close: () => undefined };
    }
  }
}

function removeStale(dir: string, olderThanMs: number): void {
  const cutoff = Date.now() - olderThanMs;
  for (const name of fs.readdirSync(dir)) {
    const at = path.join(dir, name);
    try {
      if (fs.statSync(at).mtimeMs < cutoff) fs.rmSync(at, { recursive: true, force: true });
    } catch {
      // removed by another reader meanwhile
    }
  }
}

export interface MergeResult {
  /** merged files written */
  merged: number;
  /** segments merged (and deleted) */
  segments: number;
}

/**
 * Merge every closed hour of segments under <root>/<model>: this writer's once the hour has ended, another
 * writer's (one that stopped, say) once it ended ORPHAN_GRACE_MS ago. An hour merged before and given more segments
 * since is merged again with them. One process merges an hour at a time (an exclusive lock file beside it).
 */
export async function mergeClosedHours(root: string, model: string, writer: string, now: number): Promise<MergeResult> {
  const result: MergeResult = { merged: 0, segments: 0 };
  for (const dir of daysOf(root, model)) {
    const day = readDay(dir);
    for (const [key, names] of day.segments) {
      const [owner, hourText] = key.split('|');
      const hour = Number(hourText);
      const closedAt = hour + HOUR_MS + (owner === writer ? 0 : ORPHAN_GRACE_MS);
      const before = day.merged.get(key);
      if (now < closedAt || (names.length < 2 && !before)) continue;
      const lock = path.join(dir, `.merge-${owner}-${hour}.lock`);
      if (!takeLock(lock)) continue;
      const name = `${hour}-${owner}-hour.parquet`;
      const temp = path.join(dir, `.${name}.${process.pid}.tmp`);
      try {
        // listed again under the lock: another process may have merged this hour since
        const current = readDay(dir);
        const sources = current.segments.get(key) ?? [];
        const merged = current.merged.get(key);
        if (sources.length === 0) continue;
        const inputs = [...(merged ? [merged] : []), ...sources].map((n) => path.join(dir, n));
        await withDuckDB((con) =>
          con.run(
            `COPY (SELECT * FROM ${parquetScan(inputs)}) TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd)`,
          ),
        );
        fs.renameSync(temp, path.join(dir, name));
        for (const source of sources) fs.rmSync(path.join(dir, source), { force: true });
        result.merged++;
        result.segments += sources.length;
      } finally {
        fs.rmSync(temp, { force: true });
        fs.rmSync(lock, { force: true });
      }
    }
  }
  return result;
}

/** Create the lock file, or find it held: a stale one is removed (the next round takes it). */
function takeLock(lock: string): boolean {
  try {
    fs.closeSync(fs.openSync(lock, 'wx'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (Date.now() - fs.statSync(lock).mtimeMs > STALE_LOCK_MS) fs.rmSync(lock, { force: true });
    } catch {
      // released meanwhile
    }
    return false;
  }
}

/** Where a logged prediction came from: which model and version answered it, on which arm. */
export interface LoggedPrediction {
  model: string;
  version: number;
  arm: string;
}

/**
 * The logged predictions among `ids`, looked up in every model's files from the day the earliest of them was made
 * (a record lies in the folder of the day it was written, never earlier). An id that is not found was never
 * answered here — or was answered by another host so recently that its write-ahead has not become a segment yet.
 */
export async function findLogged(
  root: string,
  ids: string[],
  madeAt: (id: string) => number,
): Promise<Map<string, LoggedPrediction>> {
  const found = new Map<string, LoggedPrediction>();
  if (ids.length === 0 || !fs.existsSync(root)) return found;
  const since = Math.min(...ids.map(madeAt));
  const models = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name);
  const files = models.flatMap((model) => logFiles(root, model, since));
  if (files.length === 0) return found;
  await withDuckDB(async (con) => {
    const wanted = ids.map(sqlString).join(', ');
    const rows = (
      await con.runAndReadAll(
        `SELECT DISTINCT id, model, version, arm FROM ${parquetScan(files)} WHERE id IN (${wanted})`,
      )
    ).getRowsJS();
    for (const row of rows) {
      const [id, model, arm] = [row[0], row[1], row[3]] as string[];
      // a shadow's prediction is logged under the id of the answer it shadows: the answer is what a label judges
      if (arm === 'shadow' && found.has(id)) continue;
      found.set(id, { model, version: Number(row[2]), arm });
    }
  });
  return found;
}

/** One logged record of a prediction, as written: what came in, what went out, how long it took. */
export interface LoggedRecord extends LoggedPrediction {
  id: string;
  /** ISO time of the answer */
  at: string;
  latencyMs: number;
  input: unknown;
  output: unknown;
  flags: { field: string; code: string; detail?: string }[];
  /** the OpenTelemetry trace of the request, when it was traced */
  traceId: string | null;
}

/**
 * Every logged record of one prediction id — the answer, and a shadow's answer to the same request if there was
 * one — from the folders of the day it was made (its id says when) and the next.
 */
export async function readLogged(root: string, id: string, madeAt: number): Promise<LoggedRecord[]> {
  if (!fs.existsSync(root)) return [];
  const models = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name);
  // a record lies in the folder of the day it was written: the day its id was made, or the next (near midnight)
  const days = new Set([0, 1].map((d) => `date=${new Date(madeAt + d * 86_400_000).toISOString().slice(0, 10)}`));
  const files = models
    .flatMap((model) => logFiles(root, model, madeAt))
    .filter((file) => days.has(path.basename(path.dirname(file))));
  if (files.length === 0) return [];
  try {
    return await readRecords(files, id);
  } catch (err) {
    // a merge may have replaced segments between the listing and the read: list again, once
    if ((err as Error).message.includes('No files found') || (err as NodeJS.ErrnoException).code === 'ENOENT') {
      const again = models
        .flatMap((model) => logFiles(root, model, madeAt))
        .filter((file) => days.has(path.basename(path.dirname(file))));
      return again.length ? readRecords(again, id) : [];
    }
    throw err;
  }
}

/**
 * The trace id of each record of a scan of the log (or a table made of one), as SQL: the `trace_id` column, or NULL
 * when none of the segments read has it — those written before traces were kept.
 */
export async function traceIdSql(con: DuckDBConnection, relation: string): Promise<string> {
  const columns = (await con.runAndReadAll(`DESCRIBE SELECT * FROM ${relation}`)).getRowObjectsJS();
  return columns.some((c) => c.column_name === 'trace_id') ? 'trace_id' : 'NULL';
}

function readRecords(files: string[], id: string): Promise<LoggedRecord[]> {
  return withDuckDB(async (con) => {
    const traceId = await traceIdSql(con, parquetScan(files));
    const rows = (
      await con.runAndReadAll(
        `SELECT id, model, version, arm, epoch_ms("at") AS at, latency_ms, CAST(input AS VARCHAR) AS input,
                CAST(output AS VARCHAR) AS output, CAST(flags AS VARCHAR) AS flags,
                ${traceId} AS trace_id
           FROM ${parquetScan(files)} WHERE id = ${sqlString(id)} ORDER BY arm = 'shadow', "at"`,
      )
    ).getRowObjectsJS();
    return rows.map((row) => {
      // every column is text or a number, as selected above
      const r = row as Record<string, string | number | null>;
      return {
        id: r.id as string,
        model: r.model as string,
        version: Number(r.version),
        arm: r.arm as string,
        at: new Date(Number(r.at)).toISOString(),
        latencyMs: Number(r.latency_ms),
        input: JSON.parse(r.input as string) as unknown,
        output: JSON.parse(r.output as string) as unknown,
        flags: JSON.parse((r.flags as string | null) ?? '[]') as LoggedRecord['flags'],
        traceId: (r.trace_id as string | null) ?? null,
      };
    });
  });
}
