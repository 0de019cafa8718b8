import os from 'node:os';
import type { Message } from '@platformatic/kafka';
import type { FeedbackOutcome } from '../lib/serving/feedback';
import { PREDICTION_ID } from '../lib/serving/ids';
import {
  bufferHeaders,
  consumer,
  ensureTopic,
  partitionCount,
  producer,
  sendAll,
  rejoining,
} from '../lib/stream/clients';
import type { KafkaConnection } from '../lib/stream/connection';
import type { ServingMetrics } from './metrics';

/**
 * Labels back from a topic: each message is feedback for one prediction — `{"predictionId": …, "label": …}`, or
 * `{"label": …}` under the prediction id as its key (the key an answer of `lumen stream score` carries is the
 * event's; its value names the prediction id) — recorded into the serving instance's feedback store by the same
 * checks as POST /v1/feedback: the label must suit the contract of the version that answered, an id must be in
 * this instance's prediction log, a second different label is a conflict. What is not recorded goes to the
 * dead-letter topic with its reason; offsets are committed after both.
 */
export interface LabelsOptions {
  topic: string;
  /** default lumen-labels-<topic> */
  group?: string;
  /** default <topic>.dlq */
  deadLetterTopic?: string;
  /**
   * labels under an event's own key (a business key): the model whose scorer answered those events, and where it
   * remembered which prediction answered each key
   */
  byKey?: { model: string; predictionOfKey: (model: string, key: string) => string | undefined };
}

export interface LabelStats {
  accepted: number;
  duplicates: number;
  refused: number;
  lastError: string | null;
}

export class StreamLabels {
  readonly group: string;
  readonly deadLetterTopic: string;
  private readonly stats: LabelStats = { accepted: 0, duplicates: 0, refused: 0, lastError: null };
  private stopping = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly take: (items: unknown[]) => Promise<FeedbackOutcome>,
    private readonly connection: KafkaConnection,
    private readonly options: LabelsOptions,
    private readonly metrics?: ServingMetrics,
  ) {
    this.group = options.group ?? `lumen-labels-${options.topic}`;
    this.deadLetterTopic = options.deadLetterTopic ?? `${options.topic}.dlq`;
  }

  current(): LabelStats {
    return { ...this.stats };
  }

  /** Start reading labels; resolves once joined. A failure later is said and the reader joins again. */
  async start(): Promise<void> {
    await partitionCount(this.connection, this.options.topic);
    await ensureTopic(this.connection, this.deadLetterTopic);
    const member = rejoining(
      `stream labels ${this.options.topic}`,
      (joined) => this.run(joined),
      () => this.stopping,
      (message) => (this.stats.lastError = message),
    );
    this.done = member.done;
    await member.ready;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done.catch(() => undefined);
  }

  private async run(joined: () => void): Promise<void> {
    const { topic } = this.options;
    const c = consumer(this.connection, 'lumen-labels', this.group, `${this.group}-${os.hostname()}-${process.pid}`);
    const p = producer(this.connection, 'lumen-labels');
    try {
      const stream = await c.consume({
        topics: [topic],
        mode: 'committed',
        fallbackMode: 'earliest',
        autocommit: false,
        maxWaitTime: 200,
      });
      joined();
      const waiting: Message<Buffer, Buffer, Buffer, Buffer>[] = [];
      const failed: { error?: Error } = {};
      stream.on('data', (m) => {
        waiting.push(m);
        // a backlog is taken a thousand at a time: the stream holds off while that many wait
        if (waiting.length >= 2000) stream.pause();
      });
      stream.on('error', (err: Error) => (failed.error = err));
      try {
        while (!this.stopping) {
          if (failed.error) throw failed.error;
          if (waiting.length === 0) {
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          const batch = waiting.splice(0, 1000);
          if (stream.isPaused()) stream.resume();
          await this.record(batch, p);
          const next = new Map<number, bigint>();
          for (const m of batch)
            if ((next.get(m.partition) ?? -1n) < m.offset + 1n) next.set(m.partition, m.offset + 1n);
          await c.commit({
            offsets: [...next].map(([partition, offset]) => ({ topic, partition, offset, leaderEpoch: -1 })),
          });
        }
      } finally {
        await stream.close().catch(() => undefined);
      }
    } finally {
      await c.close().catch(() => undefined);
      await p.close().catch(() => undefined);
    }
  }

  private async record(batch: Message<Buffer, Buffer, Buffer, Buffer>[], p: ReturnType<typeof producer>) {
    const { topic } = this.options;
    const reasons = new Map<number, string>();
    const items: unknown[] = [];
    const at: number[] = [];
    batch.forEach((m, i) => {
      let value: unknown;
      try {
        value = JSON.parse(m.value.toString('utf8'));
      } catch (err) {
        reasons.set(i, `not JSON: ${(err as Error).message}`);
        return;
      }
      const key = m.key?.length ? m.key.toString('utf8') : null;
      if (value && typeof value === 'object' && !Array.isArray(value) && !('predictionId' in value) && key) {
        // the prediction id as the message key, or the key of the event it answered (a business key)
        const byKey = this.options.byKey;
        const id = PREDICTION_ID.test(key) ? key : byKey?.predictionOfKey(byKey.model, key);
        if (!id) {
          reasons.set(
            i,
            byKey
              ? `no event of ${byKey.model} was answered under the key "${key.slice(0, 200)}" here`
              : `the key "${key.slice(0, 200)}" is not a prediction id, and the value names none`,
          );
          return;
        }
        value = { ...value, predictionId: id };
      }
      items.push(value);
      at.push(i);
    });
    const outcome = items.length ? await this.take(items) : null;
    if (outcome) {
      for (const x of [...outcome.invalid, ...outcome.unknown]) reasons.set(at[x.index], x.reason);
      for (const conflict of outcome.conflicts) {
        reasons.set(
          at[conflict.index],
          `${conflict.predictionId} has the label ${JSON.stringify(conflict.recorded)} already; a correction is made by an admin over HTTP`,
        );
      }
      this.stats.accepted += outcome.accepted;
      this.stats.duplicates += outcome.duplicates;
      this.metrics?.streamLabels.inc({ topic, outcome: 'accepted' }, outcome.accepted);
      if (outcome.duplicates) this.metrics?.streamLabels.inc({ topic, outcome: 'duplicate' }, outcome.duplicates);
    }
    if (reasons.size) {
      this.stats.refused += reasons.size;
      this.metrics?.streamLabels.inc({ topic, outcome: 'refused' }, reasons.size);
      await sendAll(
        p,
        [...reasons].map(([i, reason]) => ({
          topic: this.deadLetterTopic,
          ...(batch[i].key?.length ? { key: batch[i].key } : {}),
          value: batch[i].value ?? Buffer.alloc(0),
          headers: bufferHeaders({
            'lumen-problems': JSON.stringify([{ field: '(label)', code: 'refused', reason }]),
            'lumen-source': `${topic}/${batch[i].partition}/${batch[i].offset}`,
          }),
        })),
      );
    }
    this.stats.lastError = null;
  }
}
