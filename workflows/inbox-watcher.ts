import {
  ParentClosePolicy,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  log,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { PipelineActivities } from '../activities';
import { BOOKKEEPING, DATA_WORK } from './activity-options';
import { LumenModel, LumenStage, trainingWorkflowId } from './definitions';
import {
  inboxStatusQuery,
  scanNowSignal,
  watchContent,
  type InboxArrival,
  type InboxInput,
  type InboxState,
} from './inbox-definitions';
import { guardedSignal, noDroppedMessages } from './messages';
import { scanRequestPayload } from './message-shapes';
import { STANDING_GRANTS } from './scheduled-training';
import { trainingPipeline } from './training-pipeline';

const data = proxyActivities<PipelineActivities>(DATA_WORK);
const bookkeeping = proxyActivities<PipelineActivities>(BOOKKEEPING);

const KEEP_ARRIVALS = 100;

/**
 * Watches a folder for arriving batches (`lumen inbox watch`): every few seconds (a durable timer) a scan stages
 * each settled file by content; a training pipeline starts per content (its workflow id derives from it, so the same
 * bytes under any name, dropped any number of times, train once), and only then is the file cleared from the inbox.
 * A crash anywhere in between repeats the scan, which finds the pipeline already started: no arrival is lost or
 * merged with another, and none runs twice.
 */
export async function inboxWatcher(input: InboxInput): Promise<void> {
  const info = workflowInfo();
  const every = (input.everySeconds ?? 10) * 1000;
  const state: InboxState = input.state ?? { scans: 0, arrivals: [], lastError: null, generation: 0 };
  let scanRequested = false;
  state.dropped ??= noDroppedMessages();
  setHandler(
    scanNowSignal,
    guardedSignal(
      'scanNow',
      state.dropped,
      scanRequestPayload,
      () => {
        scanRequested = true;
      },
      { model: input.model },
    ),
  );
  setHandler(inboxStatusQuery, () => ({
    ...state,
    dropped: state.dropped!,
    model: input.model,
    dir: input.dir,
    everySeconds: every / 1000,
  }));
  upsertSearchAttributes([
    { key: LumenModel, value: input.model },
    { key: LumenStage, value: 'watching' },
  ]);
  const limit = input.historyLimit ?? 2000;
  // its runs carry no signature of their own: they act for whoever's verified decision started this watch
  let actsFor: string | null = null;
  if (patched(STANDING_GRANTS)) {
    const grant = await bookkeeping.checkGrant({
      kind: 'inbox',
      id: info.workflowId,
      model: input.model,
      content: watchContent(input),
    });
    actsFor = grant.actsFor;
  }
  for (;;) {
    try {
      const scan = await data.scanInbox({ model: input.model, dir: input.dir, spec: input.spec });
      // files refused by the source rules stay in the folder, and the watch says why
      state.lastError = scan.refused?.length ? scan.refused.join('; ') : null;
      for (const file of scan.files) {
        const workflowId = trainingWorkflowId(input.model, file.fingerprint);
        let outcome: InboxArrival['outcome'] = 'started';
        try {
          await startChild(trainingPipeline, {
            workflowId,
            taskQueue: info.taskQueue,
            args: [
              {
                spec: scan.spec!,
                source: file.source,
                options: {
                  actor: `inbox ${input.dir}`,
                  trainingTaskQueue: input.trainingTaskQueue,
                  ...(actsFor ? { requestedBy: actsFor } : {}),
                },
              },
            ],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          outcome = 'already-started';
        }
        await bookkeeping.clearInboxFile({ dir: input.dir, name: file.name, sha256: file.sha256 });
        state.arrivals.push({
          at: new Date(Date.now()).toISOString(),
          name: file.name,
          sha256: file.sha256,
          workflowId,
          outcome,
        });
        if (state.arrivals.length > KEEP_ARRIVALS) state.arrivals.splice(0, state.arrivals.length - KEEP_ARRIVALS);
      }
    } catch (err) {
      // the watcher outlives a bad scan (a folder gone, no spec yet): it says so and tries again
      state.lastError = (err as Error).message;
      log.warn('inbox scan failed', { dir: input.dir, error: state.lastError });
    }
    state.scans++;
    await condition(() => scanRequested, every);
    scanRequested = false;
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > limit) {
      state.generation++;
      await continueAsNew<typeof inboxWatcher>({ ...input, state });
    }
  }
}
