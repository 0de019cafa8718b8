import { Admin, Consumer } from '@platformatic/kafka';
import { clientOptions, type KafkaConnection } from './connection';

/** How far a model's stream scorers are behind: per consumer group and topic, events not yet answered. */
export interface StreamLag {
  group: string;
  topic: string;
  /** events past the group's committed offsets, over all partitions */
  lag: number;
  partitions: number;
}

/** The consumer groups `lumen stream score` uses for a model (lumen-score-<model>-<topic>, or one named). */
export function scoringGroupPrefix(model: string): string {
  return `lumen-score-${model}-`;
}

/**
 * The lag of every scoring group of a model, asked of the brokers with a short patience: the monitor's check must
 * not wait out a client's whole retry budget when Kafka is away (it says so instead).
 */
export async function scoringLag(connection: KafkaConnection, model: string): Promise<StreamLag[]> {
  const quick = { ...clientOptions(connection, 'lumen-monitor'), retries: 2, retryDelay: 500, timeout: 5000 };
  const admin = new Admin(quick);
  const probe = new Consumer({ ...quick, groupId: `lumen-monitor-probe-${model}` });
  try {
    const groups = [...(await admin.listGroups()).keys()].filter((g) => g.startsWith(scoringGroupPrefix(model)));
    if (groups.length === 0) return [];
    const offsets = await admin.listConsumerGroupOffsets({ groups });
    const found: StreamLag[] = [];
    for (const g of offsets) {
      for (const t of g.topics) {
        const ends = (await probe.listOffsets({ topics: [t.name], timestamp: -1n })).get(t.name) ?? [];
        let lag = 0;
        for (const p of t.partitions) {
          if (p.committedOffset < 0n) continue;
          const end = ends[p.partitionIndex] ?? p.committedOffset;
          lag += Number(end > p.committedOffset ? end - p.committedOffset : 0n);
        }
        found.push({ group: g.groupId, topic: t.name, lag, partitions: t.partitions.length });
      }
    }
    return found.sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic));
  } finally {
    await probe.close().catch(() => undefined);
    await admin.close().catch(() => undefined);
  }
}
