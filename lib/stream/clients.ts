import { Admin, Consumer, Producer } from '@platformatic/kafka';
import { SourceError } from '../errors';
import { clientOptions, describeConnection, type KafkaConnection } from './connection';

/**
 * Kafka clients as Lumen uses them: bytes in and out (Lumen parses and checks every event itself, at its edge),
 * the connection from the environment, and the questions every stream asks first (does the topic exist, how many
 * partitions, where does each start).
 */

export function producer(connection: KafkaConnection, clientId: string): Producer<Buffer, Buffer, Buffer, Buffer> {
  return new Producer({
    ...clientOptions(connection, clientId),
    // the broker acknowledges once the message is in its log (acks=all on one node): what was produced is kept
    acks: -1,
    // messages a send call hands over are batched per partition; a batch of a few thousand answers is one request
    autocreateTopics: false,
  });
}

export function consumer(
  connection: KafkaConnection,
  clientId: string,
  groupId: string,
  /**
   * a fixed member name (static membership): a consumer restarted after a crash takes its place at once instead of
   * waiting out the dead one's session
   */
  instanceId?: string,
): Consumer<Buffer, Buffer, Buffer, Buffer> {
  return new Consumer({
    ...clientOptions(connection, clientId),
    groupId,
    ...(instanceId ? { groupInstanceId: instanceId } : {}),
    sessionTimeout: 20_000,
    heartbeatInterval: 2_000,
    rebalanceTimeout: 30_000,
    maxWaitTime: 500,
    maxBytes: 16 * 1024 * 1024,
  });
}

export async function withAdmin<T>(connection: KafkaConnection, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin(clientOptions(connection, 'lumen-admin'));
  try {
    return await fn(admin);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/**
 * Whether a topic exists, asked of the topic list: a metadata request for a missing topic is an error the client
 * retries for its whole retry budget (half a minute) before it says so.
 */
async function topicExists(admin: Admin, connection: KafkaConnection, topic: string): Promise<boolean> {
  const topics = await admin.listTopics({ includeInternals: false }).catch((err: Error) => {
    throw new SourceError(`Kafka at ${describeConnection(connection)} cannot be reached: ${kafkaFailure(err)}`, {
      topic,
    });
  });
  return topics.includes(topic);
}

/** How many partitions a topic has; a topic that does not exist is said so, by name and broker. */
export async function partitionCount(connection: KafkaConnection, topic: string): Promise<number> {
  return withAdmin(connection, async (admin) => {
    if (!(await topicExists(admin, connection, topic))) {
      throw new SourceError(`Kafka topic "${topic}" does not exist at ${describeConnection(connection)}`, { topic });
    }
    const metadata = await admin.metadata({ topics: [topic], autocreateTopics: false });
    return metadata.topics.get(topic)?.partitionsCount ?? 0;
  });
}

/** Create a topic if it is not there (Lumen's own: a dead-letter or answers topic). */
export async function ensureTopic(connection: KafkaConnection, topic: string, partitions = 1): Promise<void> {
  await withAdmin(connection, async (admin) => {
    if (await topicExists(admin, connection, topic)) return;
    await admin.createTopics({ topics: [topic], partitions, replicas: -1 }).catch((err: Error) => {
      // created meanwhile by another process: what was wanted
      if (
        !/TOPIC_ALREADY_EXISTS|already exists/i.test(
          `${err.message} ${JSON.stringify((err as { errors?: unknown }).errors ?? '')}`,
        )
      )
        throw err;
    });
  });
}

/** Earliest offset of each partition (what a new reader starts at). */
export async function earliestOffsets(c: Consumer<Buffer, Buffer, Buffer, Buffer>, topic: string): Promise<bigint[]> {
  const offsets = await c.listOffsets({ topics: [topic], timestamp: -2n });
  return offsets.get(topic) ?? [];
}

/** End offset of each partition (the offset the next produced message will take). */
export async function latestOffsets(c: Consumer<Buffer, Buffer, Buffer, Buffer>, topic: string): Promise<bigint[]> {
  const offsets = await c.listOffsets({ topics: [topic], timestamp: -1n });
  return offsets.get(topic) ?? [];
}

/** The group's committed offset per partition (-1: none). */
export async function committedOffsets(
  c: Consumer<Buffer, Buffer, Buffer, Buffer>,
  topic: string,
  partitions: number,
): Promise<bigint[]> {
  const committed = await c.listCommittedOffsets({
    topics: [{ topic, partitions: Array.from({ length: partitions }, (_, i) => i) }],
  });
  return committed.get(topic) ?? [];
}

/** Message headers as the byte-level client takes them. */
export function bufferHeaders(headers: Record<string, string>): Map<Buffer, Buffer> {
  return new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
}

/** Below a broker's default largest record batch (1 MiB), with room for the batch's own framing. */
const SEND_BYTES = 512 * 1024;

/**
 * Send messages in requests the broker takes: a few thousand answers at once can be more bytes than one record
 * batch may hold, so they go in slices of about half a megabyte, in order.
 */
export async function sendAll(
  p: Producer<Buffer, Buffer, Buffer, Buffer>,
  messages: { topic: string; key?: Buffer; value: Buffer; headers?: Map<Buffer, Buffer> }[],
): Promise<void> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    let size = messages[i].value.length + (messages[i].key?.length ?? 0) + 64;
    for (const [k, v] of messages[i].headers ?? []) size += k.length + v.length + 8;
    if (bytes + size > SEND_BYTES && i > start) {
      await p.send({ messages: messages.slice(start, i) });
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < messages.length) await p.send({ messages: messages.slice(start) });
}

/** A client failure as a person reads it: the client's own message, and the deepest cause it wraps. */
export function kafkaFailure(err: unknown): string {
  const e = err as Error;
  let inner: unknown = err;
  for (let depth = 0; depth < 10; depth++) {
    const next = (inner as { errors?: unknown[] }).errors?.[0] ?? (inner as { cause?: unknown }).cause ?? undefined;
    if (!next || typeof next !== 'object') break;
    inner = next;
  }
  const cause = inner instanceof Error && inner !== err ? inner.message : null;
  return cause && cause !== e.message ? `${e.message} (${cause})` : e.message;
}

/**
 * Keep a group member running until `stopped()`: each `run` is one membership, calling `joined` once it consumes. A
 * failure of the first membership is thrown (the caller's start fails); a later one is said, `onFailure` records it,
 * and the member joins again after 5 s. Resolves (the returned `ready`) once first joined; `done` ends with the loop.
 */
export function rejoining(
  what: string,
  run: (joined: () => void) => Promise<void>,
  stopped: () => boolean,
  onFailure: (message: string) => void,
): { ready: Promise<void>; done: Promise<void> } {
  let joined!: () => void;
  const first = new Promise<void>((resolve) => (joined = resolve));
  const done = (async () => {
    let isFirst = true;
    while (!stopped()) {
      try {
        await run(() => {
          if (isFirst) joined();
          isFirst = false;
        });
      } catch (err) {
        const message = kafkaFailure(err);
        onFailure(message);
        console.error(`[lumen] ${what}: ${message}; joining again in 5 s`);
        if (isFirst) throw err;
        await new Promise((r) => setTimeout(r, 5000));
      }
    }
  })();
  return { ready: Promise.race([first, done]), done };
}
