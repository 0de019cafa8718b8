import type { ArtifactStore } from '../artifacts';
import { readJsonArtifact } from '../artifacts/store';
import type { DatasetRecord, Registry } from '../registry/types';
import type { ModelSpec, SourceColumn } from '../spec';
import { Profile, profileDataset } from './profile';
import type { ReferenceData } from './report';

/**
 * A registered dataset's profile, the reference drift is measured against: the one recorded with it, or — for data
 * registered without one (the good rows of a batch with quarantined rows) — profiled now and recorded, once.
 */
export async function referenceProfile(
  registry: Registry,
  store: ArtifactStore,
  dataset: DatasetRecord,
  columns: SourceColumn[],
): Promise<Profile> {
  if (dataset.profile) return Profile.parse(await readJsonArtifact(store, dataset.profile));
  const profile = await profileDataset(store, dataset, undefined, columns);
  await registry.recordDataset(dataset, await store.putJson('profiles', profile));
  return profile;
}

/**
 * The data a new batch is compared with: the champion's training data, or the newest accepted batch of the model
 * (the spec says which comes first; the other is the fallback). None for a model's very first batch.
 */
export async function findReference(
  registry: Registry,
  store: ArtifactStore,
  spec: ModelSpec,
): Promise<ReferenceData | null> {
  const champion = async (): Promise<ReferenceData | null> => {
    const version = await registry.alias(spec.name, 'champion');
    const record = version === null ? undefined : await registry.getVersion(spec.name, version);
    return record ? load(record.datasetSha256, 'champion') : null;
  };
  const lastAccepted = async (): Promise<ReferenceData | null> => {
    const v = await registry.lastAccepted(spec.name);
    return v ? load(v.trainingDatasetSha256, 'lastAccepted') : null;
  };
  const load = async (sha256: string, kind: ReferenceData['kind']): Promise<ReferenceData | null> => {
    const dataset = await registry.getDataset(sha256);
    if (!dataset) return null;
    return { dataset, profile: await referenceProfile(registry, store, dataset, spec.source.columns), kind };
  };
  return spec.validation.drift.reference === 'champion'
    ? ((await champion()) ?? (await lastAccepted()))
    : ((await lastAccepted()) ?? (await champion()));
}
