import type { Client } from '@temporalio/client';
import type { Registry } from '../lib/registry/types';
import { approveCandidate, discardQuarantine, rejectCandidate, releaseQuarantine } from '../workflows/definitions';
import { CliError } from './errors';
import type { Signer } from './signing';

/**
 * The decisions people make on a waiting pipeline — approve or reject a candidate, release or discard a batch in
 * quarantine — as the CLI and the web console both send them: found in the registry, sent to the waiting workflow
 * as an update, whose validator has the last word. The registry is asked first, so a decision on nothing waiting
 * is refused without a Temporal server; `connect` is called only to send a decision.
 */

export interface CandidateDecision {
  kind: 'approve' | 'reject';
  model: string;
  version: number;
  by: string;
  comment: string;
  /** signs the decision (the CLI with the person's key); the web console sends it unsigned */
  sign?: Signer['sign'];
}

export async function decideCandidateWith(
  connect: () => Promise<Client>,
  registry: Registry,
  d: CandidateDecision,
): Promise<{ decision: string; version: number; awaiting?: number; workflowId: string }> {
  const [pending] = await registry.listApprovals({ model: d.model, version: d.version, status: 'pending' });
  if (!pending) throw new CliError(`${d.model} v${d.version} is not waiting for approval (see: lumen pending)`);
  const record = await registry.getVersion(d.model, d.version);
  if (!record) throw new CliError(`${d.model} v${d.version} is not registered`);
  const artifactSha256 = record.artifact.sha256;
  const proof = d.sign?.({
    action: d.kind,
    model: d.model,
    subject: { version: d.version, artifactSha256 },
    comment: d.comment,
  });
  const client = await connect();
  const answer = await client.workflow
    .getHandle(pending.workflowId)
    .executeUpdate(d.kind === 'approve' ? approveCandidate : rejectCandidate, {
      args: [{ version: d.version, artifactSha256, by: d.by, comment: d.comment, ...(proof ? { proof } : {}) }],
      // the same decision sent again (a retried command, a form sent twice) is the same update: applied once
      // (a signed one is a new statement each time: a decision refused before — say, a key not yet registered — is
      // sent afresh, not answered with the old refusal)
      updateId: `${d.kind}:${d.model}:v${d.version}:${d.by}${proof ? `:${proof.nonce}` : ''}`,
    });
  return { ...answer, workflowId: pending.workflowId };
}

export interface BatchDecision {
  kind: 'release' | 'discard';
  /** the waiting workflow's id, or a prefix (≥ 12 characters) of the batch's sha-256 */
  target: string;
  by: string;
  reason: string;
  sign?: Signer['sign'];
}

export async function decideQuarantineWith(
  connect: () => Promise<Client>,
  registry: Registry,
  d: BatchDecision,
): Promise<{ decision: string; dataset: string; model: string; workflowId: string; recorded: boolean }> {
  const waiting = await registry.listValidations({ decision: 'quarantined' });
  const matches = waiting.filter(
    (v) => v.workflowId === d.target || (d.target.length >= 12 && v.datasetSha256.startsWith(d.target)),
  );
  if (matches.length === 0) {
    throw new CliError(`no quarantined batch matches "${d.target}" (see: lumen quarantine list)`);
  }
  if (matches.length > 1) {
    throw new CliError(`"${d.target}" matches ${matches.length} quarantined batches; give the workflow id`);
  }
  const { id, workflowId, datasetSha256, model } = matches[0];
  const proof = d.sign?.({ action: d.kind, model, subject: { dataset: datasetSha256 }, comment: d.reason });
  const client = await connect();
  const answer = await client.workflow
    .getHandle(workflowId)
    .executeUpdate(d.kind === 'release' ? releaseQuarantine : discardQuarantine, {
      args: [{ dataset: datasetSha256, by: d.by, reason: d.reason, ...(proof ? { proof } : {}) }],
    });
  // the run accepted the decision; it writes it to the registry a moment later. Waiting for that (briefly) means
  // the list a person looks at next no longer shows the batch they just decided on.
  const recorded = await eventuallyTrue(
    async () => (await registry.getValidation(id))?.decision !== 'quarantined',
    RECORDED_WAIT_MS,
  );
  return { decision: answer.decision, dataset: answer.dataset, model, workflowId, recorded };
}

/** How long a decision's caller waits for the run to record it in the registry before answering anyway. */
const RECORDED_WAIT_MS = 10_000;

async function eventuallyTrue(check: () => Promise<boolean>, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, wait));
  }
}
