import { randomUUID } from 'node:crypto';
import { lumenPaths } from '../lib/config';
import { announceAliasMove } from '../lib/serving/notify';
import { findAdminToken } from '../lib/serving/tokens';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from '@temporalio/client';
import {
  championChangeWorkflowId,
  verifyWorkflowId,
  type ChampionChangeInput,
  type VerifyInput,
} from '../workflows/definitions';
import type { championChange, verifyModel } from '../workflows';
import { clientConfig, taskQueues, withClient, withLazyClient, workflowUrl } from '../client/connection';
import { decideCandidateWith } from '../client/decisions';
import { CliError, EXIT, parseVersion } from '../client/errors';
import { describeFailure } from '../client/format';
import { actor } from '../client/identity';
import { signer } from '../client/signing';
import { loadAccessPolicy } from '../lib/access/policy';
import { verifyDecision } from '../lib/access/verify';
import { printJson } from '../client/output';
import { openRegistry, parseModelRef } from './registry-commands';
import { aliasNameProblem } from '../lib/registry/version-store';

/** approve / reject / rollback / promote / alias / verify: the decisions people make about versions. */

export async function decideCandidate(
  kind: 'approve' | 'reject',
  model: string,
  opts: { version: string; comment: string; actor?: string; by?: string },
): Promise<void> {
  const version = parseVersion(opts.version);
  const { by, sign } = signer(opts.actor ?? opts.by);
  const { registry } = await openRegistry();
  try {
    await withLazyClient(async (connect) => {
      const answer = await decideCandidateWith(connect, registry, {
        kind,
        model,
        version,
        by,
        comment: opts.comment,
        sign,
      });
      console.log(
        answer.awaiting
          ? `approval of ${model} v${answer.version} by ${by} recorded; it needs ${answer.awaiting} more approver(s) (${answer.workflowId})`
          : `${answer.decision} ${model} v${answer.version} by ${by} (${answer.workflowId})`,
      );
    });
  } finally {
    registry.close();
  }
}

export async function changeChampion(
  kind: 'promote' | 'rollback',
  model: string,
  opts: {
    to?: string;
    version?: string;
    reason: string;
    actor?: string;
    by?: string;
    requestId?: string;
    override?: string;
  },
): Promise<void> {
  const to = opts.version ?? opts.to;
  const target = to !== undefined ? parseVersion(to, opts.version !== undefined ? '--version' : '--to') : undefined;
  const { by, sign } = signer(opts.actor ?? opts.by);
  const requestId = opts.requestId ?? randomUUID();
  const override = opts.override?.trim() || undefined;
  const subject = { to: target ?? 'previous', requestId, ...(override ? { override } : {}) };
  const proof = sign({ action: kind, model, subject, comment: opts.reason });
  const input: ChampionChangeInput = {
    model,
    kind,
    ...(target !== undefined ? { to: target } : {}),
    reason: opts.reason,
    by,
    ...(proof ? { proof } : {}),
    requestId,
    trainingTaskQueue: taskQueues().training,
    ...(override ? { override } : {}),
  };
  const config = clientConfig();
  await withClient(async (client) => {
    const workflowId = championChangeWorkflowId(model, input.requestId);
    let handle;
    try {
      handle = await client.workflow.start<typeof championChange>('championChange', {
        taskQueue: taskQueues().pipeline,
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
    const result = await handle.result().catch((err: unknown) => {
      if (err instanceof WorkflowFailedError) {
        throw new CliError(`${kind} refused: ${describeFailure(err)}`, EXIT.failed);
      }
      throw err;
    });
    console.log(
      result.changed
        ? `${model}: champion v${result.previous ?? '–'} → v${result.champion} (${kind}); ${result.loadCheck}`
        : `${model}: champion already v${result.champion}; nothing moved`,
    );
    console.log(`web ui  ${workflowUrl(config, workflowId)}`);
  });
}

export async function setAlias(
  model: string,
  alias: string,
  version: string,
  opts: { reason: string; actor?: string; by?: string },
): Promise<void> {
  if (alias === 'champion' || alias === 'previous') {
    throw new CliError(`"${alias}" moves only by promotion or rollback: lumen promote|rollback ${model} …`);
  }
  const target = version === 'none' ? null : parseVersion(version, '<version>');
  const { by, sign } = signer(opts.actor ?? opts.by);
  const claim = { action: 'alias' as const, model, subject: { alias, version: target }, comment: opts.reason };
  const { registry } = await openRegistry();
  try {
    // what cannot be done is said before the decision is verified (and audited as accepted)
    const problem = aliasNameProblem(alias);
    if (problem) throw new CliError(problem);
    if (target !== null && !(await registry.getVersion(model, target))) {
      throw new CliError(`${model} v${target} is not registered (lumen models ${model})`);
    }
    const requestId = randomUUID();
    // no workflow moves a free-form alias: the decision is verified here, against the same keys and roles
    const verdict = await verifyDecision(
      { ...claim, by, proof: sign(claim) },
      { registry, policy: loadAccessPolicy(lumenPaths().home), usedAt: `cli alias ${requestId}`, workflowId: null },
    );
    if (!verdict.accepted) throw new CliError(`alias refused: ${verdict.reason}`, EXIT.failed);
    await registry.setAlias({ model, alias, version: target, actor: verdict.identity, reason: opts.reason, requestId });
    console.log(`${model}@${alias} → ${target === null ? 'removed' : `v${target}`}`);
    await announceAliasMove(registry, findAdminToken(lumenPaths().home));
  } finally {
    registry.close();
  }
}

/**
 * `lumen verify <model>[@v]`: re-hash a version's bytes and load it in a fresh process (on a training worker),
 * replacing the load check on record — the way to clear a version whose artifact was restored after corruption.
 */
export async function verifyCommand(ref: string, opts: { actor?: string; json?: boolean }): Promise<void> {
  const { model, version } = ref.includes('@') ? parseModelRef(ref) : { model: ref, version: undefined };
  const requestId = randomUUID();
  const input: VerifyInput = {
    model,
    ...(version ? { version } : {}),
    by: actor(opts.actor),
    requestId,
    trainingTaskQueue: taskQueues().training,
  };
  const config = clientConfig();
  await withClient(async (client) => {
    const workflowId = verifyWorkflowId(model, requestId);
    const result = await client.workflow.execute<typeof verifyModel>('verifyModel', {
      taskQueue: taskQueues().pipeline,
      workflowId,
      args: [input],
      staticSummary: `verify ${model}${version ? ` v${version}` : ' (champion)'}`,
    });
    if (opts.json) printJson(result);
    else {
      console.log(
        `${model} v${result.version}: ${result.passed ? 'verified' : 'FAILED verification'} — ${result.detail}`,
      );
      if (result.passed && result.previous && !result.previous.passed) {
        console.log(`  clears the failed load check of ${result.previous.at}: ${result.previous.detail}`);
      }
      console.log(`web ui  ${workflowUrl(config, workflowId)}`);
    }
    if (!result.passed) process.exitCode = EXIT.failed;
  });
}
