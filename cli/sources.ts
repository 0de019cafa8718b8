import { monthWindow, type SourceRef } from '../lib/data/source';
import { loadModelSpec, type ModelSpec } from '../lib/spec';
import { CliError } from '../client/errors';
import { openRegistry } from './registry-commands';

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

/**
 * The spec a trigger (schedule, inbox) trains with: the file given, which must be for this model, or else none
 * (each run takes the champion's), refused when there is no champion to take it from.
 */
export async function triggerSpec(model: string, specFile: string | undefined): Promise<ModelSpec | undefined> {
  if (specFile) {
    const spec = loadModelSpec(specFile);
    if (spec.name !== model) throw new CliError(`the spec ${specFile} is for model "${spec.name}", not "${model}"`);
    return spec;
  }
  const { registry } = await openRegistry();
  try {
    if ((await registry.alias(model, 'champion')) === null) {
      throw new CliError(`${model} has no champion to take the spec from: give --spec <file>`);
    }
  } finally {
    registry.close();
  }
  return undefined;
}
