import { randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from '@temporalio/client';
import { lumenPaths } from '../lib/config';
import { SqliteRegistry } from '../lib/registry/sqlite';
import {
  approveCandidate,
  championChangeWorkflowId,
  PIPELINE_QUEUE,
  rejectCandidate,
  type ChampionChangeInput,
} from '../workflows/definitions';
import type { championChange } from '../workflows';
import { clientConfig, connectClient, workflowUrl } from './connection';
import { describeFailure, formatMetrics } from './format';

/** approve / reject / pending / history / rollback / promote / alias */

function registry(): SqliteRegistry {
  return new SqliteRegistry(lumenPaths().registry);
}

const who = (by?: string): string => by ?? process.env.USER ?? 'unknown';

export async function decideCandidate(
  kind: 'approve' | 'reject',
  model: string,
  opts: { version: string; comment: string; by?: string },
): Promise<void> {
  const version = Number(opts.version);
  const reg = registry();
  let workflowId: string;
  let artifactSha256: string;
  try {
    const [pending] = await reg.listApprovals({ model, version, status: 'pending' });
    if (!pending) throw new Error(`${model} v${version} is not waiting for approval (see: lumen pending)`);
    const record = await reg.getVersion(model, version);
    if (!record) throw new Error(`${model} v${version} is not registered`);
    workflowId = pending.workflowId;
    artifactSha256 = record.artifact.sha256;
  } finally {
    reg.close();
  }
  const client = await connectClient();
  try {
    const by = who(opts.by);
    const answer = await client.workflow
      .getHandle(workflowId)
      .executeUpdate(kind === 'approve' ? approveCandidate : rejectCandidate, {
        args: [{ version, artifactSha256, by, comment: opts.comment }],
        // a retried command is the same update: Temporal applies it once
        updateId: `${kind}:${model}:v${version}:${by}`,
      });
    console.log(`${answer.decision} ${model} v${answer.version} (${workflowId})`);
  } finally {
    await client.connection.close();
  }
}

export async function listPending(model: string | undefined): Promise<void> {
  const reg = registry();
  try {
    const pending = await reg.listApprovals({ model, status: 'pending' });
    if (pending.length === 0) return void console.log('nothing waits for approval');
    const config = clientConfig();
    for (const p of pending) {
      const v = await reg.getVersion(p.model, p.version);
      const verdict = (v?.evaluation as { verdict?: { reason: string } } | undefined)?.verdict;
      console.log(`${p.model} v${p.version}  since ${p.requestedAt}  artifact ${p.artifactSha256.slice(0, 16)}…`);
      if (v) console.log(`  ${formatMetrics(v.metrics)}`);
      if (verdict) console.log(`  ${verdict.reason}`);
      console.log(`  web ui ${workflowUrl(config, p.workflowId, p.runId)}`);
      console.log(`  lumen approve ${p.model} --version ${p.version} --comment "…"`);
    }
  } finally {
    reg.close();
  }
}

export async function showHistory(model: string, opts: { at?: string }): Promise<void> {
  const reg = registry();
  try {
    if (opts.at) {
      const at = new Date(opts.at);
      if (Number.isNaN(at.getTime())) throw new Error(`--at: not a date/time: "${opts.at}"`);
      const version = await reg.aliasAt(model, 'champion', at.toISOString());
      console.log(`${model} champion at ${at.toISOString()}: ${version === null ? 'none' : `v${version}`}`);
      return;
    }
    const events = await reg.aliasHistory(model);
    if (events.length === 0) console.log(`no alias history for ${model}`);
    for (const e of events) {
      console.log(
        `${e.at}  ${e.alias.padEnd(9)} v${e.fromVersion ?? '–'} → ${e.toVersion === null ? 'removed' : `v${e.toVersion}`}  by ${e.actor}: ${e.reason}${e.workflowId ? `  (${e.workflowId})` : ''}`,
      );
    }
  } finally {
    reg.close();
  }
}

export async function changeChampion(
  kind: 'promote' | 'rollback',
  model: string,
  opts: { to?: string; version?: string; reason: string; by?: string; requestId?: string },
): Promise<void> {
  const to = opts.version ?? opts.to;
  const input: ChampionChangeInput = {
    model,
    kind,
    ...(to !== undefined ? { to: Number(to) } : {}),
    reason: opts.reason,
    by: who(opts.by),
    requestId: opts.requestId ?? randomUUID(),
  };
  const config = clientConfig();
  const client = await connectClient(config);
  const workflowId = championChangeWorkflowId(model, input.requestId);
  try {
    let handle;
    try {
      handle = await client.workflow.start<typeof championChange>('championChange', {
        taskQueue: PIPELINE_QUEUE,
        workflowId,
        args: [input],
        // a request id names one change: never run it a second time, even after it completed
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        staticSummary: `${kind} ${model}${to ? ` to v${to}` : ''}: ${opts.reason}`.slice(0, 200),
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      handle = client.workflow.getHandle<typeof championChange>(workflowId);
      console.log(`request ${input.requestId} was already made; its result:`);
    }
    const result = await handle.result();
    console.log(
      result.changed
        ? `${model}: champion v${result.previous ?? '–'} → v${result.champion} (${kind}); ${result.loadCheck}`
        : `${model}: champion already v${result.champion}; nothing moved`,
    );
    console.log(`web ui  ${workflowUrl(config, workflowId)}`);
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      console.error(`${kind} refused: ${describeFailure(err)}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  } finally {
    await client.connection.close();
  }
}

export async function setAlias(
  model: string,
  alias: string,
  version: string,
  opts: { reason: string; by?: string },
): Promise<void> {
  const reg = registry();
  try {
    await reg.setAlias({
      model,
      alias,
      version: version === 'none' ? null : Number(version),
      actor: who(opts.by),
      reason: opts.reason,
      requestId: randomUUID(),
    });
    console.log(`${model}@${alias} → ${version === 'none' ? 'removed' : `v${version}`}`);
  } finally {
    reg.close();
  }
}
