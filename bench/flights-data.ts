import os from 'node:os';
import path from 'node:path';
import { FileArtifactStore } from '../lib/artifacts';
import { snapshotSource } from '../lib/data/snapshot';
import { monthWindow } from '../lib/data/source';
import { loadTable, type Table } from '../lib/data/table';
import {
  columnRequests,
  encodeFeatures,
  encodeLabels,
  fitPreprocessor,
  labelPresent,
  splitRows,
  type Preprocessor,
  type Split,
} from '../lib/features';
import type { TrainingData } from '../lib/model/trainer';
import type { ModelSpec } from '../lib/spec';

/** One month of real flights as the training benchmarks use it: the spec's split, preprocessor and encoded rows. */
export async function flightsMonth(
  spec: ModelSpec,
  month: string,
): Promise<{ table: Table; split: Split; pre: Preprocessor; data: TrainingData }> {
  const store = new FileArtifactStore(path.join(os.tmpdir(), 'lumen-bench', 'artifacts'));
  const dataset = await snapshotSource(store, {
    uri: 'vega-datasets:flights-3m.parquet',
    window: monthWindow('date', month),
  });
  const table = await loadTable(store, dataset, columnRequests(spec));
  const split = splitRows(table.rows, labelPresent(spec, table), spec.training);
  const pre = fitPreprocessor(spec, table, split.train);
  const data = {
    x: encodeFeatures(pre, table, split.train),
    y: encodeLabels(pre, table, split.train),
    rows: split.train.length,
    width: pre.width,
  };
  return { table, split, pre, data };
}
