import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import { validateBasic, type ValidationReport } from '../lib/data/validate';
import type { ModelSpec } from '../lib/spec';
import { asActivity, type ActivityDeps } from './context';

export interface ValidateInput {
  dataset: DatasetRef;
  spec: ModelSpec;
}

export interface ValidateOutput {
  report: ValidationReport;
  reportArtifact: ArtifactRef;
}

export function validateActivities(deps: ActivityDeps) {
  return {
    /** Check a snapshot against its model's contract; a failure is non-retryable and names dataset and column. */
    async validateDataset(input: ValidateInput): Promise<ValidateOutput> {
      return asActivity(async () => {
        const report = await validateBasic(input.dataset, input.spec);
        await deps.registry.recordDataset(input.dataset, report);
        const reportArtifact = await deps.store.putJson('reports/validation', report);
        return { report, reportArtifact };
      });
    },
  };
}
