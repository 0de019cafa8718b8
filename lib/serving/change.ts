import type { AccessPolicy } from '../access/policy';
import type { DecisionProof } from '../access/statement';
import { verifyDecision, type AccessVerdict } from '../access/verify';
import { AccessDenied, ConflictError, NotFoundError } from '../errors';
import type { Registry } from '../registry/types';
import { ServingPolicy } from './policy';

export interface ServingChange {
  model: string;
  policy: ServingPolicy;
  by: string;
  reason: string;
  /**
   * Why a version that failed its gate, awaits approval (or nobody approved it in time), was rejected by a person or
   * failed its load check may take live traffic
   * anyway (a canary). Absent: such a version is refused. Shadow traffic is never answered, so needs none.
   */
  override?: string;
  proof?: DecisionProof;
}

/**
 * Change how a model's traffic is split — from the CLI or over HTTP, the same way: a person's decision (approver),
 * signed when access control is on, verified and audited; a canary must be a version fit for live traffic unless the
 * decision says why not (an override, audited with it); then the registry's serving policy is set under the proven
 * name. Refusals are AccessDenied (who), NotFoundError (which version) or ConflictError (not fit), and change nothing.
 */
export async function changeServingPolicy(
  registry: Registry,
  access: AccessPolicy,
  change: ServingChange,
  usedAt: string,
): Promise<AccessVerdict> {
  const { model, policy } = change;
  for (const arm of [policy.canary, policy.shadow]) {
    if (arm && !(await registry.getVersion(model, arm.version))) {
      throw new NotFoundError(`${model} v${arm.version} is not registered (see: lumen models ${model})`);
    }
  }
  // a canary kept as it was, or given less traffic, was judged (or overridden) when it was set; a new version, or more
  // traffic for the same one, is judged now
  const current = (await registry.servingPolicy(model))?.policy.canary ?? null;
  const newCanary =
    policy.canary && (policy.canary.version !== current?.version || policy.canary.share > current.share)
      ? policy.canary
      : null;
  const unfit = newCanary ? await unfitForTraffic(registry, model, newCanary.version) : null;
  const override = change.override?.trim() || null;
  const subject = {
    canary: policy.canary ? `v${policy.canary.version} at ${policy.canary.share}` : null,
    shadow: policy.shadow ? `v${policy.shadow.version}` : null,
    override,
  };
  // who decides is checked first (signature, key, role, freshness); then whether the canary is fit for traffic: a
  // refusal for either is one audited verdict under the name as proven
  const refusal =
    unfit && !override
      ? `${model} v${policy.canary!.version} may not take live traffic: ${unfit}. A canary of it needs an explicit ` +
        `override saying why (--override "<why>", or "override" in the request), signed and audited with the change`
      : null;
  const verdict = await verifyDecision(
    { action: 'serving', model, subject, by: change.by, comment: change.reason, proof: change.proof },
    { registry, policy: access, usedAt, workflowId: null, ...(refusal ? { excluded: { [change.by]: refusal } } : {}) },
  );
  if (!verdict.accepted && verdict.reason === refusal) throw new ConflictError(refusal);
  if (!verdict.accepted) throw new AccessDenied(`serving refused: ${verdict.reason}`);
  await registry.setServingPolicy(
    model,
    ServingPolicy.parse(policy),
    verdict.identity,
    override ? `${change.reason} (override: ${override})` : change.reason,
  );
  return verdict;
}

/** Why a version is not fit for live traffic, or null when it is: its gate, a person's rejection, its load check. */
export async function unfitForTraffic(registry: Registry, model: string, version: number): Promise<string | null> {
  const v = await registry.getVersion(model, version);
  if (!v) return `v${version} is not registered`;
  const verdict = (v.evaluation as { verdict?: { passed?: boolean; reason?: string } }).verdict;
  if (!verdict) return 'it has no gate verdict on record';
  if (verdict.passed !== true) return `it failed its gate (${verdict.reason ?? 'no reason recorded'})`;
  const approvals = await registry.listApprovals({ model, version });
  const rejected = approvals.find((a) => a.status === 'rejected');
  if (rejected) return `it was rejected by ${rejected.decidedBy} at ${rejected.decidedAt}: ${rejected.comment}`;
  // a candidate its policy sends to people is fit only once they approved it (all of them, four eyes)
  const unapproved = approvals.find((a) => a.status === 'pending' || a.status === 'expired');
  if (unapproved && !approvals.some((a) => a.status === 'approved')) {
    return unapproved.status === 'pending'
      ? `it still awaits approval (requested ${unapproved.requestedAt})`
      : `nobody approved it in time (requested ${unapproved.requestedAt})`;
  }
  if (v.loadCheck && !v.loadCheck.passed) return `it failed its load check (${v.loadCheck.detail})`;
  return null;
}
