import path from 'node:path';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { describeSource, OWN_FILES, sourceFingerprint, type SourceRef } from '../lib/data/source';
import { specHash, type ModelSpec } from '../lib/spec';
import {
  LumenBatch,
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
  /**
   * started: this call started the run; running: a run for this exact batch was already in flight (it is joined,
   * never duplicated); finished: the batch was already trained, the earlier run's result stands
   */
  state: 'started' | 'running' | 'finished';
  /** true unless this call started the run */
  deduplicated: boolean;
  /** the content hash of the fully defaulted spec: with the data's fingerprint, what makes the run one run */
  specHash: string;
  dataFingerprint: string;
}

/**
 * Start the training pipeline for one batch. The id is derived from the batch's content and the spec's, and a
 * completed run with that id cannot be started again (a failed one can): the same spec never trains twice on
 * the same data, and an edited spec is a new run. The server says
 * whether this call started the run, so two people starting the same batch learn that one of them joined.
 */
export async function startTrainingPipeline(
  client: Client,
  spec: ModelSpec,
  source: SourceRef,
  options: PipelineOptions = {},
  taskQueue = PIPELINE_QUEUE,
  /** who starts it, signed over the workflow id (known only here) */
  starter?: (workflowId: string) => Pick<PipelineOptions, 'actor' | 'proof'>,
): Promise<StartedPipeline> {
  // the id only: the worker that ingests the batch checks it against its own source rules
  const dataFingerprint = await sourceFingerprint(source, OWN_FILES);
  const spec_ = specHash(spec);
  const workflowId = trainingWorkflowId(spec.name, dataFingerprint, spec_);
  if (starter) options = { ...options, ...starter(workflowId) };
  try {
    const handle = await client.workflow.start<typeof trainingPipeline>('trainingPipeline', {
      taskQueue,
      workflowId,
      args: [{ spec, source, options }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      typedSearchAttributes: [
        { key: LumenModel, value: spec.name },
        { key: LumenStage, value: 'queued' },
        { key: LumenBatch, value: batchName(source) },
      ],
      staticSummary: `train ${spec.name} on ${batchName(source)}`.slice(0, 200),
      staticDetails: `Model **${spec.name}** (${spec.task}).\n\nSource: \`${describeSource(source)}\``,
    });
    return { workflowId, handle, state: 'started', deduplicated: false, specHash: spec_, dataFingerprint };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const handle = client.workflow.getHandle<typeof trainingPipeline>(workflowId);
    const running = (await handle.describe()).status.name === 'RUNNING';
    const state = running ? 'running' : 'finished';
    return { workflowId, handle, state, deduplicated: true, specHash: spec_, dataFingerprint };
  }
}

/** A batch as a person names it: its month, its window, or its file. */
export function batchName(source: SourceRef): string {
  const file = source.uri.startsWith('vega-datasets:') ? source.uri : path.basename(source.uri);
  const w = source.window;
  if (!w) return file;
  const month = /^(\d{4}-\d{2})-01$/.exec(w.start)?.[1];
  const next = month && new Date(`${month}-01T00:00:00Z`);
  if (next) next.setUTCMonth(next.getUTCMonth() + 1);
  if (month && next && w.end === next.toISOString().slice(0, 10)) return month;
  return `${w.start}…${w.end}`;
}
