import fs from 'node:fs';
import path from 'node:path';
import { sqlString, withDuckDB } from '../data/duckdb';
import { logFiles, mergeClosedHours, newWriterToken, parquetScan, segmentName } from './log-segments';
import {
  goneWriters,
  registerWriter,
  removeWriter,
  touchWriter,
  trimToWholeLines,
  walFiles,
  WriteAhead,
  type FsyncPolicy,
  type WalFile,
} from './log-wal';

/**
 * Every prediction served, for the monitor: what came in, what went out, which version and arm answered, how
 * long it took, what was unusual about it. A record is written ahead before its answer leaves (lib/serving/log-wal.ts:
 * one write per turn of the event loop for every request answered in it), so a process that dies loses nothing it
 * answered; a timer turns the write-ahead files into columnar segments (Parquet, one per model per flush) that
 * DuckDB aggregates over millions of rows in well under a second. Memory holds only the records of the current
 * turn; what waits to become a segment waits on the disk.
 *
 * Layout: <root>/<model>/date=<YYYY-MM-DD>/<flush time>-<writer>-<n>.parquet; every few minutes the segments of
 * closed hours are merged, one file per writer and hour (lib/serving/log-segments.ts), so a month of traffic is
 * hundreds of files, not millions.
 */
export interface PredictionRecord {
  id: string;
  model: string;
  version: number;
  /** refused: a row that broke the contract (no prediction; its problems are in `output` and `flags`) */
  arm: 'champion' | 'canary' | 'shadow' | 'refused';
  /** ms since the epoch */
  at: number;
  latencyMs: number;
  /** the row as received (JSON) */
  input: unknown;
  /** the task's output (JSON) */
  output: unknown;
  /** binary: probability; regression: the value; multiclass: the top class's probability */
  score: number;
  /** multiclass: the predicted class */
  predicted: string | null;
  flags: { field: string; code: string }[];
  /** the OpenTelemetry trace the request was part of, when tracing is on (lib/telemetry.ts) */
  traceId?: string;
}

export interface PredictionLogOptions {
  /** how often the write-ahead files become segments (ms) */
  flushEveryMs: number;
  /** days of segments kept (older date folders are deleted) */
  retentionDays: number;
  /** when write-ahead files reach the disk (log-wal.ts): what a machine crash can cost */
  fsync: FsyncPolicy;
  /** `interval`: how often (ms) */
  fsyncEveryMs: number;
}

export const DEFAULT_LOG_OPTIONS: PredictionLogOptions = {
  flushEveryMs: 1000,
  retentionDays: 30,
  fsync: 'interval',
  fsyncEveryMs: 1000,
};

/** The log could not write a record ahead: the prediction must not be answered (it would be lost). */
export class PredictionLogUnavailable extends Error {}

export interface PredictionLogStats {
  /** records written ahead, not yet in a segment */
  pending: number;
  /** records the log could not write ahead (their requests were refused, not answered) */
  dropped: number;
  written: number;
  segments: number;
  /** write-ahead files that could not become segments yet (they stay, and are tried again) */
  failedFlushes: number;
  /** records of processes that died, turned into segments by this one */
  recovered: number;
  /** segments merged into hourly files since start */
  mergedSegments: number;
  failedMerges: number;
}

const CHUNK_BYTES = 1 << 20;
const MAX_SPARE_CHUNKS = 32;

/** How often closed hours are looked for and merged. */
const MERGE_EVERY_MS = 5 * 60_000;

/**
 * The keys of a staged line as DuckDB reads them: a record is staged as it is, and the segment's columns (in order,
 * with their types) are made from it in SQL.
 */
const STAGED: Record<string, string> = {
  id: 'VARCHAR',
  model: 'VARCHAR',
  version: 'INTEGER',
  arm: 'VARCHAR',
  at: 'DOUBLE',
  latencyMs: 'DOUBLE',
  score: 'DOUBLE',
  predicted: 'VARCHAR',
  input: 'JSON',
  output: 'JSON',
  flags: 'JSON',
  // absent from the lines of a process without tracing (and of older ones): null in the segment
  traceId: 'VARCHAR',
};

/** A segment's columns from the staged keys: `at` becomes a timestamp (to the microsecond), `latencyMs` latency_ms. */
const SEGMENT_COLUMNS = `id, model, version, arm, make_timestamp(CAST(round("at" * 1000) AS BIGINT)) AS "at",
  "latencyMs" AS latency_ms, score, predicted, input, output, flags, "traceId" AS trace_id`;

/**
 * NDJSON lines of one model in off-heap buffers: a record becomes text as it is appended, so what waits for the
 * writer is bytes, not objects the garbage collector must trace, and the writer has no text to build. (Measured
 * against keeping the objects until the write: the log's cost per request did not change beyond the noise;
 * docs/benchmarks.md, runs 8 and 9.) The buffers come from the log's spare chunks, given back once written: a
 * fresh megabyte per chunk made V8 run a full collection about once a second under load (docs/benchmarks.md,
 * run 12).
 */
class Lines {
  /** every chunk taken, whole (to give back once written) */
  readonly whole: Buffer[] = [];
  private chunks: Buffer[] = [];
  private current: Buffer = Buffer.allocUnsafe(0);
  private used = 0;
  records = 0;

  constructor(private readonly chunk: (room: number) => Buffer) {}

  push(line: string): void {
    // at most 3 bytes per UTF-16 unit, plus the newline
    const room = line.length * 3 + 1;
    if (this.current.length - this.used < room) {
      if (this.used > 0) this.chunks.push(this.current.subarray(0, this.used));
      this.current = this.chunk(room);
      this.whole.push(this.current);
      this.used = 0;
    }
    this.used += this.current.write(line, this.used, 'utf8');
    this.current[this.used++] = 10;
    this.records++;
  }

  /** the bytes written so far, in order */
  take(): Buffer[] {
    return this.used > 0 ? [...this.chunks, this.current.subarray(0, this.used)] : this.chunks;
  }
}

/** A group of records written ahead together: their answers wait for it. */
interface Group {
  done: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class PredictionLog {
  /** this turn's records, per model, as NDJSON bytes */
  private staged = new Map<string, Lines>();
  private group: Group | null = null;
  private readonly stats: PredictionLogStats = {
    pending: 0,
    dropped: 0,
    written: 0,
    segments: 0,
    failedFlushes: 0,
    recovered: 0,
    mergedSegments: 0,
    failedMerges: 0,
  };
  /** this process's token in its files' names */
  readonly writer = newWriterToken();
  private readonly ahead: WriteAhead;
  /** closed write-ahead files that are not segments yet, with their record counts (-1: not known) */
  private closed: { file: WalFile; records: number }[] = [];
  /** records in each open file */
  private openRecords = new Map<string, number>();
  private lastMerge = -Infinity;
  private merging: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private sequence = 0;
  /** written chunks kept for reuse */
  private spare: Buffer[] = [];
  private readonly chunk = (room: number): Buffer =>
    room <= CHUNK_BYTES && this.spare.length ? this.spare.pop()! : Buffer.allocUnsafe(Math.max(CHUNK_BYTES, room));

  constructor(
    readonly root: string,
    private readonly options: PredictionLogOptions = DEFAULT_LOG_OPTIONS,
    /** the time segments are named and merged by (tests move it) */
    private readonly now: () => number = Date.now,
  ) {
    fs.mkdirSync(root, { recursive: true });
    registerWriter(root, this.writer);
    this.ahead = new WriteAhead(root, this.writer, () => this.sequence++);
  }

  /**
   * Write segments every `flushEveryMs` and, with fsync `interval`, sync every `fsyncEveryMs`. Call `recover()`
   * first: what processes that died wrote ahead becomes segments.
   */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushEveryMs);
    this.timer.unref();
    if (this.options.fsync === 'interval') {
      this.syncTimer ??= setInterval(() => {
        this.ahead.sync().catch((err: unknown) => {
          console.error(`[lumen] prediction log: could not sync to the disk: ${(err as Error).message}`);
        });
      }, this.options.fsyncEveryMs);
      this.syncTimer.unref();
    }
  }

  /**
   * Log records; the promise settles once they are written ahead (and, with fsync `always`, on the disk): an answer
   * must wait for it. It rejects with PredictionLogUnavailable when they could not be written (a full or read-only
   * disk): the records are not logged, and their predictions must not be answered.
   */
  append(records: PredictionRecord[]): Promise<void> {
    for (const r of records) {
      let lines = this.staged.get(r.model);
      if (!lines) this.staged.set(r.model, (lines = new Lines(this.chunk)));
      lines.push(this.line(r));
    }
    if (!this.group) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // the shadow's records are logged without anyone waiting for them
      done.catch(() => undefined);
      this.group = { done, resolve, reject };
      // after the microtasks already queued: every request of the micro-batch that just finished continues in one
      // of them, so the whole batch joins this group (one write), and no answer waits for another turn of the loop
      queueMicrotask(() => void this.commit());
    }
    return this.group.done;
  }

  current(): PredictionLogStats {
    let staged = 0;
    for (const lines of this.staged.values()) staged += lines.records;
    let open = 0;
    for (const n of this.openRecords.values()) open += n;
    const closed = this.closed.reduce((n, c) => n + Math.max(0, c.records), 0);
    return { ...this.stats, pending: staged + open + closed };
  }

  /** Write this turn's records ahead (the group commit); their answers go once it is done. */
  private async commit(): Promise<void> {
    const group = this.group;
    const staged = this.staged;
    this.group = null;
    this.staged = new Map();
    if (!group) return;
    try {
      for (const [model, lines] of staged) {
        try {
          this.ahead.write(model, lines.take());
          this.openRecords.set(model, (this.openRecords.get(model) ?? 0) + lines.records);
        } catch (err) {
          let records = 0;
          for (const l of staged.values()) records += l.records;
          this.stats.dropped += records;
          const e = err as NodeJS.ErrnoException;
          throw new PredictionLogUnavailable(
            `the prediction log cannot write to ${this.root} (${e.code ?? 'error'}: ${e.message})`,
          );
        } finally {
          this.recycle(lines);
        }
      }
      if (this.options.fsync === 'always') await this.ahead.sync();
      group.resolve();
    } catch (err) {
      console.error(`[lumen] prediction log: ${(err as Error).message}`);
      group.reject(
        err instanceof PredictionLogUnavailable ? err : new PredictionLogUnavailable((err as Error).message),
      );
    }
  }

  private recycle(lines: Lines): void {
    for (const b of lines.whole)
      if (b.length === CHUNK_BYTES && this.spare.length < MAX_SPARE_CHUNKS) this.spare.push(b);
  }

  /** Turn what is written ahead into segments now (one per model); concurrent calls share one write. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /**
   * Turn the write-ahead files of processes that are gone into segments (each once, whatever happened to the
   * process that died), and forget those processes. `start` does it at every merge round too.
   */
  async recover(): Promise<number> {
    let records = 0;
    for (const writer of goneWriters(this.root, this.writer)) {
      for (const file of walFiles(this.root, writer)) {
        try {
          records += await this.convert(file, true);
        } catch (err) {
          this.stats.failedFlushes++;
          console.error(`[lumen] prediction log: could not recover ${file.path}: ${(err as Error).message}`);
        }
      }
      if (walFiles(this.root, writer).length === 0) removeWriter(this.root, writer);
    }
    this.stats.recovered += records;
    if (records)
      console.log(`[lumen] prediction log: recovered ${records} records written ahead by processes that stopped`);
    return records;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.timer = null;
    this.syncTimer = null;
    await this.flush();
    if (this.current().pending) await this.flush();
    await this.merging;
    // a clean stop leaves nothing to recover: the token goes (unless a file could not be turned into a segment)
    if (walFiles(this.root, this.writer).length === 0) removeWriter(this.root, this.writer);
  }

  /**
   * A model's records as a DuckDB table expression over the files there now (for tests and benchmarks; the
   * monitor reads through `snapshotLog`, which a merge cannot disturb).
   */
  scanOf(model: string): string {
    const files = logFiles(this.root, model);
    return parquetScan(files.length ? files : path.join(this.root, model, '*', '*.parquet'));
  }

  /**
   * Merge the closed hours of every model's segments now, whenever the last merge was; after the one running, if
   * one is (merges in one process run one at a time).
   */
  merge(): Promise<void> {
    const next = (this.merging ?? Promise.resolve()).then(() => this.mergeOnce());
    const tracked = next.finally(() => {
      if (this.merging === tracked) this.merging = null;
    });
    this.merging = tracked;
    return tracked;
  }

  /** Never throws: a failure is counted and said, and the segments stay to be read as they are. */
  private async mergeOnce(): Promise<void> {
    this.lastMerge = this.now();
    let models: fs.Dirent[];
    try {
      models = fs.readdirSync(this.root, { withFileTypes: true });
    } catch (err) {
      this.stats.failedMerges++;
      console.error(`[lumen] prediction log: could not list ${this.root} to merge: ${(err as Error).message}`);
      return;
    }
    for (const model of models) {
      if (!model.isDirectory() || model.name.startsWith('.')) continue;
      try {
        this.stats.mergedSegments += (
          await mergeClosedHours(this.root, model.name, this.writer, this.lastMerge)
        ).segments;
      } catch (err) {
        // the segments stay as they are and are read as they are; the next round tries again
        this.stats.failedMerges++;
        console.error(
          `[lumen] prediction log: could not merge the closed hours of ${model.name}: ${(err as Error).message}`,
        );
      }
    }
  }

  /**
   * One record as one JSON text, stringified as it is: no second object is made on the request path, and a score
   * that is not a number (a refused row's NaN) becomes null, as JSON.stringify does with it. (Putting the text
   * together around the stringified input and output is faster alone, 0.69 against 1.26 µs, but slower in the
   * server: the joined string must be flattened to be written; docs/benchmarks.md, run 13.)
   */
  private line(r: PredictionRecord): string {
    return JSON.stringify(r);
  }

  private async write(): Promise<void> {
    if (this.group) await this.commit();
    const sync = this.options.fsync !== 'never';
    for (const file of await this.ahead.rotate(sync)) {
      this.closed.push({ file, records: this.openRecords.get(file.model) ?? -1 });
      this.openRecords.delete(file.model);
    }
    const waiting = this.closed;
    this.closed = [];
    for (const c of waiting) {
      try {
        const records = await this.convert(c.file, false);
        this.stats.written += records;
        this.stats.segments++;
      } catch (err) {
        // the file stays, and is tried again at the next flush: nothing written ahead is dropped
        this.stats.failedFlushes++;
        this.closed.push(c);
        console.error(
          `[lumen] prediction log: could not turn ${c.file.path} into a segment (kept, tried again): ${(err as Error).message}`,
        );
      }
    }
    touchWriter(this.root, this.writer);
    this.expire();
    // beside the flushes, not in their way: an hour of heavy traffic takes a while to merge
    if (!this.merging && this.now() - this.lastMerge >= MERGE_EVERY_MS) {
      void this.merge();
      void this.recover().catch((err: unknown) => {
        console.error(`[lumen] prediction log: recovery failed: ${(err as Error).message}`);
      });
    }
  }

  /**
   * One write-ahead file into one segment of the same writer and number, named by the time now; the file goes once
   * the segment is in place (on the disk first, unless fsync is `never`). A file whose segment already exists (the
   * process died between the two) just goes. Returns the records in the segment.
   */
  private async convert(file: WalFile, recovering: boolean): Promise<number> {
    const modelDir = path.join(this.root, file.model);
    if (segmentExists(modelDir, file.writer, file.seq)) {
      fs.rmSync(file.path, { force: true });
      return 0;
    }
    if (recovering) trimToWholeLines(file.path);
    if (fs.statSync(file.path).size === 0) {
      fs.rmSync(file.path, { force: true });
      return 0;
    }
    const now = this.now();
    const dir = path.join(modelDir, `date=${new Date(now).toISOString().slice(0, 10)}`);
    const name = segmentName(now, file.writer, file.seq);
    const temp = path.join(dir, `.${name}`);
    try {
      fs.mkdirSync(dir, { recursive: true });
      // DuckDB turns the lines into Parquet on its own threads, off the event loop
      const columns = `{${Object.entries(STAGED)
        .map(([k, v]) => `${sqlString(k)}: ${sqlString(v)}`)
        .join(', ')}}`;
      const rows = await withDuckDB(async (con) => {
        const result = await con.run(
          `COPY (SELECT ${SEGMENT_COLUMNS} FROM read_json(${sqlString(file.path)}, format = 'newline_delimited', columns = ${columns}))
             TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION snappy)`,
        );
        return Number(result.rowsChanged);
      });
      if (this.options.fsync !== 'never') await syncFile(temp);
      fs.renameSync(temp, path.join(dir, name));
      if (this.options.fsync !== 'never') await syncFile(dir);
      fs.rmSync(file.path, { force: true });
      return rows;
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }

  private expire(): void {
    const cutoff = new Date(this.now() - this.options.retentionDays * 86_400_000).toISOString().slice(0, 10);
    for (const model of fs.readdirSync(this.root, { withFileTypes: true })) {
      if (!model.isDirectory() || model.name.startsWith('.')) continue;
      for (const day of fs.readdirSync(path.join(this.root, model.name))) {
        const date = /^date=(\d{4}-\d{2}-\d{2})$/.exec(day)?.[1];
        if (date && date < cutoff) fs.rmSync(path.join(this.root, model.name, day), { recursive: true, force: true });
      }
    }
  }
}

/** Whether a segment of this writer and number is in any of the model's day folders. */
function segmentExists(modelDir: string, writer: string, seq: number): boolean {
  if (!fs.existsSync(modelDir)) return false;
  const suffix = `-${writer}-${seq}.parquet`;
  for (const day of fs.readdirSync(modelDir, { withFileTypes: true })) {
    if (!day.isDirectory() || day.name.startsWith('.')) continue;
    if (fs.readdirSync(path.join(modelDir, day.name)).some((n) => n.endsWith(suffix) && !n.startsWith('.'))) {
      return true;
    }
  }
  return false;
}

/** Flush a file's (or a folder's) contents to the disk, in the thread pool (not on the event loop). */
async function syncFile(at: string): Promise<void> {
  const handle = await fs.promises.open(at, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
