import {
  ParentClosePolicy,
  continueAsNew,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  log,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { PipelineActivities } from '../activities';
import { BOOKKEEPING, STREAM_READ } from './activity-options';
import { LumenModel, LumenStage, trainingWorkflowId } from './definitions';
import {
  streamContent,
  streamGroup,
  streamStatusQuery,
  type StreamInput,
  type StreamState,
  type StreamWindow,
} from './stream-definitions';
import { failureMessage } from './failures';
import { trainingPipeline } from './training-pipeline';

const stream = proxyActivities<PipelineActivities>(STREAM_READ);
const bookkeeping = proxyActivities<PipelineActivities>(BOOKKEEPING);

const KEEP_WINDOWS = 50;
/** windows failing in a row before the stream alerts (each waits 30 s after its activity's own retries) */
const FAILURES_ALERTED = 3;
/** with nothing to read, how long one read waits before the workflow records a turn and asks again */
const WAIT_SECONDS = 60;

/**
 * A Kafka topic as a source of batches (`lumen stream ingest`): window after window, events are read from where the
 * last window ended, checked against the row contract (refused ones to the dead-letter topic, with reasons), and
 * landed as a Parquet batch; a training pipeline starts per batch content, by the inbox's rules; and only then are
 * the window's offsets committed. A reader killed mid-window has committed nothing: the retry reads the same events
 * and lands the same batch, whose run id is already taken, so it trains once.
 */
export async function streamIngest(input: StreamInput): Promise<void> {
  const info = workflowInfo();
  const group = streamGroup(input.model, input.topic);
  const state: StreamState = input.state ?? {
    next: null,
    windows: [],
    totals: { events: 0, accepted: 0, refused: 0, duplicates: 0, windows: 0 },
    lastError: null,
    generation: 0,
  };
  setHandler(streamStatusQuery, () => ({
    ...state,
    model: input.model,
    topic: input.topic,
    group,
    rule: input.rule,
    deadLetterTopic: input.deadLetterTopic,
  }));
  upsertSearchAttributes([
    { key: LumenModel, value: input.model },
    { key: LumenStage, value: 'streaming' },
  ]);
  const limit = input.historyLimit ?? 2000;
  // its runs act for whoever's verified decision started this stream
  const grant = await bookkeeping.checkGrant({
    kind: 'stream',
    id: info.workflowId,
    model: input.model,
    content: streamContent(input),
  });
  /** a side effect that follows a landed window: retried by its activity; if it still fails, said, never re-read */
  const said = async (effect: Promise<unknown>): Promise<void> => {
    try {
      await effect;
    } catch (err) {
      state.lastError = failureMessage(err);
      log.warn('stream bookkeeping failed', { topic: input.topic, error: state.lastError });
    }
  };
  let failures = 0;
  for (;;) {
    try {
      const read = await stream.readStreamWindow({
        model: input.model,
        topic: input.topic,
        group,
        from: state.next,
        rule: input.rule,
        ...(input.spec ? { spec: input.spec } : {}),
        deadLetterTopic: input.deadLetterTopic,
        maxEventBytes: input.maxEventBytes,
        idleSeconds: input.idleSeconds,
        waitSeconds: WAIT_SECONDS,
      });
      state.lastError = null;
      failures = 0;
      // events the stream never read: deleted by retention first, or a topic recreated under it
      if (read.gaps.length) {
        // reading goes on from where the log now starts, whether or not this window found events
        if (read.closedBy === 'nothing') state.next = read.next;
        await said(
          bookkeeping.alert({
            model: input.model,
            severity: 'critical',
            kind: 'stream-gap',
            message: read.gaps
              .map((g) =>
                g.kind === 'skipped'
                  ? `${input.topic} partition ${g.partition}: events ${g.expected}…${g.from} were deleted before they were read`
                  : `${input.topic} partition ${g.partition} ends before offset ${g.expected} where reading stood (recreated?): read again from ${g.from}`,
              )
              .join('; '),
            details: { topic: input.topic, gaps: read.gaps },
            workflowId: info.workflowId,
            runId: info.runId,
            key: `stream-gap:${input.model}:${input.topic}:${read.gaps.map((g) => `${g.partition}@${g.expected}`).join(',')}`,
          }),
        );
      }
      if (read.closedBy !== 'nothing') {
        const entry: StreamWindow = {
          at: new Date(Date.now()).toISOString(),
          ranges: read.ranges,
          counts: read.counts,
          window: read.window,
          span: read.span,
          closedBy: read.closedBy,
          sha256: read.batch?.sha256 ?? null,
          workflowId: null,
          outcome: 'no-rows',
          alerted: false,
        };
        if (read.batch) {
          entry.workflowId = trainingWorkflowId(input.model, read.batch.fingerprint);
          entry.outcome = 'started';
          try {
            await startChild(trainingPipeline, {
              workflowId: entry.workflowId,
              taskQueue: info.taskQueue,
              args: [
                {
                  spec: read.spec,
                  source: read.batch.source,
                  options: {
                    actor: `stream ${input.topic}`,
                    trainingTaskQueue: input.trainingTaskQueue,
                    ...(grant.actsFor ? { requestedBy: grant.actsFor } : {}),
                  },
                },
              ],
              parentClosePolicy: ParentClosePolicy.ABANDON,
              workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            });
          } catch (err) {
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
            entry.outcome = 'already-started';
          }
        }
        // the window is durable and handed on: from here, the stream goes on past it whatever follows
        state.next = read.next;
        state.windows.push(entry);
        if (state.windows.length > KEEP_WINDOWS) state.windows.splice(0, state.windows.length - KEEP_WINDOWS);
        state.totals.windows++;
        state.totals.events += read.counts.events;
        state.totals.accepted += read.counts.accepted;
        state.totals.refused += read.counts.refused;
        state.totals.duplicates += read.counts.duplicates;
        const windowKey = read.ranges.map((r) => `${r.partition}@${r.from}`).join(',');
        // more refused events than the contract lets a batch have: the producers changed, someone must look
        const share = read.counts.events ? read.counts.refused / read.counts.events : 0;
        const allowed = read.spec.validation.maxBadRowShare;
        if (share > allowed) {
          entry.alerted = true;
          await said(
            bookkeeping.alert({
              model: input.model,
              severity: 'warning',
              kind: 'stream-refused',
              message:
                `${read.counts.refused} of ${read.counts.events} events of ${input.topic} refused ` +
                `(${(100 * share).toFixed(1)}%, above the contract's ${(100 * allowed).toFixed(1)}%); ` +
                `by problem: ${Object.entries(read.counts.refusedBy)
                  .map(([code, n]) => `${code} ${n}`)
                  .join(', ')}; they are in ${input.deadLetterTopic} with their reasons`,
              details: {
                topic: input.topic,
                ranges: read.ranges,
                counts: read.counts,
                deadLetterTopic: input.deadLetterTopic,
              },
              workflowId: info.workflowId,
              runId: info.runId,
              key: `stream-refused:${input.model}:${input.topic}:${windowKey}`,
            }),
          );
        }
        // only now may a new reader start past the window (a commit that fails is made by the next window's)
        await said(
          bookkeeping.commitStreamOffsets({ model: input.model, topic: input.topic, group, offsets: read.next }),
        );
      }
    } catch (err) {
      // the stream outlives a bad turn (a broker away, no spec yet): it says so, waits and tries again
      state.lastError = failureMessage(err);
      failures++;
      log.warn('stream window failed', { topic: input.topic, error: state.lastError });
      if (failures === FAILURES_ALERTED) {
        await said(
          bookkeeping.alert({
            model: input.model,
            severity: 'critical',
            kind: 'stream-failing',
            message: `${input.topic}: ${failures} windows in a row could not be read or landed; the last: ${state.lastError}`,
            details: { topic: input.topic, failures },
            workflowId: info.workflowId,
            runId: info.runId,
            key: `stream-failing:${input.model}:${input.topic}:${state.totals.windows}`,
          }),
        );
      }
      await sleep('30 seconds');
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > limit) {
      state.generation++;
      await continueAsNew<typeof streamIngest>({ ...input, state });
    }
  }
}
