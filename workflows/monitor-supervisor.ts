import { continueAsNew, log, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities';
import { BOOKKEEPING } from './activity-options';

const bookkeeping = proxyActivities<PipelineActivities>(BOOKKEEPING);

export interface SupervisorInput {
  /** minutes between two reconciliations (default 1) */
  everyMinutes?: number;
}

/** One supervisor per pipeline task queue: the workers of a deployment share it. */
export function supervisorWorkflowId(pipelineQueue: string): string {
  return `supervisor:${pipelineQueue}`;
}

/** Continue as new after this many rounds: a few events a round keeps the history short. */
const ROUNDS_PER_RUN = 200;

/**
 * Reconciles what should exist with what does: every model with a champion has exactly one running monitor. A
 * promotion starts its model's monitor, but a telling that was lost, a monitor terminated by hand or one that
 * failed would leave a served model unwatched without a word; this finds it within a round, starts it again and
 * raises a critical alert. Every pipeline worker starts it (it is one per task queue, so the others join it).
 */
export async function monitorSupervisor(input: SupervisorInput = {}): Promise<void> {
  const every = (input.everyMinutes ?? 1) * 60_000;
  for (let round = 0; round < ROUNDS_PER_RUN; round++) {
    try {
      const { restarted } = await bookkeeping.reconcileMonitors();
      if (restarted.length) log.warn('monitors started again', { restarted });
    } catch (err) {
      // the next round tries again; the activity's own retries have already been spent
      log.error('reconciling monitors failed', { error: (err as Error).message });
    }
    await sleep(every);
    if (workflowInfo().continueAsNewSuggested) break;
  }
  await continueAsNew<typeof monitorSupervisor>(input);
}
