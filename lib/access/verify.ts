import type { Registry } from '../registry/types';
import { escapeUnprintable, identityProblem } from './identity';
import { signatureHolds } from './keys';
import { roleOf, type AccessPolicy } from './policy';
import { ACTIONS, proofProblem, roleAllows, type DecisionClaim, type Role } from './statement';

export interface AccessVerdict {
  accepted: boolean;
  /** who decided: the signer (signed), or the name given (claimed, when access control is off) */
  identity: string;
  proof: 'signed' | 'claimed';
  keyId: string | null;
  role: Role | null;
  /** why it was refused, or how it was accepted */
  reason: string;
}

export interface VerifyContext {
  registry: Registry;
  policy: AccessPolicy;
  /**
   * Where the statement is used: a retry from the same place (an activity's retry) is not a replay; the same
   * statement from anywhere else is
   */
  usedAt: string;
  workflowId: string | null;
  now?: Date;
  /** people who may not make this decision, with why (four eyes: the run's starter, who already approved) */
  excluded?: Record<string, string>;
}

/**
 * Check a person's decision before anything acts on it, and put the verdict in the audit trail. A signed
 * decision is checked whether or not access control is on (an altered statement is never taken); an unsigned one
 * is taken under the claimed name only while it is off.
 */
export async function verifyDecision(claim: DecisionClaim, ctx: VerifyContext): Promise<AccessVerdict> {
  const verdict = await judge(claim, ctx);
  await ctx.registry.recordAudit({
    model: claim.model,
    action: claim.action,
    subject: claim.subject,
    identity: verdict.identity,
    proof: verdict.proof,
    keyId: verdict.keyId,
    outcome: verdict.accepted ? 'accepted' : 'refused',
    detail: verdict.accepted ? claim.comment : verdict.reason,
    workflowId: ctx.workflowId,
  });
  return verdict;
}

async function judge(claim: DecisionClaim, ctx: VerifyContext): Promise<AccessVerdict> {
  const { policy, registry } = ctx;
  const needed = ACTIONS[claim.action];
  const refuse = (reason: string, keyId: string | null = claim.proof?.keyId ?? null): AccessVerdict => ({
    accepted: false,
    identity: claim.by,
    proof: claim.proof ? 'signed' : 'claimed',
    keyId,
    role: null,
    reason,
  });
  if (!needed) return refuse(`"${String(claim.action)}" is not a decision Lumen knows`);
  const badName = identityProblem(claim.by);
  if (badName) {
    // recorded as what it is: an unverified claim, escaped, never the text as sent
    return {
      ...refuse(`the name given is not one: ${badName}`),
      identity: `(not a name: ${escapeUnprintable(String(claim.by)).slice(0, 120)})`,
    };
  }
  if (!claim.proof) {
    if (policy.enforce) {
      return refuse(
        `access control is on (${policy.file}): ${claim.action} needs a signed decision; sign with your key ` +
          `(lumen keys generate, then an admin runs lumen keys add)`,
      );
    }
    const held = ctx.excluded?.[claim.by];
    if (held) return refuse(held);
    return {
      accepted: true,
      identity: claim.by,
      proof: 'claimed',
      keyId: null,
      role: roleOf(policy, claim.by, claim.model),
      reason: 'access control is off: the name is as claimed',
    };
  }
  const shape = proofProblem(claim.proof);
  if (shape) return refuse(`the signature block ${shape}`, null);
  const proof = claim.proof;
  const key = await registry.getKey(proof.keyId);
  if (!key) return refuse(`key ${proof.keyId} is not registered (see: lumen keys list)`);
  if (key.revokedAt) {
    return refuse(`key ${proof.keyId} of ${key.person} was revoked at ${key.revokedAt} by ${key.revokedBy}`);
  }
  if (key.person !== claim.by) {
    return refuse(`key ${proof.keyId} belongs to ${key.person}, not to "${claim.by}"`);
  }
  if (!signatureHolds(key.publicKeyPem, claim, proof)) {
    return refuse(
      `the signature does not match the decision: it was altered, or signed for another decision or version`,
    );
  }
  const now = (ctx.now ?? new Date()).getTime();
  const skew = Math.abs(now - Date.parse(proof.at)) / 1000;
  if (skew > policy.maxSkewSeconds) {
    return refuse(
      `signed at ${proof.at}, ${Math.round(skew)} s from this worker's clock (at most ${policy.maxSkewSeconds} s): ` +
        `an old statement sent again, or a clock that is wrong`,
    );
  }
  const role = roleOf(policy, key.person, claim.model);
  if (policy.enforce && !roleAllows(role, needed)) {
    return {
      ...refuse(
        `${key.person} is ${role ? `${role} of ${claim.model}` : `not given a role on ${claim.model}`}; ` +
          `${claim.action} needs ${needed} (${policy.file})`,
      ),
      role,
    };
  }
  // after the checks of the statement itself, so a forged or misdirected one does not spend the nonce
  const spent = await registry.useNonce(proof.nonce, proof.keyId, ctx.usedAt);
  if (!spent.fresh) {
    return refuse(`this signed statement was already used (at ${spent.at}, ${spent.context}): a replay is refused`);
  }
  const held = ctx.excluded?.[key.person];
  if (held) return { ...refuse(held), role };
  return {
    accepted: true,
    identity: key.person,
    proof: 'signed',
    keyId: key.keyId,
    role,
    reason: 'signature verified',
  };
}
