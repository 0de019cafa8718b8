import { withRegisteredPolicy } from '../lib/access/model-policy';
import { raiseAlert } from '../lib/alerts';
import { sourceFingerprint, storeAccess, type SourceRef } from '../lib/data/source';
import { NotFoundError } from '../lib/errors';
import { buildRetrainBatch } from '../lib/monitor/retrain';
import type { ModelSpec } from '../lib/spec';
import { asActivity, type ActivityDeps } from './context';
import { monitorPaths } from './monitor';

export interface TrainingPlan {
  spec: ModelSpec;
  source: SourceRef;
  /** identifies the content: the same content trains once (the training workflow id derives from it) */
  fingerprint: string;
  /** what the run trains on, in words */
  description: string;
}

export interface ScheduleRunInput {
  scheduleId: string;
  model: string;
  workflowId: string;
  runId: string;
  ok: boolean;
  detail: string;
  /** pause the schedule when this many runs in a row failed */
  maxFailures: number;
}

export function scheduleActivities(deps: ActivityDeps) {
  return {
    /**
     * What a scheduled run trains on: the given source file as it is now (with the given spec, or the champion's),
     * or else the newest accepted data plus labelled feedback, as the monitor's retrain does.
     */
    async planScheduledTraining(input: { model: string; source?: SourceRef; spec?: ModelSpec }): Promise<TrainingPlan> {
      return asActivity(async () => {
        if (!input.source) {
          const batch = await buildRetrainBatch(deps.store, deps.registry, monitorPaths(deps), input.model);
          return {
            spec: input.spec ?? (await withRegisteredPolicy(deps.registry, batch.spec)),
            source: batch.source,
            fingerprint: batch.fingerprint,
            description: `the newest accepted data (${batch.rows.accepted} rows) and ${batch.rows.feedback} labelled predictions`,
          };
        }
        let spec = input.spec;
        if (!spec) {
          const champion = await deps.registry.alias(input.model, 'champion');
          const record = champion === null ? undefined : await deps.registry.getVersion(input.model, champion);
          if (!record) throw new NotFoundError(`${input.model} has no champion; give the schedule a spec`);
          spec = await withRegisteredPolicy(deps.registry, record.spec);
        }
        return {
          spec,
          source: input.source,
          fingerprint: await sourceFingerprint(input.source, storeAccess(deps.store)),
          description: `${input.source.uri} as it is now`,
        };
      });
    },

    /**
     * Record how a scheduled run ended. After `maxFailures` failed runs in a row the schedule is paused (with a
     * note saying why) and a critical alert is raised: a schedule that keeps failing stops, visibly.
     */
    async recordScheduleRun(input: ScheduleRunInput): Promise<{ failuresInRow: number; paused: boolean }> {
      return asActivity(async () => {
        const { failuresInRow } = await deps.registry.recordScheduleRun({
          scheduleId: input.scheduleId,
          model: input.model,
          workflowId: input.workflowId,
          ok: input.ok,
          detail: input.detail,
        });
        if (input.ok || failuresInRow < input.maxFailures) return { failuresInRow, paused: false };
        const note = `paused after ${failuresInRow} failed runs in a row; last: ${input.detail}`.slice(0, 500);
        if (!deps.temporal) throw new Error('this worker has no Temporal client to pause the schedule with');
        await deps.temporal.pauseSchedule(input.scheduleId, note);
        await raiseAlert(deps.registry, {
          model: input.model,
          severity: 'critical',
          kind: 'schedule-paused',
          message: `schedule ${input.scheduleId} ${note}. Fix the cause, then: lumen schedule resume ${input.scheduleId}`,
          details: { scheduleId: input.scheduleId, failuresInRow },
          workflowId: input.workflowId,
          runId: input.runId,
          key: `schedule-paused:${input.scheduleId}:${input.workflowId}`,
        });
        return { failuresInRow, paused: true };
      });
    },
  };
}
