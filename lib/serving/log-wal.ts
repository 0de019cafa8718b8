import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processRunning, processStart } from '../processes';

/**
 * The prediction log's write-ahead files: what a serving process answered is appended here before the answer leaves
 * (group commit: every request answered in one turn of the event loop shares one write), and becomes a Parquet
 * segment about a second later (lib/serving/prediction-log.ts). A process that dies leaves its write-ahead files
 * behind, and the next process to look — its own restart, or any serving process on the host — turns them into
 * segments. So an answered prediction survives the process that answered it.
 *
 * What survives a machine crash depends on when the files are flushed to the disk (`fsync`):
 *   always    every group is on the disk before its answers leave (a few ms each, on most disks)
 *   interval  every `fsyncEveryMs` (default 1 s): a machine crash loses at most that much
 *   never     the operating system decides (typically within 30 s on Linux)
 * Like Redis' appendfsync (always / everysec / no) or PostgreSQL's synchronous_commit.
 *
 * Names: <root>/<model>/.wal-<writer>-<seq>.ndjson (one per model per second of traffic), and the segment it becomes
 * carries the same writer and sequence number, so a file already turned into a segment is recognised and not turned
 * twice. <root>/.writers/<writer>.json says which process writes under a token, so others can tell it is gone.
 */

export type FsyncPolicy = 'always' | 'interval' | 'never';

const WAL = /^\.wal-([0-9a-z]+)-(\d+)\.ndjson$/;

export function walName(writer: string, seq: number): string {
  return `.wal-${writer}-${seq}.ndjson`;
}

/** A write-ahead file: whose, which, where. */
export interface WalFile {
  model: string;
  writer: string;
  seq: number;
  path: string;
}

interface OpenFile extends WalFile {
  fd: number;
  /** bytes in the file: a write that fails is cut back to here */
  size: number;
  /** written since the last fsync */
  dirty: boolean;
}

/** One process's open write-ahead files, one per model. */
export class WriteAhead {
  private readonly files = new Map<string, OpenFile>();
  /** files closed after a failed write: converted with the others at the next rotation */
  private retired: WalFile[] = [];
  /** syncs in flight: a file is closed only once none is (a closed descriptor cannot be synced) */
  private readonly syncing = new Set<Promise<void>>();

  constructor(
    private readonly root: string,
    private readonly writer: string,
    private readonly nextSeq: () => number,
  ) {}

  /** Append bytes of one model's records to its open file (opened on the first write after a rotation). */
  write(model: string, buffers: Buffer[]): void {
    let file = this.files.get(model);
    if (!file) {
      const seq = this.nextSeq();
      const dir = path.join(this.root, model);
      fs.mkdirSync(dir, { recursive: true });
      const at = path.join(dir, walName(this.writer, seq));
      file = { model, writer: this.writer, seq, path: at, fd: fs.openSync(at, 'a'), size: 0, dirty: false };
      this.files.set(model, file);
    }
    let buffer = buffers;
    let added = 0;
    try {
      // writev may write less than asked (a full disk takes what fits): the rest follows, or the error says why
      for (;;) {
        const total = buffer.reduce((n, b) => n + b.length, 0);
        if (total === 0) break;
        let written = fs.writevSync(file.fd, buffer);
        added += written;
        if (written === total) break;
        const rest: Buffer[] = [];
        for (const b of buffer) {
          if (written >= b.length) written -= b.length;
          else {
            rest.push(b.subarray(written));
            written = 0;
          }
        }
        buffer = rest;
      }
    } catch (err) {
      // none of this group's records is answered: none may be left in the file, half or whole. The file is closed
      // (the next write opens another); if it cannot be cut back, its conversion cuts off a torn end
      try {
        fs.ftruncateSync(file.fd, file.size);
      } catch {
        // as said
      }
      try {
        fs.closeSync(file.fd);
      } catch {
        // already unusable
      }
      this.files.delete(model);
      this.retired.push({ model: file.model, writer: file.writer, seq: file.seq, path: file.path });
      throw err;
    }
    file.size += added;
    file.dirty = true;
  }

  /** Flush what was written since the last sync to the disk. */
  async sync(): Promise<void> {
    const dirty = [...this.files.values()].filter((f) => f.dirty);
    for (const f of dirty) f.dirty = false;
    const done = Promise.all(
      dirty.map((f) => new Promise<void>((resolve, reject) => fs.fdatasync(f.fd, (e) => (e ? reject(e) : resolve())))),
    ).then(() => undefined);
    this.syncing.add(done);
    try {
      await done;
    } finally {
      this.syncing.delete(done);
    }
  }

  /** Close every open file, synced to the disk: they are ready to become segments. */
  async rotate(sync: boolean): Promise<WalFile[]> {
    while (this.syncing.size) await Promise.allSettled([...this.syncing]);
    // taken out first: what is written from now on goes to new files
    const files = [...this.files.values()];
    this.files.clear();
    const closed: WalFile[] = this.retired;
    this.retired = [];
    for (const f of files) {
      // in the thread pool: the event loop answers requests meanwhile
      if (sync && f.dirty) await new Promise<void>((res, rej) => fs.fdatasync(f.fd, (e) => (e ? rej(e) : res())));
      fs.closeSync(f.fd);
      closed.push({ model: f.model, writer: f.writer, seq: f.seq, path: f.path });
    }
    return closed;
  }
}

/** The write-ahead files under the log's root, of one writer or of all. */
export function walFiles(root: string, writer?: string): WalFile[] {
  const out: WalFile[] = [];
  if (!fs.existsSync(root)) return out;
  for (const model of fs.readdirSync(root, { withFileTypes: true })) {
    if (!model.isDirectory() || model.name.startsWith('.')) continue;
    for (const name of fs.readdirSync(path.join(root, model.name))) {
      const m = WAL.exec(name);
      if (m && (writer === undefined || m[1] === writer)) {
        out.push({ model: model.name, writer: m[1], seq: Number(m[2]), path: path.join(root, model.name, name) });
      }
    }
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/**
 * Cut a write-ahead file back to its last whole line: a machine that stopped mid-write can leave half a record at
 * the end, which was never acknowledged whole. Returns the bytes removed.
 */
export function trimToWholeLines(file: string): number {
  const size = fs.statSync(file).size;
  if (size === 0) return 0;
  const fd = fs.openSync(file, 'r+');
  try {
    const tail = Buffer.alloc(Math.min(size, 1 << 20));
    for (let end = size; end > 0;) {
      const start = Math.max(0, end - tail.length);
      fs.readSync(fd, tail, 0, end - start, start);
      const at = tail.subarray(0, end - start).lastIndexOf(10);
      if (at >= 0) {
        const keep = start + at + 1;
        if (keep < size) fs.ftruncateSync(fd, keep);
        return size - keep;
      }
      end = start;
    }
    fs.ftruncateSync(fd, 0);
    return size;
  } finally {
    fs.closeSync(fd);
  }
}

/** A process writing under a token: where it runs, which process it is, and a heartbeat (the file's mtime). */
interface WriterRecord {
  host: string;
  pid: number;
  /** the process's start time, so a pid used again by another process is not taken for it */
  started: string | null;
}

/** A writer not heard from for this long is gone, wherever it ran. */
export const WRITER_STALE_MS = 10 * 60_000;

function writersDir(root: string): string {
  return path.join(root, '.writers');
}

export function registerWriter(root: string, writer: string): void {
  fs.mkdirSync(writersDir(root), { recursive: true });
  const record: WriterRecord = { host: os.hostname(), pid: process.pid, started: processStart(process.pid) };
  fs.writeFileSync(path.join(writersDir(root), `${writer}.json`), JSON.stringify(record));
}

/** The writer is alive: its heartbeat. */
export function touchWriter(root: string, writer: string): void {
  const file = path.join(writersDir(root), `${writer}.json`);
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    registerWriter(root, writer); // removed by someone: said again
  }
}

export function removeWriter(root: string, writer: string): void {
  fs.rmSync(path.join(writersDir(root), `${writer}.json`), { force: true });
}

/**
 * Writers whose write-ahead files are for the taking: a process on this host that no longer runs (its pid gone, or
 * taken by a process that started at another time), any writer not heard from for WRITER_STALE_MS, and tokens
 * whose files lie about with no writer record (and are as old as that).
 */
export function goneWriters(root: string, self: string, now = Date.now()): string[] {
  const gone = new Set<string>();
  const known = new Set<string>();
  const dir = writersDir(root);
  if (fs.existsSync(dir)) {
    for (const name of fs.readdirSync(dir)) {
      if (!name.endsWith('.json')) continue;
      const writer = name.slice(0, -5);
      known.add(writer);
      if (writer === self) continue;
      const file = path.join(dir, name);
      let record: WriterRecord | null = null;
      let mtime = 0;
      try {
        record = JSON.parse(fs.readFileSync(file, 'utf8')) as WriterRecord;
        mtime = fs.statSync(file).mtimeMs;
      } catch {
        // half-written by a process that died creating it
      }
      if (!record || now - mtime > WRITER_STALE_MS) gone.add(writer);
      else if (record.host === os.hostname() && !processRunning(record.pid, record.started)) gone.add(writer);
    }
  }
  for (const f of walFiles(root)) {
    if (f.writer === self || known.has(f.writer)) continue;
    try {
      if (now - fs.statSync(f.path).mtimeMs > WRITER_STALE_MS) gone.add(f.writer);
    } catch {
      // taken by another process meanwhile
    }
  }
  return [...gone];
}
