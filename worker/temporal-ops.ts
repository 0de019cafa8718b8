import { Client, WorkflowNotFoundError, type ConnectionLike } from '@temporalio/client';
import type { TemporalOps } from '../activities/context';
import { LumenModel, LumenStage } from '../workflows/definitions';
import { supervisorWorkflowId, type SupervisorInput } from '../workflows/monitor-supervisor';
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
    async monitorRunning(model: string): Promise<boolean> {
      try {
        const described = await client.workflow.getHandle(monitorWorkflowId(model)).describe();
        return described.status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
    async pauseSchedule(scheduleId: string, note: string): Promise<void> {
      await client.schedule.getHandle(scheduleId).pause(note);
    },
  };
}

/**
 * Start the task queue's monitor supervisor unless it runs (workflows/monitor-supervisor.ts): each pipeline worker
 * calls this as it starts, so a deployment always has one, and a worker that starts reconciles at once.
 */
export async function ensureSupervisor(
  connection: ConnectionLike,
  namespace: string,
  pipelineQueue: string,
): Promise<void> {
  const client = new Client({ connection, namespace });
  const args: [SupervisorInput] = [{}];
  await client.workflow.start('monitorSupervisor', {
    workflowId: supervisorWorkflowId(pipelineQueue),
    taskQueue: pipelineQueue,
    args,
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: 'keeps one running monitor per served model',
  });
}
