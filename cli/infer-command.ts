import os from 'node:os';
import path from 'node:path';
import { FileArtifactStore } from '../lib/artifacts';
import { lumenPaths } from '../lib/config';
import { snapshotSource } from '../lib/data/snapshot';
import { describeSource, type SourceRef } from '../lib/data/source';
import type { Task } from '../lib/spec';
import { ValidationPolicy } from '../lib/validation/contract';
import { inferContract, proposeSpec } from '../lib/validation/infer';

/**
 * A scratch store for a command that reads a source with no server (`check`, `schema infer`): its snapshots stay out
 * of the registry, but the source rules are those of the Lumen home, the same as `start` and `predict` apply — so a
 * file one command accepts is never refused by the next.
 */
export function scratchStore(name: string): FileArtifactStore {
  return new FileArtifactStore(path.join(os.tmpdir(), name), lumenPaths().home);
}

/** `lumen schema infer`: snapshot a source into a scratch store, profile it, print a proposed spec or contract. */
export async function inferCommand(
  source: SourceRef,
  opts: { label?: string; task?: Task; name?: string },
): Promise<void> {
  const store = scratchStore('lumen-schema-infer');
  const dataset = await snapshotSource(store, source);
  const sourceName = describeSource(source);
  if (!opts.label) {
    const { columns, notes } = await inferContract(store, dataset);
    for (const note of notes) console.error(`note: ${note}`);
    console.error(
      `proposed contract from ${dataset.rows} rows of ${sourceName}; add --label <column> for a whole model spec`,
    );
    console.log(JSON.stringify({ source: { columns }, validation: ValidationPolicy.parse({}) }, null, 2));
    return;
  }
  const { spec, notes } = await proposeSpec(store, dataset, {
    label: opts.label,
    task: opts.task,
    name: opts.name,
    sourceName,
  });
  for (const note of notes) console.error(`note: ${note}`);
  console.error(`proposed spec from ${dataset.rows} rows of ${sourceName}: review it, save it, then lumen start it`);
  console.log(JSON.stringify(spec, null, 2));
}
