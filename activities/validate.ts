import type { ArtifactRef } from '../lib/artifacts';
import type { DatasetRef } from '../lib/data/snapshot';
import type { ValidationDecision } from '../lib/registry/types';
import type { ModelSpec } from '../lib/spec';
import type { Check } from '../lib/validation/checks';
import { findReference } from '../lib/validation/reference';
import { validateBatch, validationError } from '../lib/validation/report';
import { asActivity, type ActivityDeps } from './context';

export interface ValidateInput {
  dataset: DatasetRef;
  spec: ModelSpec;
  workflowId: string;
  runId: string;
}

/** What the workflow needs to decide; the full report stays an artifact. */
export interface ValidateOutput {
  validationId: number;
  outcome: 'pass' | 'warn' | 'fail';
  trainable: boolean;
  decision: ValidationDecision;
  summary: string;
  /** the checks that did not pass */
  findings: Check[];
  contractHash: string;
  reference: { sha256: string; kind: string } | null;
  report: ArtifactRef;
  html: ArtifactRef;
  profile: ArtifactRef;
  quarantine: ArtifactRef | null;
  /** the batch, or its good rows when some were set aside */
  trainingDataset: DatasetRef;
  badRows: number;
}

export interface DecideQuarantineInput {
  validationId: number;
  decision: 'released' | 'discarded' | 'rejected';
  by: string;
  reason: string;
}

export function validateActivities(deps: ActivityDeps) {
  return {
    /**
     * Validate a batch against the model's contract and its reference, record the verdict, and return it.
     * A batch with nothing trainable (no rows, a required column missing, unreadable types, every row bad) is a
     * non-retryable DataValidationError; any other failure is returned for the workflow to quarantine.
     */
    async validateDataset(input: ValidateInput): Promise<ValidateOutput> {
      return asActivity(async () => {
        const reference = await findReference(deps.registry, deps.store, input.spec);
        const result = await validateBatch(deps.store, input.spec, input.dataset, reference);
        const { report } = result;
        await deps.registry.recordDataset(input.dataset, result.profileArtifact);
        if (result.trainingDataset.sha256 !== input.dataset.sha256)
          await deps.registry.recordDataset(result.trainingDataset, null);
        const decision: ValidationDecision =
          report.outcome !== 'fail' ? 'accepted' : report.trainable ? 'quarantined' : 'failed';
        const record = await deps.registry.recordValidation({
          model: input.spec.name,
          datasetSha256: input.dataset.sha256,
          outcome: report.outcome,
          trainable: report.trainable,
          contractHash: report.contractHash,
          report: result.reportArtifact,
          html: result.htmlArtifact,
          profile: result.profileArtifact,
          quarantine: result.quarantine ?? null,
          trainingDatasetSha256: result.trainingDataset.sha256,
          decision,
          decidedBy: decision === 'quarantined' ? null : 'contract',
          reason: decision === 'quarantined' ? null : report.summary,
          workflowId: input.workflowId,
          runId: input.runId,
        });
        if (decision === 'failed') throw validationError(report);
        return {
          validationId: record.id,
          outcome: report.outcome,
          trainable: report.trainable,
          decision,
          summary: report.summary,
          findings: report.checks.filter((c) => c.outcome !== 'pass'),
          contractHash: report.contractHash,
          reference: report.reference && { sha256: report.reference.sha256, kind: report.reference.kind },
          report: result.reportArtifact,
          html: result.htmlArtifact,
          profile: result.profileArtifact,
          quarantine: result.quarantine ?? null,
          trainingDataset: result.trainingDataset,
          badRows: report.rows.badRows,
        };
      });
    },

    /** Record how a quarantine ended: released by a person, discarded by a person, or rejected on timeout. */
    async decideQuarantine(input: DecideQuarantineInput): Promise<void> {
      await asActivity(() =>
        deps.registry.decideValidation(input.validationId, input.decision, input.by, input.reason),
      );
    },
  };
}
