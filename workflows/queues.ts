/**
 * The task queues a deployment's workers poll unless LUMEN_PIPELINE_QUEUE / LUMEN_TRAINING_QUEUE say others. A module
 * of its own, importing nothing, so a command that only names them does not load the workflow SDK.
 */
export const PIPELINE_QUEUE = 'lumen-pipeline';
export const TRAINING_QUEUE = 'lumen-training';
