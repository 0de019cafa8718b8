import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { LumenModel, LumenStage } from '../workflows/definitions';
import { streamContent, streamStatusQuery, streamWorkflowId, type StreamInput } from '../workflows/stream-definitions';
import { clientConfig, taskQueues, withClient, workflowUrl } from '../client/connection';
import { CliError, EXIT, parseCount } from '../client/errors';
import { printJson, table } from '../client/output';
import { hashJson } from '../lib/hash';
import { kafkaConnection, describeConnection } from '../lib/stream/connection';
import { partitionCount } from '../lib/stream/clients';
import { DEFAULT_MAX_EVENT_BYTES } from '../lib/stream/events';
import type { WindowRule } from '../lib/stream/window';
import { decideStanding } from './inbox-commands';
import { triggerSpec } from './sources';

/** lumen stream ingest|status|stop: a Kafka topic whose events become validated batches that train the model. */

/** `--window`: rows:<n> (the next n accepted rows), hour or day (by the spec's time column). */
export function parseWindow(text: string): WindowRule {
  const rows = /^rows:(\d+)$/.exec(text);
  if (rows) {
    const n = Number(rows[1]);
    if (n < 1 || n > 10_000_000) throw new CliError(`--window rows:${n}: between 1 and 10,000,000 rows`);
    return { by: 'rows', rows: n };
  }
  if (text === 'hour' || text === 'day') return { by: 'time', every: text };
  throw new CliError(`--window ${text}: give rows:<n> (e.g. rows:50000), hour or day`);
}

export async function streamIngest(
  model: string,
  opts: {
    topic: string;
    spec?: string;
    window: string;
    idle: string;
    deadLetter?: string;
    maxEventBytes?: string;
    actor?: string;
  },
): Promise<void> {
  const rule = parseWindow(opts.window);
  const spec = await triggerSpec(model, opts.spec);
  if (rule.by === 'time' && spec && !spec.source.timeColumn) {
    throw new CliError(`--window ${opts.window} reads event time: the spec of ${model} names no source.timeColumn`);
  }
  // the topic must be there now: a typo is said at once, not by a workflow retrying forever
  const connection = kafkaConnection();
  const partitions = await partitionCount(connection, opts.topic);
  const input: StreamInput = {
    model,
    topic: opts.topic,
    rule,
    ...(spec ? { spec } : {}),
    deadLetterTopic: opts.deadLetter ?? `${opts.topic}.dlq`,
    maxEventBytes: opts.maxEventBytes ? parseCount(opts.maxEventBytes, '--max-event-bytes') : DEFAULT_MAX_EVENT_BYTES,
    idleSeconds: parseCount(opts.idle, '--idle'),
    trainingTaskQueue: taskQueues().training,
  };
  if (input.deadLetterTopic === input.topic) throw new CliError('--dead-letter must be another topic than --topic');
  const config = clientConfig();
  const workflowId = streamWorkflowId(model, opts.topic);
  await withClient(async (client) => {
    const running = await client.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        (d) => d.status.name === 'RUNNING',
        (err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        },
      );
    const already = `${model} reads ${opts.topic} already (lumen stream status ${model} --topic ${opts.topic}; stop it first)`;
    if (running) throw new CliError(already, EXIT.failed);
    const by = await decideStanding(
      'stream',
      model,
      workflowId,
      'watch',
      hashJson(streamContent(input)),
      `stream ${opts.topic}`,
      opts.actor,
    );
    try {
      await client.workflow.start('streamIngest', {
        taskQueue: taskQueues().pipeline,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        typedSearchAttributes: [
          { key: LumenModel, value: model },
          { key: LumenStage, value: 'streaming' },
        ],
        staticSummary: `stream of ${model}: Kafka ${opts.topic}`.slice(0, 200),
        staticDetails: `started by ${by}; windows of ${opts.window} from ${opts.topic} train ${model} once per content; refused events go to ${input.deadLetterTopic}`,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new CliError(already, EXIT.failed);
      throw err;
    }
    console.log(
      `reading ${opts.topic} (${partitions} partition${partitions === 1 ? '' : 's'}) at ${describeConnection(connection)} for ${model}, windows of ${opts.window} (${workflowId})`,
    );
    console.log(`refused events go to ${input.deadLetterTopic}. web ui  ${workflowUrl(config, workflowId)}`);
  });
}

export async function streamStatus(model: string, opts: { topic: string; json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    try {
      const s = await client.workflow.getHandle(streamWorkflowId(model, opts.topic)).query(streamStatusQuery);
      if (opts.json) return printJson(s);
      const rule = s.rule.by === 'rows' ? `rows:${s.rule.rows}` : s.rule.every;
      console.log(
        `${model}: reading ${s.topic} in windows of ${rule} (group ${s.group}); ${s.totals.windows} windows, ` +
          `${s.totals.accepted} rows accepted, ${s.totals.refused} events refused (in ${s.deadLetterTopic}), ${s.totals.duplicates} duplicates`,
      );
      if (s.next) {
        console.log(
          `next window starts at ${Object.entries(s.next)
            .map(([p, o]) => `p${p}:${o}`)
            .join(' ')}`,
        );
      }
      if (s.lastError) console.log(`last window failed: ${s.lastError}`);
      if (s.windows.length) {
        console.log(
          table(
            ['at', 'offsets', 'rows', 'refused', 'closed by', 'content', 'training run', 'outcome'],
            s.windows.map((w) => [
              w.at,
              w.ranges.map((r) => `p${r.partition}:${r.from}…${r.to}`).join(' '),
              String(w.counts.accepted),
              `${w.counts.refused}${w.alerted ? ' (alert)' : ''}`,
              w.closedBy,
              w.sha256?.slice(0, 12) ?? '-',
              w.workflowId ?? '-',
              w.outcome,
            ]),
          ),
        );
      } else console.log('no window landed yet');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new CliError(`${model} has no stream of ${opts.topic}`, EXIT.failed);
      }
      throw err;
    }
  });
}

export async function streamStop(
  model: string,
  opts: { topic: string; reason?: string; actor?: string },
): Promise<void> {
  await withClient(async (client) => {
    const handle = client.workflow.getHandle(streamWorkflowId(model, opts.topic));
    try {
      await handle.describe();
      const by = await decideStanding('stream', model, handle.workflowId, 'stop', null, opts.reason ?? '', opts.actor);
      await handle.terminate(`stopped by ${by}${opts.reason ? `: ${opts.reason}` : ''}`);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new CliError(`${model} has no stream of ${opts.topic}`, EXIT.failed);
      }
      throw err;
    }
    console.log(`${model}: stopped reading ${opts.topic}; the offsets of landed windows stay committed`);
  });
}
