import { Context } from '@temporalio/activity';
import {
  parseModelPolicy,
  policyOfSpec,
  weakenings,
  type ModelPolicy,
  type RegisteredModelPolicy,
} from '../lib/access/model-policy';
import { PolicyViolation, SpecError } from '../lib/errors';
import { hashJson } from '../lib/hash';
import type { StandingGrant } from '../lib/registry/types';
import type { ModelSpec } from '../lib/spec';
import { asActivity, type ActivityDeps } from './context';

/** What a run is held to: the registered policy's version and digest, recorded in the version's lineage. */
export interface PolicyBinding {
  version: number;
  sha256: string;
  /** set when this run registered the model's first policy (from its spec, or from the champion's) */
  registeredNow: string | null;
}

export function governanceActivities(deps: ActivityDeps) {
  const enforced = (): boolean => deps.access?.().enforce ?? false;
  return {
    /**
     * Hold a run's spec to the model's registered policy, whatever started the run. With no policy registered yet,
     * the first is taken from the spec the current champion was trained with (a model from before registered
     * policies), or else from this run's spec; either way audited. A spec that loosens any part is refused, each
     * loosened field named with both values.
     */
    async bindModelPolicy(input: { spec: ModelSpec; starter: string | null }): Promise<PolicyBinding> {
      return asActivity(async () => {
        const model = input.spec.name;
        const workflowId = Context.current().info.workflowExecution?.workflowId ?? null;
        let registered = await deps.registry.modelPolicy(model);
        let registeredNow: string | null = null;
        if (!registered) {
          const first = await firstPolicy(model, input.spec, input.starter ?? `workflow:${workflowId}`);
          try {
            registered = await deps.registry.registerModelPolicy({
              model,
              policy: first.policy,
              expectedVersion: 0,
              setBy: first.setBy,
              proof: 'system',
              reason: first.reason,
              workflowId,
            });
            registeredNow = first.reason;
          } catch (err) {
            // another run registered the first one meanwhile: that one binds this run too
            registered = await deps.registry.modelPolicy(model);
            if (!registered) throw err;
          }
        }
        const problems = weakenings(registered.policy, policyOfSpec(input.spec));
        if (problems.length) {
          throw new PolicyViolation(
            `the spec would loosen the registered policy of ${model} (v${registered.version}, set by ${registered.setBy} at ${registered.at}): ` +
              `${problems.join('; ')}. A run's spec may repeat or tighten the registered policy, never loosen it: ` +
              `put the registered policy in the spec (lumen policy show ${model} --json), or an admin changes it ` +
              `(lumen policy set ${model} --policy <file> --reason …)`,
          );
        }
        return { version: registered.version, sha256: registered.sha256, registeredNow };
      });
    },

    /** Register the next version of a model's policy, after the workflow verified the admin's signed decision. */
    async setModelPolicy(input: {
      model: string;
      policy: unknown;
      expectedVersion: number;
      by: string;
      proof: 'signed' | 'claimed';
      reason: string;
    }): Promise<RegisteredModelPolicy> {
      return asActivity(async () => {
        const parsed = parseModelPolicy(input.policy);
        if ('problems' in parsed) {
          throw new SpecError(`the policy for ${input.model} is invalid: ${parsed.problems.join('; ')}`);
        }
        return await deps.registry.registerModelPolicy({
          model: input.model,
          policy: parsed.policy,
          expectedVersion: input.expectedVersion,
          setBy: input.by,
          proof: input.proof,
          reason: input.reason,
          workflowId: Context.current().info.workflowExecution?.workflowId ?? null,
        });
      });
    },

    /** Record a schedule's or inbox watch's verified creation, bound to its content. */
    async recordGrant(input: Omit<StandingGrant, 'at' | 'revokedAt' | 'revokedBy'>): Promise<StandingGrant> {
      return asActivity(() => deps.registry.grant(input));
    },

    async revokeGrant(input: { kind: StandingGrant['kind']; id: string; by: string }): Promise<void> {
      return asActivity(() => deps.registry.revokeGrant(input.kind, input.id, input.by));
    },

    /**
     * The person a scheduled or inbox run acts for: the one whose verified decision created the schedule or watch
     * with exactly this content. Without such a decision the run is refused while access control is on; while it
     * is off, the run goes on as "unverified" (schedules and watches made before this check, or by hand).
     */
    async checkGrant(input: {
      kind: StandingGrant['kind'];
      id: string;
      model: string;
      content: unknown;
    }): Promise<{ actsFor: string | null; verified: boolean }> {
      return asActivity(async () => {
        const grant = await deps.registry.standingGrant(input.kind, input.id);
        const sha256 = hashJson(input.content);
        const problem = !grant
          ? `no verified decision created ${input.kind} ${input.id}`
          : grant.revokedAt
            ? `${input.kind} ${input.id} was deleted by ${grant.revokedBy} at ${grant.revokedAt}`
            : grant.model !== input.model || grant.contentSha256 !== sha256
              ? `${input.kind} ${input.id} is not what ${grant.grantedBy} created (its content changed since ${grant.at})`
              : null;
        if (!problem) return { actsFor: grant!.grantedBy, verified: true };
        if (enforced()) {
          throw new PolicyViolation(
            `${problem}; with access control on, a ${input.kind} runs only as created by a verified decision ` +
              `(lumen ${input.kind === 'schedule' ? 'schedule create' : 'inbox watch'} with a registered key)`,
          );
        }
        return { actsFor: null, verified: false };
      });
    },
  };

  /** The first policy of a model: its champion's, when it has one from before policies were registered. */
  async function firstPolicy(
    model: string,
    spec: ModelSpec,
    starter: string,
  ): Promise<{ policy: ModelPolicy; setBy: string; reason: string }> {
    const champion = await deps.registry.alias(model, 'champion');
    const record = champion === null ? undefined : await deps.registry.getVersion(model, champion);
    if (record) {
      return {
        policy: policyOfSpec(record.spec),
        setBy: 'lumen',
        reason: `the first registered policy of ${model}: the gate and monitor of the spec champion v${record.version} was trained with`,
      };
    }
    return {
      policy: policyOfSpec(spec),
      setBy: starter,
      reason: `the first registered policy of ${model}: the gate and monitor of the spec of its first run`,
    };
  }
}
