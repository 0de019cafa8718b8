import { Context } from '@temporalio/activity';
import { OPEN_ACCESS } from '../lib/access/policy';
import type { DecisionClaim } from '../lib/access/statement';
import { verifyDecision as verify, type AccessVerdict } from '../lib/access/verify';
import { asActivity, type ActivityDeps } from './context';

export function accessActivities(deps: ActivityDeps) {
  return {
    /**
     * Check a person's decision (signature, key, role, freshness, nonce) and put the verdict in the audit trail.
     * A retry of this activity is not a replay of the statement: the nonce is spent per activity execution.
     */
    async verifyDecision(input: { claim: DecisionClaim; excluded?: Record<string, string> }): Promise<AccessVerdict> {
      return asActivity(async () => {
        const info = Context.current().info;
        const { workflowId, runId } = info.workflowExecution ?? { workflowId: 'standalone', runId: info.activityId };
        return verify(input.claim, {
          registry: deps.registry,
          policy: deps.access ? deps.access() : OPEN_ACCESS,
          usedAt: `${workflowId}/${runId}/activity ${info.activityId}`,
          workflowId,
          excluded: input.excluded,
        });
      });
    },
  };
}
