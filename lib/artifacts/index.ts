export * from './store';
export { FileArtifactStore } from './file';
export { openArtifactStore, storeFromConfig } from './open';
