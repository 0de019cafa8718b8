import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  type Client,
  type WorkflowHandleWithFirstExecutionRunId,
  type WorkflowHandle,
} from '@temporalio/client';
import { describeSource, sourceFingerprint, type SourceRef } from '../lib/data/source';
import type { ModelSpec } from '../lib/spec';
import {
  LumenModel,
  LumenStage,
  PIPELINE_QUEUE,
  trainingWorkflowId,
  type PipelineOptions,
} from '../workflows/definitions';
import type { trainingPipeline } from '../workflows';

export interface StartedPipeline {
  workflowId: string;
  handle: WorkflowHandle<typeof trainingPipeline>;
  /** true when this exact batch was already trained (or is training) under this workflow id */
  deduplicated: boolean;
}

/**
 * Start the training pipeline for one batch. The id is derived from the batch's content, and a completed run
 * with that id cannot be started again (a failed one can): the same data never trains twice. A run already in
 * flight for the batch is joined rather than duplicated.
 */
export async function startTrainingPipeline(
  client: Client,
  spec: ModelSpec,
  source: SourceRef,
  options: PipelineOptions = {},
  taskQueue = PIPELINE_QUEUE,
): Promise<StartedPipeline> {
  const workflowId = trainingWorkflowId(spec.name, await sourceFingerprint(source));
  // Informational only: the server's id policies, not this check, are what prevent a second run.
  const running = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => d.status.name === 'RUNNING')
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    });
  try {
    const handle: WorkflowHandleWithFirstExecutionRunId<typeof trainingPipeline> = await client.workflow.start(
      'trainingPipeline',
      {
        taskQueue,
        workflowId,
        args: [{ spec, source, options }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        typedSearchAttributes: [
          { key: LumenModel, value: spec.name },
          { key: LumenStage, value: 'queued' },
        ],
        staticSummary: `train ${spec.name} on ${describeSource(source)}`.slice(0, 200),
        staticDetails: `Model **${spec.name}** (${spec.task}).\n\nSource: \`${describeSource(source)}\``,
      },
    );
    return { workflowId, handle, deduplicated: running };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { workflowId, handle: client.workflow.getHandle(workflowId), deduplicated: true };
    }
    throw err;
  }
}
