import type { DatasetRef } from '../lib/data/snapshot';
import { snapshotSource } from '../lib/data/snapshot';
import type { SourceRef } from '../lib/data/source';
import { asActivity, type ActivityDeps } from './context';

export interface IngestInput {
  source: SourceRef;
}

export function ingestActivities(deps: ActivityDeps) {
  return {
    /** Read a source batch and write its content-addressed Parquet snapshot. */
    async ingestDataset(input: IngestInput): Promise<DatasetRef> {
      return asActivity(() => snapshotSource(deps.store, input.source));
    },
  };
}
