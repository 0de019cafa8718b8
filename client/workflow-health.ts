import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/**
 * Why a running workflow does not answer its query, in a sentence a person can act on: a workflow task that keeps
 * failing (with the worker's error), or no worker polling its task queue. A workflow stuck like this still accepts
 * signals, so a command that only sends one would report success over a workflow that will never act on it.
 */

/** How long a command waits for a workflow to answer a query before it asks why not. */
export const QUERY_DEADLINE_MS = 15_000;

export async function queryOrExplain<T>(client: Client, handle: WorkflowHandle, query: () => Promise<T>): Promise<T> {
  try {
    return await client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, query);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw err;
    const why = await whyNotAnswering(client, handle).catch(() => null);
    throw new WorkflowNotAnswering(handle.workflowId, why ?? (err as Error).message.split('\n')[0]);
  }
}

export class WorkflowNotAnswering extends Error {
  constructor(
    readonly workflowId: string,
    readonly reason: string,
  ) {
    super(`${workflowId} does not answer: ${reason}`);
  }
}

/** The reason a workflow does not make progress, or null when none is visible. */
export async function whyNotAnswering(client: Client, handle: WorkflowHandle): Promise<string | null> {
  const described = await handle.describe();
  const pending = described.raw.pendingWorkflowTask;
  if ((pending?.attempt ?? 0) > 1) {
    const failure = await lastTaskFailure(handle);
    return (
      `its workflow task has failed ${pending!.attempt! - 1} time(s) and is retried without end` +
      (failure ? `: ${failure}` : '') +
      ` — fix the worker (its log has the stack) and it resumes by itself, or move it past the failing task: ` +
      `temporal workflow reset --workflow-id ${handle.workflowId} --type LastWorkflowTask --reason "<why>"`
    );
  }
  const pollers = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: described.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  if ((pollers.pollers ?? []).length === 0) {
    return `no worker polls its task queue "${described.taskQueue}": start one (npm run worker)`;
  }
  return null;
}

/** The message of the newest workflow task failure in the history (the first of a run of them is recorded). */
async function lastTaskFailure(handle: WorkflowHandle): Promise<string | null> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const failure = events[i].workflowTaskFailedEventAttributes?.failure;
    if (failure) return (failure.message ?? 'no message').split('\n')[0].slice(0, 400);
  }
  return null;
}
