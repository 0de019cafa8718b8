import fs from 'node:fs';
import path from 'node:path';
import { sqlString, withDuckDB } from '../data/duckdb';
import { logFiles, mergeClosedHours, newWriterToken, parquetScan, segmentName } from './log-segments';

/**
 * Every prediction served, for the monitor: what came in, what went out, which version and arm answered, how
 * long it took, what was unusual about it. Appending is O(1) on the request path; a timer writes the records in
 * columnar segments (Parquet, one per model per flush) that DuckDB aggregates over millions of rows in well under a
 * second. Memory is bounded: when the writer falls behind by `maxPending` records, new ones are dropped and
 * counted, never queued without end.
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
}

export interface PredictionLogOptions {
  /** records held in memory at most; beyond, new records are dropped and counted */
  maxPending: number;
  /** how often pending records are written (ms) */
  flushEveryMs: number;
  /** days of segments kept (older date folders are deleted) */
  retentionDays: number;
}

export const DEFAULT_LOG_OPTIONS: PredictionLogOptions = { maxPending: 200_000, flushEveryMs: 1000, retentionDays: 30 };

export interface PredictionLogStats {
  pending: number;
  dropped: number;
  written: number;
  segments: number;
  failedFlushes: number;
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
};

/** A segment's columns from the staged keys: `at` becomes a timestamp (to the microsecond), `latencyMs` latency_ms. */
const SEGMENT_COLUMNS = `id, model, version, arm, make_timestamp(CAST(round("at" * 1000) AS BIGINT)) AS "at",
  "latencyMs" AS latency_ms, score, predicted, input, output, flags`;

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

export class PredictionLog {
  private pending = new Map<string, Lines>();
  private pendingRecords = 0;
  private readonly stats: PredictionLogStats = {
    pending: 0,
    dropped: 0,
    written: 0,
    segments: 0,
    failedFlushes: 0,
    mergedSegments: 0,
    failedMerges: 0,
  };
  /** this process's token in its segments' names */
  readonly writer = newWriterToken();
  private lastMerge = -Infinity;
  private merging: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
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
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushEveryMs);
    this.timer.unref();
  }

  /** Queue records for writing; returns how many were dropped because the log is full. */
  append(records: PredictionRecord[]): number {
    const room = Math.max(0, this.options.maxPending - this.pendingRecords);
    const dropped = Math.max(0, records.length - room);
    for (let i = 0; i < records.length - dropped; i++) {
      const r = records[i];
      let lines = this.pending.get(r.model);
      if (!lines) this.pending.set(r.model, (lines = new Lines(this.chunk)));
      lines.push(this.line(r));
    }
    this.pendingRecords += records.length - dropped;
    this.stats.dropped += dropped;
    return dropped;
  }

  current(): PredictionLogStats {
    return { ...this.stats, pending: this.pendingRecords };
  }

  /** Write what is pending now (one segment per model); concurrent calls share one write. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
    if (this.pendingRecords) await this.flush();
    await this.merging;
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
   * that is not a number (a refused row's NaN) becomes null, as JSON.stringify does with it.
   */
  private line(r: PredictionRecord): string {
    return JSON.stringify(r);
  }

  private async write(): Promise<void> {
    if (this.pendingRecords === 0) return;
    const byModel = this.pending;
    this.pending = new Map();
    this.pendingRecords = 0;
    const now = this.now();
    const day = new Date(now).toISOString().slice(0, 10);
    for (const [model, lines] of byModel) {
      const dir = path.join(this.root, model, `date=${day}`);
      const name = segmentName(now, this.writer, this.sequence++);
      const staged = path.join(dir, `.${name}.ndjson`);
      const temp = path.join(dir, `.${name}`);
      try {
        fs.mkdirSync(dir, { recursive: true });
        await fs.promises.writeFile(staged, lines.take());
        // DuckDB turns the staged lines into Parquet on its own threads, off the event loop
        const columns = `{${Object.entries(STAGED)
          .map(([k, v]) => `${sqlString(k)}: ${sqlString(v)}`)
          .join(', ')}}`;
        await withDuckDB((con) =>
          con.run(
            `COPY (SELECT ${SEGMENT_COLUMNS} FROM read_json(${sqlString(staged)}, format = 'newline_delimited', columns = ${columns}))
               TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION snappy)`,
          ),
        );
        fs.renameSync(temp, path.join(dir, name));
        this.stats.written += lines.records;
        this.stats.segments++;
      } catch (err) {
        // the records are lost to the log, and said so; serving goes on
        this.stats.failedFlushes++;
        this.stats.dropped += lines.records;
        console.error(
          `[lumen] prediction log: could not write ${lines.records} records of ${model}: ${(err as Error).message}`,
        );
      } finally {
        fs.rmSync(staged, { force: true });
        fs.rmSync(temp, { force: true });
        for (const b of lines.whole)
          if (b.length === CHUNK_BYTES && this.spare.length < MAX_SPARE_CHUNKS) this.spare.push(b);
      }
    }
    this.expire();
    // beside the flushes, not in their way: an hour of heavy traffic takes a while to merge
    if (!this.merging && this.now() - this.lastMerge >= MERGE_EVERY_MS) void this.merge();
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
