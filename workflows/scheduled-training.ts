import {
  ApplicationFailure,
  ParentClosePolicy,
  executeChild,
  patched,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { PipelineActivities } from '../activities';
import { BOOKKEEPING, DATA_WORK } from './activity-options';
import { LumenModel, LumenOutcome, LumenStage, trainingWorkflowId, type PipelineResult } from './definitions';
import type { ScheduledTrainingInput, ScheduledTrainingResult } from './schedule-definitions';
import { trainingPipeline } from './training-pipeline';
import { failureMessage } from './failures';

const bookkeeping = proxyActivities<PipelineActivities>(BOOKKEEPING);

/**
 * Runs since this patch check that a verified decision created their schedule with this content (and acts for
 * that person); runs before it replay without the check.
 */
export const STANDING_GRANTS = 'lumen-standing-grants';
const data = proxyActivities<PipelineActivities>(DATA_WORK);

/**
 * What a schedule starts (`lumen schedule create`): plan what to train on — a source file as it is now, or the
 * newest accepted data plus labelled feedback — and run the training pipeline on it, waiting for it to end (so
 * with the overlap policy "skip", one run at a time). The pipeline's workflow id derives from the content, so
 * content already trained on is not trained again. Every run is recorded; after `maxFailures` failed runs in a
 * row the schedule pauses itself and raises a critical alert.
 */
export async function scheduledTraining(input: ScheduledTrainingInput): Promise<ScheduledTrainingResult> {
  const info = workflowInfo();
  upsertSearchAttributes([
    { key: LumenModel, value: input.model },
    { key: LumenStage, value: 'scheduled' },
  ]);
  const maxFailures = input.maxFailures ?? 3;
  let result: ScheduledTrainingResult;
  try {
    // runs carry no signature of their own: they act for whoever's verified decision created the schedule as it is
    let actsFor: string | null = null;
    if (patched(STANDING_GRANTS)) {
      const grant = await bookkeeping.checkGrant({
        kind: 'schedule',
        id: input.scheduleId,
        model: input.model,
        content: input,
      });
      actsFor = grant.actsFor;
    }
    const plan = await data.planScheduledTraining({ model: input.model, source: input.source, spec: input.spec });
    const child = trainingWorkflowId(input.model, plan.fingerprint);
    try {
      const r: PipelineResult = await executeChild(trainingPipeline, {
        workflowId: child,
        taskQueue: info.taskQueue,
        args: [
          {
            spec: plan.spec,
            source: plan.source,
            options: {
              actor: `schedule ${input.scheduleId}`,
              trainingTaskQueue: input.trainingTaskQueue,
              ...(actsFor ? { requestedBy: actsFor } : {}),
            },
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        // content trained on already is not trained again; a run that failed may be tried again
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      });
      result = {
        outcome: 'trained',
        pipeline: child,
        detail: `${r.outcome} on ${plan.description}`,
        version: r.version,
      };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      result = { outcome: 'skipped', pipeline: child, detail: `${child} already ran on this content`, version: null };
    }
  } catch (err) {
    const detail = failureMessage(err);
    const recorded = await bookkeeping.recordScheduleRun({
      scheduleId: input.scheduleId,
      model: input.model,
      workflowId: info.workflowId,
      runId: info.runId,
      ok: false,
      detail,
      maxFailures,
    });
    upsertSearchAttributes([{ key: LumenOutcome, value: recorded.paused ? 'failed-paused' : 'failed' }]);
    throw ApplicationFailure.nonRetryable(
      `${detail} (${recorded.failuresInRow} failed run(s) in a row${recorded.paused ? '; the schedule is paused' : ''})`,
      'ScheduledRunFailed',
    );
  }
  await bookkeeping.recordScheduleRun({
    scheduleId: input.scheduleId,
    model: input.model,
    workflowId: info.workflowId,
    runId: info.runId,
    ok: true,
    detail: result.detail,
    maxFailures,
  });
  upsertSearchAttributes([{ key: LumenOutcome, value: result.outcome }]);
  return result;
}
