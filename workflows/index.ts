export { championChange } from './champion-change';
export { trainingPipeline } from './training-pipeline';
export { verifyModel } from './verify-model';
export { modelMonitor } from './model-monitor';
export { scheduledTraining } from './scheduled-training';
export { inboxWatcher } from './inbox-watcher';
export { monitorSupervisor } from './monitor-supervisor';
export { streamIngest } from './stream-ingest';
