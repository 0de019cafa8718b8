import { Client, type ConnectionLike } from '@temporalio/client';
import type { MonitorNotifier } from '../activities/context';
import { LumenModel, LumenStage } from '../workflows/definitions';
import { monitorWorkflowId, type ChampionMovedEvent, type MonitorInput } from '../workflows/monitor-definitions';

/**
 * Tells a model's monitor that its champion moved, starting the monitor if it is not running (signal-with-start:
 * one monitor per model, started by the first promotion). A move told twice is taken once (its event id).
 */
export function temporalMonitorNotifier(
  connection: ConnectionLike,
  namespace: string,
  queues: { pipeline: string; training: string },
): MonitorNotifier {
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
  };
}
