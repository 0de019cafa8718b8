import fs from 'node:fs';
import path from 'node:path';
import type { Message } from '@platformatic/kafka';
import type { ArtifactStore } from '../artifacts';
import { uriToPath } from '../artifacts';
import { sqlIdent, sqlString, withDuckDB } from '../data/duckdb';
import { sourceFingerprint, storeAccess, type SourceRef } from '../data/source';
import { SourceError } from '../errors';
import { stagedCopy } from '../inbox';
import type { ModelSpec } from '../spec';
import {
  bufferHeaders,
  committedOffsets,
  consumer,
  earliestOffsets,
  latestOffsets,
  ensureTopic,
  partitionCount,
  producer,
  sendAll,
} from './clients';
import type { KafkaConnection } from './connection';
import { EventRows } from './events';
import {
  WindowPlanner,
  type DeadLetter,
  type OffsetRange,
  type Row,
  type WindowCounts,
  type WindowRule,
} from './window';

/**
 * Events in, batches out: one window of a topic read from where the last one ended, its refused events sent to the
 * dead-letter topic with their reasons, its accepted rows landed as a Parquet batch in the artifact store. Nothing
 * here commits an offset: the workflow does, once the batch is durable and its training run started, so a reader
 * killed anywhere before that reads the same events again.
 */

export interface ReadWindowInput {
  model: string;
  topic: string;
  /** the consumer group (and static member name) of this stream */
  group: string;
  /** partition → the offset the window starts at; null: the group's committed offsets, else the earliest */
  from: Record<string, string> | null;
  rule: WindowRule;
  spec: ModelSpec;
  deadLetterTopic: string;
  maxEventBytes: number;
  /** a window with rows closes after this long without a new event */
  idleSeconds: number;
  /** with nothing at all to read for this long, the read ends empty (the workflow waits and asks again) */
  waitSeconds: number;
}

export interface LandedBatch {
  source: SourceRef;
  fingerprint: string;
  sha256: string;
  rows: number;
}

export interface WindowResult {
  /** where each partition's next window starts */
  next: Record<string, string>;
  ranges: OffsetRange[];
  counts: WindowCounts;
  /** the time window (time rule), ISO */
  window: { start: string; end: string } | null;
  /** event time of the first and last accepted row, ISO */
  span: { first: string; last: string } | null;
  /** why the window closed: its rule, a pause in the stream, the most events a window holds, or nothing came */
  closedBy: 'rule' | 'idle' | 'size' | 'nothing';
  /** the batch of accepted rows; null when the window had none (every event refused, or no event) */
  batch: LandedBatch | null;
  /**
   * offsets the window could not read where the last one ended: events deleted by retention before they were read
   * (`skipped`), or a partition whose log is now shorter than where reading stood (the topic recreated: read again
   * from its start)
   */
  gaps: { partition: number; expected: string; from: string; kind: 'skipped' | 'reset' }[];
}

export interface ReadHooks {
  /** called as events arrive (an activity heartbeats with it) */
  progress?: (eventsRead: number) => void;
  signal?: AbortSignal;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export async function readWindow(
  connection: KafkaConnection,
  store: ArtifactStore,
  input: ReadWindowInput,
  hooks: ReadHooks = {},
): Promise<WindowResult> {
  const partitions = await partitionCount(connection, input.topic);
  // a batch that could not be handed on is known before any event is read (and any dead letter sent)
  batchStaging(store);
  const checker = new EventRows(input.spec, input.maxEventBytes);
  const c = consumer(connection, `lumen-ingest-${input.model}`, input.group, input.group);
  try {
    const { start, ends, gaps } = await startOffsets(c, input, partitions);
    const planner = new WindowPlanner(input.rule, checker, start, ends);
    const stream = await c.consume({
      topics: [input.topic],
      mode: 'manual',
      offsets: [...start].map(([partition, offset]) => ({ topic: input.topic, partition, offset })),
      autocommit: false,
    });
    const failed: { error?: Error } = {};
    let lastArrival = Date.now();
    const begun = Date.now();
    let closedBy: WindowResult['closedBy'] = 'nothing';
    const arrived: Message<Buffer, Buffer, Buffer, Buffer>[] = [];
    stream.on('data', (m) => arrived.push(m));
    stream.on('error', (err: Error) => (failed.error ??= err));
    try {
      for (;;) {
        if (failed.error) throw failed.error;
        if (hooks.signal?.aborted) throw hooks.signal.reason ?? new Error('cancelled');
        if (arrived.length) {
          lastArrival = Date.now();
          for (const m of arrived.splice(0)) planner.take(m);
          hooks.progress?.(planner.read);
        }
        if (planner.complete) {
          closedBy = planner.capped ? 'size' : 'rule';
          break;
        }
        const now = Date.now();
        if (!planner.empty && now - lastArrival >= input.idleSeconds * 1000) {
          closedBy = 'idle';
          break;
        }
        if (planner.empty && now - begun >= input.waitSeconds * 1000) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await stream.close().catch(() => undefined);
    }
    const content = planner.finish();
    if (closedBy !== 'nothing' && content.ranges.length === 0) {
      // a window that closed must have taken events: one that did not would be read again and again
      throw new Error(
        `a window of ${input.topic} closed (${closedBy}) without taking an event: ${JSON.stringify(content.counts)}`,
      );
    }
    // refused events are kept, with why, before anything downstream happens
    if (content.deadLetters.length) await sendDeadLetters(connection, input, content.deadLetters);
    const batch = content.rows.length
      ? await landBatch(store, checker, content.rows, input.topic, content.ranges)
      : null;
    return {
      next: Object.fromEntries([...content.next].map(([p, o]) => [String(p), String(o)])),
      ranges: content.ranges,
      counts: content.counts,
      window: content.window ? { start: iso(content.window.start), end: iso(content.window.end) } : null,
      span: content.span ? { first: iso(content.span.first), last: iso(content.span.last) } : null,
      closedBy,
      batch,
      gaps,
    };
  } finally {
    await c.close().catch(() => undefined);
  }
}

async function startOffsets(
  c: ReturnType<typeof consumer>,
  input: ReadWindowInput,
  partitions: number,
): Promise<{ start: Map<number, bigint>; ends: Map<number, bigint>; gaps: WindowResult['gaps'] }> {
  const earliest = await earliestOffsets(c, input.topic);
  const latest = await latestOffsets(c, input.topic);
  const committed = input.from ? [] : await committedOffsets(c, input.topic, partitions);
  const start = new Map<number, bigint>();
  const ends = new Map<number, bigint>();
  const gaps: WindowResult['gaps'] = [];
  for (let p = 0; p < partitions; p++) {
    const given = input.from?.[String(p)];
    const low = earliest[p] ?? 0n;
    const high = latest[p] ?? 0n;
    // a partition added since starts where its log starts
    let at = given !== undefined ? BigInt(given) : (committed[p] ?? -1n) >= 0n ? committed[p] : low;
    if (at < low) {
      gaps.push({ partition: p, expected: String(at), from: String(low), kind: 'skipped' });
      at = low;
    } else if (at > high) {
      gaps.push({ partition: p, expected: String(at), from: String(low), kind: 'reset' });
      at = low;
    }
    start.set(p, at);
    ends.set(p, high);
  }
  return { start, ends, gaps };
}

/** The most of a refused event's bytes its dead letter keeps (the broker takes 1 MiB a message by default). */
const MAX_DEAD_VALUE = 900 * 1024;

async function sendDeadLetters(
  connection: KafkaConnection,
  input: ReadWindowInput,
  deadLetters: DeadLetter[],
): Promise<void> {
  await ensureTopic(connection, input.deadLetterTopic);
  const p = producer(connection, `lumen-dead-letters-${input.model}`);
  try {
    const messages = deadLetters.map((d) => ({
      topic: input.deadLetterTopic,
      ...(d.key ? { key: d.key } : {}),
      // an event near the broker's largest message would not fit again with its headers: its head is kept
      value:
        d.value && d.value.length > MAX_DEAD_VALUE ? d.value.subarray(0, MAX_DEAD_VALUE) : (d.value ?? Buffer.alloc(0)),
      headers: bufferHeaders({
        ...(d.value && d.value.length > MAX_DEAD_VALUE ? { 'lumen-truncated': `${d.value.length} bytes` } : {}),
        'lumen-problems': JSON.stringify(
          d.problems
            .slice(0, 50)
            .map((x) => ({ ...x, reason: x.reason.length > 500 ? `${x.reason.slice(0, 500)}…` : x.reason })),
        ),
        'lumen-source': `${input.topic}/${d.partition}/${d.offset}`,
        'lumen-model': input.model,
      }),
    }));
    await sendAll(p, messages);
  } finally {
    await p.close().catch(() => undefined);
  }
}

/**
 * The accepted rows as a Parquet batch, stored by content. The same rows in the same order give the same bytes,
 * so a window read again after a crash is the same batch (the same hash, the same training run id). The file
 * carries where its rows came from in its own metadata.
 */
async function landBatch(
  store: ArtifactStore,
  checker: EventRows,
  rows: Row[],
  topic: string,
  ranges: OffsetRange[],
): Promise<LandedBatch> {
  const lines = store.tempPath('stream-rows');
  const parquet = `${store.tempPath('stream-batch')}.parquet`;
  const names = checker.columnNames;
  const types = checker.columnTypes;
  try {
    const out = fs.createWriteStream(lines);
    for (let i = 0; i < rows.length; i++) {
      // the disk's pace, not the heap's: a window of a million rows is not held twice over
      if (!out.write(`${JSON.stringify(rows[i])}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
      if (i % 50_000 === 49_999) await new Promise((r) => setImmediate(r));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const columns = `{${names.map((n) => `${sqlString(n)}: ${sqlString(types[n])}`).join(', ')}}`;
    const metadata = `{'lumen.stream.topic': ${sqlString(topic)}, 'lumen.stream.ranges': ${sqlString(JSON.stringify(ranges))}}`;
    await withDuckDB(async (con) => {
      // rows keep the order they were given in: the batch's bytes depend on nothing but its rows
      await con.run('SET preserve_insertion_order = true');
      await con.run(
        `COPY (SELECT ${names.map(sqlIdent).join(', ')} FROM read_json(${sqlString(lines)}, format = 'newline_delimited', columns = ${columns})) ` +
          `TO ${sqlString(parquet)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880, KV_METADATA ${metadata})`,
      );
    });
    const ref = await store.putFile('stream', parquet, '.parquet');
    const source: SourceRef = {
      uri: await batchLocation(store, ref),
      format: 'parquet',
      stream: { topic, ranges },
    };
    return {
      source,
      fingerprint: await sourceFingerprint(source, storeAccess(store)),
      sha256: ref.sha256,
      rows: rows.length,
    };
  } finally {
    fs.rmSync(lines, { force: true });
    fs.rmSync(parquet, { force: true });
  }
}

/**
 * Where the pipeline reads a landed batch from: in a folder store, the artifact itself (every worker mounts the
 * store). An S3 store's copy is in this host's cache only, so the batch is staged into LUMEN_STREAM_STAGING, a
 * folder every pipeline worker mounts — without one, the stream cannot hand its batches on, and says so.
 */
async function batchLocation(
  store: ArtifactStore,
  ref: { uri: string; sha256: string; bytes: number },
): Promise<string> {
  if (ref.uri.startsWith('file://')) return uriToPath(ref.uri);
  return stagedCopy(store, ref, batchStaging(store)!, '.parquet');
}

/** The staging folder an S3 store's batches need (null: a folder store needs none); its absence is said at once. */
function batchStaging(store: ArtifactStore): string | null {
  if (store.config.kind === 'file') return null;
  const staging = process.env.LUMEN_STREAM_STAGING;
  if (!staging) {
    throw new SourceError(
      'a stream over an S3 artifact store needs LUMEN_STREAM_STAGING: a folder every pipeline worker mounts, where landed batches wait for their runs',
    );
  }
  return path.resolve(staging);
}

/**
 * Commit a stream's offsets to its consumer group: called once the window they end is durable (its batch stored,
 * its run started). The group's offsets are where a new reader starts, and what `kafka-consumer-groups` and lag
 * monitors show.
 */
export async function commitOffsets(
  connection: KafkaConnection,
  input: { model: string; topic: string; group: string; offsets: Record<string, string> },
): Promise<void> {
  const c = consumer(connection, `lumen-ingest-${input.model}`, input.group, input.group);
  try {
    await c.joinGroup({});
    await c.commit({
      offsets: Object.entries(input.offsets).map(([partition, offset]) => ({
        topic: input.topic,
        partition: Number(partition),
        offset: BigInt(offset),
        leaderEpoch: -1,
      })),
    });
  } finally {
    await c.close().catch(() => undefined);
  }
}
