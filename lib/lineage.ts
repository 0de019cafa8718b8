import type { ArtifactStore } from './artifacts';
import { readJsonArtifact } from './artifacts/store';
import { NotFoundError } from './errors';
import type { ImportanceComparison } from './explain/importance';
import type {
  AuditEvent,
  AliasEvent,
  ApprovalRecord,
  DatasetRecord,
  ModelVersion,
  Registry,
  ValidationRecord,
} from './registry/types';

/** Everything known about how one model version came to be, and what happened to it since. */
export interface VersionLineageView {
  version: ModelVersion;
  /** the data trained on, and the batch it came from when they differ */
  trainingDataset: DatasetRecord | null;
  sourceDataset: DatasetRecord | null;
  validation: ValidationRecord | null;
  validationSummary: string | null;
  promotions: AliasEvent[];
  approvals: ApprovalRecord[];
  /**
   * people's decisions about it, as verified (accepted or refused, signed or claimed): those taken in the run that
   * made it (its start, its batch's release, its approval) and those naming it since (promotion, rollback, alias)
   */
  decisions: AuditEvent[];
  isChampion: boolean;
}

/** the audit rows that are a person's decision checked, not a change recorded */
const VERDICTS = new Set<AuditEvent['outcome']>(['accepted', 'refused']);

export async function versionLineage(
  registry: Registry,
  store: ArtifactStore,
  model: string,
  versionNumber: number,
): Promise<VersionLineageView> {
  const version = await registry.getVersion(model, versionNumber);
  if (!version) throw new NotFoundError(`${model} v${versionNumber} is not registered`);
  const trainingDataset = (await registry.getDataset(version.datasetSha256)) ?? null;
  const sourceDataset =
    version.lineage.sourceDataset === version.datasetSha256
      ? trainingDataset
      : ((await registry.getDataset(version.lineage.sourceDataset)) ?? null);
  const validation = version.lineage.validation.id
    ? ((await registry.getValidation(version.lineage.validation.id)) ?? null)
    : null;
  let validationSummary: string | null = null;
  if (validation) {
    try {
      const report = (await readJsonArtifact(store, validation.report)) as { summary?: string };
      validationSummary = report.summary ?? null;
    } catch (err) {
      validationSummary = `(report unreadable: ${(err as Error).message})`;
    }
  }
  const promotions = (await registry.aliasHistory(model)).filter(
    (e) => e.toVersion === versionNumber || e.fromVersion === versionNumber,
  );
  return {
    version,
    trainingDataset,
    sourceDataset,
    validation,
    validationSummary,
    promotions,
    approvals: await registry.listApprovals({ model, version: versionNumber }),
    decisions: (await registry.listAudit({ model, limit: 100_000 })).filter(
      (e) =>
        VERDICTS.has(e.outcome) &&
        (e.workflowId === version.workflowId || e.subject.version === versionNumber || e.subject.to === versionNumber),
    ),
    isChampion: (await registry.alias(model, 'champion')) === versionNumber,
  };
}

/** The permutation importance measured when the version was evaluated (null: before it was measured, or not). */
export function versionImportance(v: ModelVersion): ImportanceComparison | null {
  return (v.evaluation as { importance?: ImportanceComparison | null }).importance ?? null;
}

/** Every model version trained on a dataset (as ingested, or on its good rows), with the validations of it. */
export async function datasetLineage(
  registry: Registry,
  sha256: string,
): Promise<{ dataset: DatasetRecord | null; versions: ModelVersion[]; validations: ValidationRecord[] }> {
  return {
    dataset: (await registry.getDataset(sha256)) ?? null,
    versions: await registry.modelsTrainedOn(sha256),
    validations: await registry.listValidations({ dataset: sha256 }),
  };
}
