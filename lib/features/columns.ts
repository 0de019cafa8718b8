import { columnKey, type ColumnData, type ColumnRequest, type Table } from '../data/table';
import { labelReading } from '../labels';
import type { ModelSpec } from '../spec';

/** Which source columns a spec reads, and how: its features' columns (a cross's through its parts) and its label. */

export type SpecFeature = ModelSpec['features'][number];

/** The column a (non-cross) feature reads; the spec's check guarantees every other feature names one. */
export function columnOf(feature: SpecFeature): string {
  if (feature.column === undefined) throw new Error(`feature "${feature.name}" names no column`);
  return feature.column;
}

export function featureRequest(spec: ModelSpec, feature: SpecFeature): ColumnRequest {
  const column = columnOf(feature);
  switch (feature.transform.kind) {
    case 'numeric':
      return { name: column, as: 'number' };
    case 'categorical':
      return { name: column, as: 'string' };
    default: {
      const format = spec.source.columns.find((c) => c.name === column)?.format;
      return { name: column, as: 'timestamp', ...(format ? { format } : {}) };
    }
  }
}

/** The features a cross combines, as the spec declares them. */
export function crossedFeatures(spec: ModelSpec, feature: SpecFeature): SpecFeature[] {
  if (feature.transform.kind !== 'cross') return [];
  return feature.transform.of.map((name) => {
    const part = spec.features.find((f) => f.name === name);
    if (!part) throw new Error(`cross "${feature.name}": no feature "${name}"`);
    return part;
  });
}

export function labelRequest(spec: ModelSpec): ColumnRequest {
  const { rule, as } = labelReading(spec);
  return { name: rule.column, as };
}

/** The source columns a spec's features read (crosses read their features' columns). */
export function inputColumns(spec: ModelSpec): string[] {
  return [...new Set(spec.features.flatMap((f) => (f.transform.kind === 'cross' ? [] : [columnOf(f)])))];
}

/** The columns (and how to read them) that a spec needs from a dataset. */
export function columnRequests(spec: ModelSpec): ColumnRequest[] {
  const all = [
    ...spec.features.flatMap((f) =>
      f.transform.kind === 'cross'
        ? crossedFeatures(spec, f).map((p) => featureRequest(spec, p))
        : [featureRequest(spec, f)],
    ),
    labelRequest(spec),
  ];
  const seen = new Map(all.map((r) => [columnKey(r), r]));
  return [...seen.values()];
}

export function column(table: Table, req: ColumnRequest): ColumnData {
  const data = table.columns.get(columnKey(req));
  if (!data) throw new Error(`column ${columnKey(req)} was not loaded`);
  return data;
}

export function numbers(table: Table, req: ColumnRequest): Float64Array {
  const data = column(table, req);
  if (data.kind !== 'number') throw new Error(`column ${req.name} loaded as strings, needed numbers`);
  return data.values;
}

export function strings(table: Table, req: ColumnRequest): (string | null)[] {
  const data = column(table, req);
  if (data.kind !== 'string') throw new Error(`column ${req.name} loaded as numbers, needed strings`);
  return data.values;
}
