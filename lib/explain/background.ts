import type { ArtifactStore } from '../artifacts';
import type { DatasetRef } from '../data/snapshot';
import { loadTable, type Table } from '../data/table';
import { columnRequests, featureCodes, type Preprocessor } from '../features';
import { deriveSeed, permutation } from '../rng';
import type { ModelVersion, Registry } from '../registry/types';
import type { ModelSpec } from '../spec';

/**
 * How many training rows an attribution is measured against. Exact Shapley values over F features predict
 * 2^F × this many rows per explained row; 32 keeps a six-feature model's explanation near a millisecond's work of
 * the model, and the spread of the background's average output small next to a typical attribution.
 */
export const BACKGROUND_ROWS = 32;

export interface Background {
  /** feature codes, one array per feature, `rows.length` long */
  codes: Float64Array[];
  /** which rows of the training dataset they are */
  rows: number[];
  /** the seed they were drawn with: the version's, derived for this purpose */
  seed: number;
  dataset: string;
}

/** A seeded sample of a table's rows, as feature codes. */
export function backgroundOf(
  pre: Preprocessor,
  table: Table,
  seed: number,
  dataset: string,
  size = BACKGROUND_ROWS,
): Background {
  if (table.rows === 0) throw new Error(`dataset ${dataset.slice(0, 12)} has no rows to explain against`);
  const drawn = deriveSeed(seed, 'explain:background');
  const picked = permutation(table.rows, drawn).slice(0, Math.min(size, table.rows));
  const rows = Array.from(picked).sort((a, b) => a - b);
  return { codes: featureCodes(pre, table, Uint32Array.from(rows)), rows, seed: drawn, dataset };
}

/** The background of a version: drawn from the dataset it was trained on, with its seed. */
export async function versionBackground(
  store: ArtifactStore,
  spec: ModelSpec,
  pre: Preprocessor,
  dataset: DatasetRef,
  seed: number,
): Promise<Background> {
  const table = await loadTable(store, dataset, columnRequests(spec));
  return backgroundOf(pre, table, seed, dataset.sha256);
}

/** Backgrounds kept drawn: one per version explained lately. */
const BACKGROUNDS_KEPT = 8;

/**
 * Versions' backgrounds, each drawn once from the dataset the version was trained on (explanations and decision
 * records share them), for the last few versions asked; a background that could not be drawn is not kept.
 */
export class BackgroundCache {
  private readonly drawn = new Map<string, Promise<Background>>();

  constructor(
    private readonly store: ArtifactStore,
    private readonly registry: Pick<Registry, 'getDataset'>,
  ) {}

  of(record: ModelVersion, pre: Preprocessor): Promise<Background> {
    const key = `${record.model}@${record.version}`;
    let drawn = this.drawn.get(key);
    if (!drawn) {
      drawn = this.draw(record, pre);
      this.drawn.set(key, drawn);
      drawn.catch(() => this.drawn.delete(key));
      if (this.drawn.size > BACKGROUNDS_KEPT) this.drawn.delete(this.drawn.keys().next().value!);
    }
    return drawn;
  }

  private async draw(record: ModelVersion, pre: Preprocessor): Promise<Background> {
    const dataset = await this.registry.getDataset(record.datasetSha256);
    if (!dataset) {
      throw new Error(
        `${record.model} v${record.version} was trained on dataset ${record.datasetSha256.slice(0, 12)}, which is not registered: there is nothing to explain against`,
      );
    }
    return versionBackground(this.store, record.spec, pre, dataset, record.seed);
  }
}
