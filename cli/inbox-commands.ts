import fs from 'node:fs';
import path from 'node:path';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { LumenModel, LumenStage } from '../workflows/definitions';
import { inboxStatusQuery, inboxWorkflowId, watchContent, type InboxInput } from '../workflows/inbox-definitions';
import { clientConfig, taskQueues, withClient, workflowUrl } from '../client/connection';
import { CliError, EXIT, parseVersion } from '../client/errors';
import { triggerSpec } from './sources';
import { printJson, table } from '../client/output';
import { openRegistry } from './registry-commands';
import { decideHere } from '../client/signing';
import { hashJson } from '../lib/hash';

/** lumen inbox watch|status|stop: a folder whose arriving files train the model, each content once. */

export async function inboxWatch(
  model: string,
  opts: { dir: string; spec?: string; every?: string; actor?: string },
): Promise<void> {
  const dir = path.resolve(opts.dir);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CliError(`--dir ${dir} is not a folder`);
  const spec = await triggerSpec(model, opts.spec);
  const input: InboxInput = {
    model,
    dir,
    ...(spec ? { spec } : {}),
    everySeconds: opts.every ? parseVersion(opts.every, '--every') : 10,
    trainingTaskQueue: taskQueues().training,
  };
  const config = clientConfig();
  const workflowId = inboxWorkflowId(model);
  await withClient(async (client) => {
    // a watch that runs is not granted anew (its grant would be overwritten before the start failed)
    const running = await client.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        (d) => d.status.name === 'RUNNING',
        (err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        },
      );
    if (running) {
      throw new CliError(
        `${model} has an inbox watcher already (lumen inbox status ${model}; stop it first)`,
        EXIT.failed,
      );
    }
    // starting a watch is a decision: verified and audited here; the watcher checks it before its first scan
    const by = await decideStanding(
      'inbox',
      model,
      workflowId,
      'watch',
      inboxContent(input),
      `watch ${dir}`,
      opts.actor,
    );
    try {
      await client.workflow.start('inboxWatcher', {
        taskQueue: taskQueues().pipeline,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        typedSearchAttributes: [
          { key: LumenModel, value: model },
          { key: LumenStage, value: 'watching' },
        ],
        staticSummary: `inbox of ${model}: ${dir}`.slice(0, 200),
        staticDetails: `started by ${by}; every file that settles in ${dir} trains ${model} once per content`,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new CliError(
          `${model} has an inbox watcher already (lumen inbox status ${model}; stop it first)`,
          EXIT.failed,
        );
      }
      throw err;
    }
    console.log(`watching ${dir} for ${model}, every ${input.everySeconds} s (${workflowId})`);
    console.log(
      `drop Parquet, CSV or JSON files there; each content trains once. web ui  ${workflowUrl(config, workflowId)}`,
    );
  });
}

export async function inboxStatus(model: string, opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    try {
      const s = await client.workflow.getHandle(inboxWorkflowId(model)).query(inboxStatusQuery);
      if (opts.json) return printJson(s);
      console.log(`${model}: watching ${s.dir} every ${s.everySeconds} s; ${s.scans} scans`);
      if (s.lastError) console.log(`last scan failed: ${s.lastError}`);
      if (s.arrivals.length) {
        console.log(
          table(
            ['at', 'file', 'content', 'training run', 'outcome'],
            s.arrivals.map((a) => [a.at, a.name, a.sha256.slice(0, 12), a.workflowId, a.outcome]),
          ),
        );
      } else console.log('nothing arrived yet');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new CliError(`${model} has no inbox watcher`, EXIT.failed);
      throw err;
    }
  });
}

export async function inboxStop(model: string, opts: { reason?: string; actor?: string }): Promise<void> {
  await withClient(async (client) => {
    const handle = client.workflow.getHandle(inboxWorkflowId(model));
    try {
      await handle.describe();
      const by = await decideStanding('inbox', model, handle.workflowId, 'stop', null, opts.reason ?? '', opts.actor);
      await handle.terminate(`stopped by ${by}${opts.reason ? `: ${opts.reason}` : ''}`);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new CliError(`${model} has no inbox watcher`, EXIT.failed);
      throw err;
    }
    console.log(`${model}: inbox watcher stopped; files already there stay`);
  });
}

/** What a watch's verified start is bound to: its whole input but the state it carries across continue-as-new. */
export function inboxContent(input: InboxInput): string {
  return hashJson(watchContent(input));
}

/**
 * Verify and audit the start or stop of standing data arrival (an inbox watch, a stream): a start is recorded as a
 * standing grant the workflow checks before its first run, a stop revokes it. Both are the `inbox` action.
 */
export async function decideStanding(
  kind: 'inbox' | 'stream',
  model: string,
  workflowId: string,
  change: 'watch' | 'stop',
  content: string | null,
  comment: string,
  explicitActor: string | undefined,
): Promise<string> {
  const { registry } = await openRegistry();
  try {
    const verdict = await decideHere(
      registry,
      { action: 'inbox', model, subject: { workflowId, change, ...(content ? { content } : {}) }, comment },
      { actor: explicitActor, usedAt: `cli ${kind} ${change} ${workflowId}` },
    );
    if (content) {
      await registry.grant({
        kind,
        id: workflowId,
        model,
        contentSha256: content,
        grantedBy: verdict.identity,
        proof: verdict.proof,
      });
    } else await registry.revokeGrant(kind, workflowId, verdict.identity);
    return verdict.identity;
  } finally {
    registry.close();
  }
}
