import { accessActivities } from './access';
import { alertActivities } from './alert';
import type { ActivityDeps } from './context';
import { evaluateActivities } from './evaluate';
import { governanceActivities } from './governance';
import { inboxActivities } from './inbox';
import { ingestActivities } from './ingest';
import { monitorActivities } from './monitor';
import { scheduleActivities } from './schedule';
import { streamActivities } from './stream';
import { registryActivities } from './registry';
import { checkpointActivities, trainActivities } from './train';
import { validateActivities } from './validate';

export type { ActivityDeps } from './context';

/** Light activities: I/O and bookkeeping, run on the pipeline task queue. */
export function createPipelineActivities(deps: ActivityDeps) {
  return {
    ...ingestActivities(deps),
    ...validateActivities(deps),
    ...registryActivities(deps),
    ...alertActivities(deps),
    ...monitorActivities(deps),
    ...scheduleActivities(deps),
    ...inboxActivities(deps),
    ...streamActivities(deps),
    ...accessActivities(deps),
    ...governanceActivities(deps),
    ...checkpointActivities(deps),
  };
}

/** Heavy activities: tfjs training and scoring, run on the training task queue with low concurrency. */
export function createTrainingActivities(deps: ActivityDeps) {
  return { ...trainActivities(deps), ...evaluateActivities(deps) };
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
