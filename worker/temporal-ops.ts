import { Client, type ConnectionLike } from '@temporalio/client';
import type { TemporalOps } from '../activities/context';
import { LumenModel, LumenStage } from '../workflows/definitions';
import { monitorWorkflowId, type ChampionMovedEvent, type MonitorInput } from '../workflows/monitor-definitions';

/**
 * What activities ask of Temporal: tell a model's monitor that its champion moved, starting the monitor if it is
 * not running (signal-with-start: one monitor per model, started by the first promotion; a move told twice is
 * taken once, by its event id); pause a schedule that keeps failing.
 */
export function temporalOps(
  connection: ConnectionLike,
  namespace: string,
  queues: { pipeline: string; training: string },
): TemporalOps {
  const client = new Client({ connection, namespace });
  return {
    async championMoved(model: string, event: ChampionMovedEvent): Promise<void> {
      const args: [MonitorInput] = [{ model, trainingTaskQueue: queues.training }];
      await client.workflow.signalWithStart('modelMonitor', {
        workflowId: monitorWorkflowId(model),
        taskQueue: queues.pipeline,
        args,
        signal: 'championMoved',
        signalArgs: [event],
        typedSearchAttributes: [
          { key: LumenModel, value: model },
          { key: LumenStage, value: 'monitoring' },
        ],
        staticSummary: `monitor of ${model}: health checks, alerts, retrains and rollbacks`,
      });
    },
    async pauseSchedule(scheduleId: string, note: string): Promise<void> {
      await client.schedule.getHandle(scheduleId).pause(note);
    },
  };
}
