import { monthWindow, type SourceRef } from '../lib/data/source';
import type { ModelSpec } from '../lib/spec';
import { CliError } from './errors';

/** A source reference from CLI options; --month cuts the spec's time column to one calendar month. */
export function sourceFromOptions(
  spec: ModelSpec,
  opts: { source: string; month?: string; format?: string },
): SourceRef {
  const source: SourceRef = { uri: opts.source };
  if (opts.format) source.format = opts.format as SourceRef['format'];
  if (opts.month) {
    const column = spec.source.timeColumn;
    if (!column) throw new CliError(`--month needs a timeColumn in the spec of ${spec.name}`);
    const format = spec.source.columns.find((c) => c.name === column)?.format;
    source.window = { ...monthWindow(column, opts.month), ...(format ? { format } : {}) };
  }
  return source;
}
