import { discardQuarantine, releaseQuarantine, statusQuery } from '../workflows/definitions';
import { connectClient } from './connection';
import { CliError } from './errors';
import { actor } from './identity';
import { openRegistry } from './registry-commands';

/** `lumen quarantine release|discard`: a person's decision on a batch that failed its contract. */

/** Find the waiting workflow for a workflow id or a dataset sha prefix. */
async function resolve(target: string): Promise<{ workflowId: string; dataset: string }> {
  const { registry } = openRegistry();
  try {
    const waiting = await registry.listValidations({ decision: 'quarantined' });
    const matches = waiting.filter(
      (v) => v.workflowId === target || (target.length >= 12 && v.datasetSha256.startsWith(target)),
    );
    if (matches.length === 0) {
      throw new CliError(`no quarantined batch matches "${target}" (see: lumen quarantine list)`);
    }
    if (matches.length > 1) {
      throw new CliError(`"${target}" matches ${matches.length} quarantined batches; give the workflow id`);
    }
    return { workflowId: matches[0].workflowId, dataset: matches[0].datasetSha256 };
  } finally {
    registry.close();
  }
}

export async function decideQuarantine(
  kind: 'release' | 'discard',
  target: string,
  opts: { reason: string; actor?: string; by?: string },
): Promise<void> {
  const by = actor(opts.actor ?? opts.by);
  const { workflowId, dataset } = await resolve(target);
  const client = await connectClient();
  try {
    const handle = client.workflow.getHandle(workflowId);
    const status = await handle.query(statusQuery);
    const answer = await handle.executeUpdate(kind === 'release' ? releaseQuarantine : discardQuarantine, {
      args: [{ dataset, by, reason: opts.reason }],
    });
    console.log(`${answer.decision} batch ${answer.dataset.slice(0, 16)} of ${status.model} by ${by} (${workflowId})`);
  } finally {
    await client.connection.close();
  }
}
