import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withDuckDB } from '../../lib/data/duckdb';
import { ORPHAN_GRACE_MS, logFiles, mergeClosedHours, snapshotLog } from '../../lib/serving/log-segments';
import {
  DEFAULT_LOG_OPTIONS,
  PredictionLog,
  PredictionLogUnavailable,
  type PredictionRecord,
} from '../../lib/serving/prediction-log';
import { repoRoot } from '../support/env';

const HOUR = 3_600_000;
/** 10:00 UTC on a fixed day: segments are named by the log's clock, which the tests move */
const T0 = Date.parse('2026-11-20T10:00:00Z');

let sequence = 0;
function record(at: number): PredictionRecord {
  const n = sequence++;
  return {
    id: `01J${String(n).padStart(23, '0')}`,
    model: 'm',
    version: 1,
    arm: 'champion',
    at,
    latencyMs: 1,
    input: { n },
    output: { probability: 0.5 },
    score: 0.5,
    predicted: null,
    flags: [],
  };
}

async function countOf(scan: string): Promise<{ rows: number; ids: number }> {
  return withDuckDB(async (con) => {
    const [rows, ids] = (await con.runAndReadAll(`SELECT count(*), count(DISTINCT id) FROM ${scan}`)).getRowsJS()[0];
    return { rows: Number(rows), ids: Number(ids) };
  });
}

function dayDir(root: string): string {
  return path.join(root, 'm', 'date=2026-11-20');
}

function visible(root: string): string[] {
  return fs.readdirSync(dayDir(root)).filter((n) => !n.startsWith('.'));
}

describe('prediction log: a closed hour of segments becomes one file', () => {
  let root: string;
  let clock: number;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-log-'));
    clock = T0 + 10 * 60_000;
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** `n` flushes of 3 records, a second apart */
  async function flushes(log: PredictionLog, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await log.append([record(clock), record(clock), record(clock)]);
      await log.flush();
      clock += 1000;
    }
  }

  it('merges a writer’s hour once it has ended, and every record is read once, before and after', async () => {
    const log = new PredictionLog(root, undefined, () => clock);
    await flushes(log, 6);
    assert.equal(visible(root).length, 6, 'one segment per flush');
    await log.merge();
    assert.equal(visible(root).length, 6, 'the hour is still open: nothing merged');

    clock = T0 + HOUR + 5_000;
    await flushes(log, 1);
    await log.merge();
    const names = visible(root);
    assert.equal(names.length, 2, `the hour merged, the new hour's segment apart: ${names.join(', ')}`);
    assert.ok(names.some((n) => n === `${T0}-${log.writer}-hour.parquet`));
    assert.deepEqual(await countOf(log.scanOf('m')), { rows: 21, ids: 21 });
    assert.equal(log.current().mergedSegments, 6);
    assert.equal(log.current().failedMerges, 0);

    // more segments named in a merged hour (a clock set back) are merged in with what was merged before
    const late = clock;
    clock = T0 + 50 * 60_000;
    await flushes(log, 2);
    clock = late;
    await log.merge();
    assert.equal(visible(root).length, 2);
    assert.deepEqual(await countOf(log.scanOf('m')), { rows: 27, ids: 27 });
    await log.close();
  });

  it('a reader that finds a merged hour beside its segments reads the merged file only', async () => {
    const log = new PredictionLog(root, undefined, () => clock);
    await flushes(log, 4);
    const segments = visible(root).map((n) => path.join(dayDir(root), n));
    const copies = segments.map((file) => fs.readFileSync(file));
    clock = T0 + HOUR + 1;
    await log.merge();
    // the moment between a merge's rename and its deletes: both are there
    segments.forEach((file, i) => fs.writeFileSync(file, copies[i]));
    assert.equal(visible(root).length, 5);
    assert.deepEqual(
      logFiles(root, 'm').map((f) => path.basename(f)),
      [`${T0}-${log.writer}-hour.parquet`],
    );
    const snapshot = snapshotLog(root, 'm')!;
    try {
      assert.deepEqual(await countOf(snapshot.scan), { rows: 12, ids: 12 });
    } finally {
      snapshot.close();
    }
    await log.close();
  });

  it('a snapshot keeps reading what it saw while a merge deletes the segments under it', async () => {
    const log = new PredictionLog(root, undefined, () => clock);
    await flushes(log, 5);
    const snapshot = snapshotLog(root, 'm')!;
    try {
      assert.equal(snapshot.files, 5);
      clock = T0 + HOUR + 1;
      await log.merge();
      assert.equal(visible(root).length, 1, 'the segments are gone from the log');
      assert.deepEqual(await countOf(snapshot.scan), { rows: 15, ids: 15 }, 'the snapshot still reads them once');
    } finally {
      snapshot.close();
    }
    assert.deepEqual(fs.readdirSync(path.join(root, '.readers')), [], 'closed: its links are gone');
    assert.equal(snapshotLog(path.join(root, 'empty'), 'm'), null, 'nothing logged: no snapshot');
    await log.close();
  });

  it('another writer’s segments wait out the grace; a held merge lock is respected, a stale one removed', async () => {
    const other = new PredictionLog(root, undefined, () => clock);
    await flushes(other, 3);
    await other.close();
    const log = new PredictionLog(root, undefined, () => clock);

    clock = T0 + HOUR + 1;
    await log.merge();
    assert.equal(visible(root).length, 3, 'another writer, just ended hour: left to it');

    clock = T0 + HOUR + ORPHAN_GRACE_MS + 1;
    const lock = path.join(dayDir(root), `.merge-${other.writer}-${T0}.lock`);
    fs.writeFileSync(lock, '');
    await log.merge();
    assert.equal(visible(root).length, 3, 'a merge in progress elsewhere: left alone');
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(lock, old, old);
    await log.merge();
    assert.ok(!fs.existsSync(lock), 'the stale lock is removed');
    await log.merge();
    assert.deepEqual(visible(root), [`${T0}-${other.writer}-hour.parquet`], 'the orphaned hour is merged');
    assert.deepEqual(await countOf(log.scanOf('m')), { rows: 9, ids: 9 });
    await log.close();
  });

  it('a merge that cannot read a segment leaves every file as it was, and is counted', async () => {
    const log = new PredictionLog(root, undefined, () => clock);
    await flushes(log, 3);
    const names = visible(root);
    fs.writeFileSync(path.join(dayDir(root), names[1]), 'not parquet');
    clock = T0 + HOUR + 1;
    const errors: string[] = [];
    const original = console.error;
    console.error = (message: string) => errors.push(message);
    try {
      await log.merge();
    } finally {
      console.error = original;
    }
    assert.deepEqual(visible(root), names, 'nothing merged, nothing deleted');
    assert.equal(log.current().failedMerges, 1);
    assert.match(errors.join('\n'), /could not merge the closed hours of m/);
    await assert.rejects(mergeClosedHours(root, 'm', log.writer, clock), /parquet|magic|file/i);
    await log.close();
  });
});

describe('prediction log: what a segment holds', () => {
  let root: string;
  beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-log-'))));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('a reader since a time opens only the days that can hold records made since, and misses none of them', async () => {
    let clock = Date.parse('2026-11-01T12:00:00Z');
    const log = new PredictionLog(
      root,
      { ...DEFAULT_LOG_OPTIONS, flushEveryMs: 60_000, retentionDays: 3650 },
      () => clock,
    );
    // ten days, two flushes of three records a day: at noon, and a second before midnight (written at once)
    for (let d = 0; d < 10; d++) {
      for (const at of [clock, clock + 12 * HOUR - 1000]) {
        clock = at;
        await log.append([record(at), record(at), record(at)]);
        await log.flush();
      }
      clock += 12 * HOUR + 1000;
    }
    const counted = async (sinceMs?: number): Promise<{ files: number; since: number }> => {
      const snapshot = snapshotLog(root, 'm', sinceMs);
      assert.ok(snapshot);
      try {
        const since = await withDuckDB(async (con) =>
          Number(
            (
              await con.runAndReadAll(`SELECT count(*) FROM ${snapshot.scan} WHERE epoch_ms("at") >= ${sinceMs ?? 0}`)
            ).getRowsJS()[0][0],
          ),
        );
        return { files: snapshot.files, since };
      } finally {
        snapshot.close();
      }
    };
    assert.deepEqual(await counted(), { files: 20, since: 60 });
    // since noon of the eighth day: that day's noon and midnight records and the two days after
    const since = Date.parse('2026-11-08T12:00:00Z');
    const pruned = await counted(since);
    assert.equal(pruned.files, 6, 'the eighth, ninth and tenth days only');
    assert.equal(pruned.since, 18);
    assert.equal(
      await withDuckDB(async (con) => {
        const s = snapshotLog(root, 'm')!;
        try {
          return Number(
            (
              await con.runAndReadAll(`SELECT count(*) FROM ${s.scan} WHERE epoch_ms("at") >= ${since}`)
            ).getRowsJS()[0][0],
          );
        } finally {
          s.close();
        }
      }),
      pruned.since,
      'the same records as reading every day',
    );
    // a time just after midnight: the hour of slack keeps the day before
    assert.equal((await counted(Date.parse('2026-11-08T00:30:00Z'))).files, 8);
    await log.close();
  });

  it('each flush holds its own records whole, in columns as recorded, though the buffers are reused', async () => {
    const at = Date.parse('2026-11-20T10:15:30.123Z');
    const log = new PredictionLog(
      root,
      { ...DEFAULT_LOG_OPTIONS, flushEveryMs: 60_000, retentionDays: 3650 },
      () => at,
    );
    // several megabytes a flush, so that the second and third flushes write into the first one's buffers; the
    // third is shorter, so stale bytes past its end would show as extra or broken lines
    const sizes = [12_000, 12_000, 3_000];
    const padding = 'é'.repeat(200); // more bytes than characters: the room a line needs is counted in bytes
    let n = 0;
    for (const size of sizes) {
      await log.append(
        Array.from({ length: size }, () => {
          const i = n++;
          return {
            ...record(at + i),
            id: `01J${String(i).padStart(23, '0')}`,
            version: 1 + (i % 3),
            arm: i % 2 ? ('canary' as const) : ('champion' as const),
            latencyMs: i / 8,
            input: { i, text: `${i}:${padding}` },
            output: { probability: (i % 100) / 100 },
            score: i % 7 === 0 ? NaN : (i % 100) / 100,
            flags: i % 5 === 0 ? [{ field: 'text', code: 'unknown-category' }] : [],
          };
        }),
      );
      await log.flush();
    }
    assert.equal(log.current().segments, 3);
    assert.equal(log.current().written, n);
    const rows = await withDuckDB(async (con) =>
      (
        await con.runAndReadAll(
          `SELECT id, version, arm, epoch_ms("at") AS at_ms, latency_ms, score, input->>'text' AS text,
             (input->>'i')::INTEGER AS i, json_array_length(flags) AS flags
           FROM ${log.scanOf('m')} ORDER BY id`,
        )
      ).getRowObjectsJS(),
    );
    assert.equal(rows.length, n, 'every record once, none from stale bytes');
    for (const [k, row] of rows.entries()) {
      assert.equal(row.i, k, `row ${k}: its own input`);
      assert.equal(row.text, `${k}:${padding}`, `row ${k}: the input's text, whole`);
      assert.equal(row.version, 1 + (k % 3));
      assert.equal(row.arm, k % 2 ? 'canary' : 'champion');
      assert.equal(Number(row.at_ms), at + k, `row ${k}: its time, to the millisecond`);
      assert.equal(row.latency_ms, k / 8);
      assert.equal(row.score, k % 7 === 0 ? null : (k % 100) / 100, `row ${k}: a score that is not a number is null`);
      assert.equal(Number(row.flags), k % 5 === 0 ? 1 : 0);
    }
    await log.close();
  });
});

describe('prediction log: what was answered survives the process that answered it', () => {
  let root: string;
  beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-log-'))));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  async function ids(scan: string): Promise<string[]> {
    return withDuckDB(async (con) =>
      (await con.runAndReadAll(`SELECT id FROM ${scan}`)).getRowsJS().map((r) => r[0] as string),
    );
  }

  for (const fsync of ['interval', 'always'] as const) {
    it(`SIGKILL mid-traffic (fsync ${fsync}): every record acknowledged is in the log exactly once after recovery`, async function () {
      this.timeout(120_000);
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/log-writer.ts', root, fsync], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const deadline = Date.now() + 60_000;
      // long enough for segments to be written while it runs, and files written ahead to wait at the kill
      while (out.split('\n').length < 20_000 || !fs.readdirSync(root).includes('m')) {
        assert.ok(Date.now() < deadline, `the writer did not get going: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const acknowledged = out.split('\n').filter((line) => /^\d+-\d+-\d$/.test(line));
      assert.ok(
        fs.readdirSync(path.join(root, 'm')).some((n) => n.startsWith('.wal-')),
        'records written ahead were waiting for a segment when it died',
      );

      const log = new PredictionLog(root);
      const recovered = await log.recover();
      assert.ok(recovered > 0);
      const logged = await ids(log.scanOf('m'));
      const counts = new Map<string, number>();
      for (const id of logged) counts.set(id, (counts.get(id) ?? 0) + 1);
      const missing = acknowledged.filter((id) => !counts.has(id));
      assert.deepEqual(
        missing.slice(0, 5),
        [],
        `${missing.length} of ${acknowledged.length} acknowledged records lost`,
      );
      assert.deepEqual([...counts].filter(([, n]) => n > 1).slice(0, 5), [], 'none twice');
      assert.deepEqual(
        fs.readdirSync(path.join(root, 'm')).filter((n) => n.startsWith('.wal-')),
        [],
        'no write-ahead file left',
      );
      assert.deepEqual(
        fs.readdirSync(path.join(root, '.writers')),
        [`${log.writer}.json`],
        'the dead writer is forgotten',
      );
      // a second look finds nothing more to do
      assert.equal(await log.recover(), 0);
      await log.close();
    });
  }

  it('a file written ahead whose segment is already there (died between the two) is not turned twice; a torn last line is cut', async () => {
    const dead = new PredictionLog(root);
    await dead.append([record(T0), record(T0)]);
    await dead.flush();
    const [segment] = logFiles(root, 'm');
    const seq = Number(/-(\d+)\.parquet$/.exec(segment)![1]);
    // as if it died after the segment's rename and before the file's removal; and a second, torn file
    fs.writeFileSync(path.join(root, 'm', `.wal-${dead.writer}-${seq}.ndjson`), 'whatever was there\n');
    const torn = `${JSON.stringify(record(T0))}\n${JSON.stringify(record(T0)).slice(0, 40)}`;
    fs.writeFileSync(path.join(root, 'm', `.wal-${dead.writer}-${seq + 1}.ndjson`), torn);
    const stale = new Date(Date.now() - 11 * 60_000);
    fs.utimesSync(path.join(root, '.writers', `${dead.writer}.json`), stale, stale);

    const log = new PredictionLog(root);
    assert.equal(await log.recover(), 1, 'the torn file: its whole line');
    assert.equal((await ids(log.scanOf('m'))).length, 3, 'two from the first segment, one whole line recovered');
    assert.deepEqual(
      fs.readdirSync(path.join(root, 'm')).filter((n) => n.startsWith('.wal-')),
      [],
    );
    await log.close();
  });

  it('a disk that refuses the write: the records are refused (not answered), counted, and nothing half-written stays', async () => {
    const log = new PredictionLog(root);
    // the next file written ahead is the full device: the kernel answers ENOSPC
    fs.mkdirSync(path.join(root, 'm'), { recursive: true });
    fs.symlinkSync('/dev/full', path.join(root, 'm', `.wal-${log.writer}-0.ndjson`));
    const original = console.error;
    console.error = () => undefined;
    try {
      await assert.rejects(
        log.append([record(T0), record(T0)]),
        (e: unknown) => e instanceof PredictionLogUnavailable && /cannot write to .*ENOSPC/.test(e.message),
      );
    } finally {
      console.error = original;
    }
    assert.equal(log.current().dropped, 2);
    fs.rmSync(path.join(root, 'm', `.wal-${log.writer}-0.ndjson`));
    // space again: the next records go to a new file
    await log.append([record(T0)]);
    await log.close();
    assert.equal(log.current().written, 1);
  });
});
