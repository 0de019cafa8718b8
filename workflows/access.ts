import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities';
import type { DecisionClaim } from '../lib/access/statement';
import type { AccessVerdict } from '../lib/access/verify';
import { BOOKKEEPING } from './activity-options';

/**
 * Runs recorded before decisions were verified replay without the verifying activity; every decision taken by
 * newer code is verified first (Temporal's patching: the marker is in the new histories only).
 */
export const SIGNED_DECISIONS = 'lumen-signed-decisions';

const access = proxyActivities<PipelineActivities>(BOOKKEEPING);

/**
 * A person's decision, checked (signature, key, role, freshness, replay) and put in the audit trail before it is
 * applied; a refusal is an AccessDenied failure carrying the reason, and nothing is changed.
 */
export async function verified(claim: DecisionClaim, excluded?: Record<string, string>): Promise<AccessVerdict> {
  const verdict = await access.verifyDecision({ claim, ...(excluded ? { excluded } : {}) });
  if (!verdict.accepted) {
    throw ApplicationFailure.nonRetryable(`${claim.action} refused: ${verdict.reason}`, 'AccessDenied');
  }
  return verdict;
}

/**
 * Decisions on one wait taken one at a time: each is verified (an activity) before it applies, so without this a
 * burst of them would all be verified — and audited as accepted — before the first one decided anything. A promise
 * chain, not a flag and `condition`: conditions that hold are all released in the same pass.
 */
export function oneAtATime(): <T>(fn: () => Promise<T>) => Promise<T> {
  let last: Promise<void> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const result = last.then(fn);
    last = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  };
}
