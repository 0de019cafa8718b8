export { championChange } from './champion-change';
export { trainingPipeline } from './training-pipeline';
