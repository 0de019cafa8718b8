import type { SourceRef } from '../lib/data/source';
import type { ModelSpec } from '../lib/spec';

export interface ScheduledTrainingInput {
  scheduleId: string;
  model: string;
  /** a source file read on every run (its content decides whether there is anything new); absent: the newest
   * accepted data plus labelled feedback */
  source?: SourceRef;
  /** the spec to train with; absent: the champion's */
  spec?: ModelSpec;
  trainingTaskQueue?: string;
  /** pause the schedule after this many failed runs in a row (default 3) */
  maxFailures?: number;
}

export interface ScheduledTrainingResult {
  outcome: 'trained' | 'skipped';
  /** the training pipeline's workflow id */
  pipeline: string;
  detail: string;
  version: number | null;
}

/** The workflow id prefix of runs a schedule starts (the server appends the scheduled time). */
export function scheduledRunWorkflowId(scheduleId: string): string {
  return `scheduled:${scheduleId}`;
}
