import os from 'node:os';
import type { Message } from '@platformatic/kafka';
import type { EachAnswer, ModelHost } from '../lib/serving/host';
import {
  consumer,
  ensureTopic,
  latestOffsets,
  partitionCount,
  producer,
  sendAll,
  rejoining,
} from '../lib/stream/clients';
import type { KafkaConnection } from '../lib/stream/connection';
import type { ServingMetrics } from './metrics';

/**
 * `lumen stream score`: events in, predictions out. Each event of the input topic (a JSON row of the source's
 * columns) is answered by the model's serving host — the same contract, preprocessor, prediction ids, prediction
 * log, canary routing (by the event's key), shadow and hot swaps as a request over HTTP — and the answer is produced
 * to the output topic under the event's key. Offsets are committed only after the answers they cover are in the
 * output topic: a scorer killed anywhere answers the uncommitted events again (at least once, each answer with
 * its own prediction id and the event's topic/partition/offset to tell repeats apart).
 */
export interface ScorerOptions {
  model: string;
  inTopic: string;
  outTopic: string;
  /** default lumen-score-<model>-<inTopic> */
  group?: string;
  /** events answered per call to the model (default 4,096; `lumen stream score` takes 8,192) */
  maxBatch?: number;
  /**
   * remember which prediction answered each keyed event (labels sent later under the event's key find it); called
   * before the answers go out
   */
  rememberKeys?: (pairs: [key: string, predictionId: string][]) => void;
}

export interface ScorerStats {
  answered: number;
  refused: number;
  malformed: number;
  unavailable: number;
  /** per partition, the next offset to answer */
  position: Record<string, string>;
  lag: Record<string, number>;
  lastError: string | null;
}

/**
 * What goes out for one event, under its key: its prediction (with the id its decision record is found by), or why
 * it was not predicted; `source` is the event's topic/partition/offset, which tells a repeat after a crash apart.
 */
export type Answer =
  | {
      id: string;
      model: string;
      version: number;
      arm: string;
      output: unknown;
      flags: unknown[];
      source: string;
    }
  | { id?: string; model: string; source: string; refused: { field: string; code: string; reason: string }[] };

interface Answers {
  messages: { topic: string; key?: Buffer; value: Buffer }[];
  answered: number;
  refused: number;
  malformed: number;
}

export class StreamScorer {
  readonly group: string;
  private readonly stats: ScorerStats = {
    answered: 0,
    refused: 0,
    malformed: 0,
    unavailable: 0,
    position: {},
    lag: {},
    lastError: null,
  };
  private stopping = false;
  private done: Promise<void> = Promise.resolve();
  private readonly maxBatch: number;

  constructor(
    private readonly host: ModelHost,
    private readonly connection: KafkaConnection,
    private readonly options: ScorerOptions,
    private readonly metrics?: ServingMetrics,
  ) {
    this.group = options.group ?? `lumen-score-${options.model}-${options.inTopic}`;
    this.maxBatch = options.maxBatch ?? 4096;
  }

  current(): ScorerStats {
    return structuredClone(this.stats);
  }

  /**
   * Start answering; resolves once the consumer has joined. The loop goes on until `stop`: a failure (the broker
   * away longer than the client's retries) is said, in the log and in `current().lastError`, and the scorer joins
   * again from the committed offsets after a pause — never silently stopped.
   */
  async start(): Promise<void> {
    const { inTopic, outTopic } = this.options;
    if (inTopic === outTopic) throw new Error('the answers go to another topic than the events (--out ≠ --in)');
    const partitions = await partitionCount(this.connection, inTopic);
    await ensureTopic(this.connection, outTopic, partitions);
    const member = rejoining(
      `stream score ${this.options.model}`,
      (joined) => this.run(joined),
      () => this.stopping,
      (message) => (this.stats.lastError = message),
    );
    this.done = member.done;
    await member.ready;
  }

  /** One membership of the group: consume, answer, produce, commit, until a stop or a failure. */
  private async run(joined: () => void): Promise<void> {
    const { inTopic } = this.options;
    const c = consumer(
      this.connection,
      `lumen-score-${this.options.model}`,
      this.group,
      `${this.group}-${os.hostname()}-${process.pid}`,
    );
    const p = producer(this.connection, `lumen-score-${this.options.model}`);
    let lagTimer: NodeJS.Timeout | undefined;
    try {
      const stream = await c.consume({
        topics: [inTopic],
        mode: 'committed',
        // a new scorer answers the topic from its start: no event is skipped unanswered
        fallbackMode: 'earliest',
        autocommit: false,
        maxWaitTime: 100,
      });
      joined();
      const waiting: Message<Buffer, Buffer, Buffer, Buffer>[] = [];
      let wake: (() => void) | null = null;
      stream.on('data', (m) => {
        waiting.push(m);
        // a full batch is waiting: the loop takes it, and the stream holds off until it has
        if (waiting.length >= this.maxBatch * 2) stream.pause();
        wake?.();
      });
      const failed: { error?: Error } = {};
      stream.on('error', (err: Error) => {
        failed.error = err;
        wake?.();
      });
      lagTimer = setInterval(() => void this.measureLag(c), 2000);
      lagTimer.unref();
      // one batch's answers travel to the broker (and its offsets are committed) while the next is predicted
      let sending: Promise<void> | null = null;
      try {
        while (!this.stopping) {
          if (failed.error) throw failed.error;
          if (waiting.length === 0) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, 200);
            });
            wake = null;
            continue;
          }
          const batch = waiting.splice(0, this.maxBatch);
          if (stream.isPaused()) stream.resume();
          const answers = await this.answer(batch);
          await sending;
          // only what is answered is committed: a scorer that dies before this answers these events again
          sending = (async () => {
            await sendAll(p, answers.messages);
            await c.commit({ offsets: this.commits(batch) });
            this.count(answers);
          })();
          // a send that fails while the next batch is predicted is this loop's failure, not an unhandled one
          sending.catch((err: Error) => {
            failed.error ??= err;
            wake?.();
          });
        }
        await sending;
      } finally {
        await sending?.catch(() => undefined);
        await stream.close().catch(() => undefined);
      }
    } finally {
      clearInterval(lagTimer);
      await c.close().catch(() => undefined);
      await p.close().catch(() => undefined);
    }
  }

  /** Stop after the batch in hand: its answers are produced and committed first. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done.catch(() => undefined);
  }

  /** The answers to a batch of events, as messages for the output topic (not yet sent). */
  private async answer(batch: Message<Buffer, Buffer, Buffer, Buffer>[]): Promise<Answers> {
    const { model, inTopic, outTopic } = this.options;
    const rows: unknown[] = [];
    const keys: (string | null)[] = [];
    const at: number[] = [];
    const out = new Array<Answer>(batch.length);
    batch.forEach((m, i) => {
      try {
        rows.push(JSON.parse(m.value.toString('utf8')));
        keys.push(m.key?.length ? m.key.toString('utf8') : null);
        at.push(i);
      } catch (err) {
        out[i] = {
          model,
          source: `${inTopic}/${m.partition}/${m.offset}`,
          refused: [{ field: '(event)', code: 'malformed', reason: `not JSON: ${(err as Error).message}` }],
        };
      }
    });
    const counts = { answered: 0, refused: 0, malformed: batch.length - rows.length };
    for (;;) {
      const result = rows.length
        ? await this.host.predictEach(model, rows, keys)
        : { kind: 'ok' as const, answers: [] };
      if (result.kind === 'ok') {
        result.answers.forEach((a: EachAnswer, k) => {
          const m = batch[at[k]];
          const source = `${inTopic}/${m.partition}/${m.offset}`;
          if (a.kind === 'ok') {
            counts.answered++;
            out[at[k]] = { id: a.id, model, version: a.version, arm: a.arm, output: a.output, flags: a.flags, source };
          } else {
            counts.refused++;
            out[at[k]] = {
              id: a.id,
              model,
              source,
              refused: a.problems.map(({ field, code, reason }) => ({ field, code, reason })),
            };
          }
        });
        break;
      }
      // nothing serves the model here right now (no champion yet, or it cannot be loaded): the events wait,
      // uncommitted, until one does — they are not answered with nothing
      this.stats.unavailable++;
      this.stats.lastError = result.kind === 'unavailable' ? result.reason : `${model} has no champion served here`;
      if (this.stopping) throw new Error(`stopped while ${this.stats.lastError}`);
      await new Promise((r) => setTimeout(r, 1000));
      await this.host.sync();
    }
    if (this.options.rememberKeys) {
      const pairs: [string, string][] = [];
      batch.forEach((m, i) => {
        const a = out[i];
        if (m.key?.length && 'version' in a) pairs.push([m.key.toString('utf8'), a.id]);
      });
      if (pairs.length) this.options.rememberKeys(pairs);
    }
    const messages = batch.map((m, i) => ({
      topic: outTopic,
      ...(m.key?.length ? { key: m.key } : {}),
      value: Buffer.from(JSON.stringify(out[i])),
    }));
    return { messages, ...counts };
  }

  private count(a: Answers): void {
    const { model, inTopic } = this.options;
    this.stats.answered += a.answered;
    this.stats.refused += a.refused;
    this.stats.malformed += a.malformed;
    this.stats.lastError = null;
    this.metrics?.streamEvents.inc({ model, topic: inTopic, outcome: 'answered' }, a.answered);
    if (a.refused) this.metrics?.streamEvents.inc({ model, topic: inTopic, outcome: 'refused' }, a.refused);
    if (a.malformed) this.metrics?.streamEvents.inc({ model, topic: inTopic, outcome: 'malformed' }, a.malformed);
  }

  private commits(batch: Message<Buffer, Buffer, Buffer, Buffer>[]) {
    const next = new Map<number, bigint>();
    for (const m of batch) if ((next.get(m.partition) ?? -1n) < m.offset + 1n) next.set(m.partition, m.offset + 1n);
    for (const [partition, offset] of next) this.stats.position[String(partition)] = String(offset);
    return [...next].map(([partition, offset]) => ({
      topic: this.options.inTopic,
      partition,
      offset,
      leaderEpoch: -1,
    }));
  }

  private async measureLag(c: ReturnType<typeof consumer>): Promise<void> {
    try {
      const end = await latestOffsets(c, this.options.inTopic);
      end.forEach((offset, partition) => {
        const at = this.stats.position[String(partition)];
        const lag = at === undefined ? null : Number(offset - BigInt(at));
        if (lag === null) return;
        this.stats.lag[String(partition)] = lag;
        this.metrics?.streamLag.set(
          { model: this.options.model, topic: this.options.inTopic, partition: String(partition) },
          lag,
        );
      });
    } catch {
      // the broker away for a moment: the next measure says
    }
  }
}
