import fs from 'node:fs';
import { ArtifactStore } from '../lib/artifacts';
import { lumenPaths } from '../lib/config';
import { SqliteRegistry } from '../lib/registry/sqlite';
import { discardQuarantine, releaseQuarantine, statusQuery } from '../workflows/definitions';
import { clientConfig, connectClient, workflowUrl } from './connection';

/** `lumen quarantine list|release|discard`: see what waits, and decide. */

function open(): { registry: SqliteRegistry; store: ArtifactStore } {
  const paths = lumenPaths();
  return { registry: new SqliteRegistry(paths.registry), store: new ArtifactStore(paths.artifacts) };
}

export async function listQuarantine(model: string | undefined): Promise<void> {
  const { registry, store } = open();
  try {
    const waiting = await registry.listValidations({ model, decision: 'quarantined' });
    if (waiting.length === 0) return void console.log('nothing in quarantine');
    const config = clientConfig();
    for (const v of waiting) {
      const report = JSON.parse(fs.readFileSync(await store.verify(v.report), 'utf8')) as { summary: string };
      console.log(`${v.model}  batch ${v.datasetSha256.slice(0, 16)}  since ${v.createdAt}  workflow ${v.workflowId}`);
      console.log(`  ${report.summary}`);
      console.log(`  page ${v.html.uri}`);
      console.log(`  web ui ${workflowUrl(config, v.workflowId, v.runId)}`);
      if (v.quarantine) console.log(`  quarantined rows ${v.quarantine.uri}`);
    }
  } finally {
    registry.close();
  }
}

/** Find the waiting workflow for a workflow id or a dataset sha prefix. */
async function resolve(target: string): Promise<{ workflowId: string; dataset: string }> {
  const { registry } = open();
  try {
    const waiting = await registry.listValidations({ decision: 'quarantined' });
    const matches = waiting.filter(
      (v) => v.workflowId === target || (target.length >= 12 && v.datasetSha256.startsWith(target)),
    );
    if (matches.length === 0) throw new Error(`no quarantined batch matches "${target}" (see: lumen quarantine list)`);
    if (matches.length > 1)
      throw new Error(`"${target}" matches ${matches.length} quarantined batches; give the workflow id`);
    return { workflowId: matches[0].workflowId, dataset: matches[0].datasetSha256 };
  } finally {
    registry.close();
  }
}

export async function decideQuarantine(
  kind: 'release' | 'discard',
  target: string,
  opts: { reason: string; by?: string },
): Promise<void> {
  const { workflowId, dataset } = await resolve(target);
  const client = await connectClient();
  try {
    const handle = client.workflow.getHandle(workflowId);
    const status = await handle.query(statusQuery);
    const answer = await handle.executeUpdate(kind === 'release' ? releaseQuarantine : discardQuarantine, {
      args: [{ dataset, by: opts.by ?? process.env.USER ?? 'unknown', reason: opts.reason }],
    });
    console.log(`${answer.decision} batch ${answer.dataset.slice(0, 16)} of ${status.model} (${workflowId})`);
  } finally {
    await client.connection.close();
  }
}
