import type { Message } from '@platformatic/kafka';
import { consumer, producer, sendAll } from '../../lib/stream/clients';
import type { KafkaConnection } from '../../lib/stream/connection';
import type { Answer } from '../../serve/stream-scorer';
import { LABEL_DELAY_MS, ROWS, TICK_MS, Traffic } from './traffic';

/** The topics of `--via kafka`: requests in, answers out, labels back. */
export const DEMO_TOPICS = { requests: 'flight-requests', answers: 'flight-answers', labels: 'flight-outcomes' };

/**
 * The same traffic through Kafka (`npm run demo -- --loop --via kafka`): each flight is an event in the requests
 * topic, keyed by its place in the month's seeded order; the serving instance's scorer answers it into the answers
 * topic; this reads the answers (which version answered, and the prediction id) and, a few seconds later, sends the
 * true delay to the labels topic under that id, where the serving instance's label reader records it.
 */
export class KafkaTraffic extends Traffic {
  private readonly out: ReturnType<typeof producer>;
  private readonly answers: ReturnType<typeof consumer>;
  private readonly delays = new Map<string, number>();
  private readonly due: { id: string; delay: number; at: number }[] = [];
  private reading?: Promise<void>;
  private closed = false;
  private sent = 0;

  constructor(
    private readonly connection: KafkaConnection,
    model: string,
    rand: () => number,
    /** labels the serving instance has recorded (its label reader's count) */
    private readonly recorded: () => number,
  ) {
    super('', model, '', rand);
    this.out = producer(connection, 'demo-traffic');
    this.answers = consumer(connection, 'demo-traffic', `demo-answers-${Date.now()}`);
  }

  override start(): void {
    this.reading ??= this.readAnswers();
    let sending = 0;
    this.timer = setInterval(() => {
      if (sending > 4) return;
      sending++;
      void this.produce().finally(() => sending--);
    }, TICK_MS);
  }

  /** Stop reading answers and close the clients (the demo's end). */
  async close(): Promise<void> {
    this.stop();
    this.closed = true;
    await this.reading?.catch(() => undefined);
    await this.out.close().catch(() => undefined);
    await this.answers.close().catch(() => undefined);
  }

  private async produce(): Promise<void> {
    const batch = Array.from({ length: ROWS }, () => this.pool[this.next++ % this.pool.length]);
    try {
      const messages = batch.map(({ delay, ...input }) => {
        const key = `flight-${this.sent++}`;
        this.delays.set(key, delay);
        return { topic: DEMO_TOPICS.requests, key: Buffer.from(key), value: Buffer.from(JSON.stringify(input)) };
      });
      await sendAll(this.out, messages);
      await this.sendDueLabels();
    } catch {
      this.counts.failed++;
    }
  }

  private async readAnswers(): Promise<void> {
    const stream = await this.answers.consume({
      topics: [DEMO_TOPICS.answers],
      mode: 'earliest',
      autocommit: false,
      maxWaitTime: 100,
    });
    stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => this.answered(m));
    while (!this.closed) await new Promise((r) => setTimeout(r, 200));
    await stream.close();
  }

  private answered(m: Message<Buffer, Buffer, Buffer, Buffer>): void {
    const counts = this.counts;
    const key = m.key.toString();
    const delay = this.delays.get(key);
    this.delays.delete(key);
    const answer = JSON.parse(m.value.toString()) as Answer;
    if (!('version' in answer)) {
      counts.failed++;
      return;
    }
    counts.served++;
    counts.byVersion.set(answer.version, (counts.byVersion.get(answer.version) ?? 0) + 1);
    if (counts.lastServed !== answer.version) {
      counts.swaps.push({ at: Date.now(), from: counts.lastServed, to: answer.version });
      counts.lastServed = answer.version;
    }
    if (delay !== undefined) this.due.push({ id: answer.id, delay, at: Date.now() + LABEL_DELAY_MS });
  }

  private async sendDueLabels(): Promise<void> {
    const now = Date.now();
    let n = 0;
    while (n < this.due.length && this.due[n].at <= now) n++;
    const due = this.due.splice(0, n);
    if (due.length) {
      await sendAll(
        this.out,
        due.map((l) => ({
          topic: DEMO_TOPICS.labels,
          value: Buffer.from(JSON.stringify({ predictionId: l.id, label: l.delay })),
        })),
      );
    }
    this.counts.labelled = this.recorded();
  }
}
