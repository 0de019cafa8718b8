import { unfitForTraffic } from '../lib/serving/change';
import { Context } from '@temporalio/activity';
import { parseModelPolicy, policyOfSpec, weakenings, type ModelPolicy } from '../lib/access/model-policy';
import { roleOf } from '../lib/access/policy';
import { PolicyViolation } from '../lib/errors';
import { hashJson } from '../lib/hash';
import type { StandingGrant } from '../lib/registry/types';
import { primaryMetric, type ModelSpec } from '../lib/spec';
import { asActivity, type ActivityDeps } from './context';

/** What a run is held to: the registered policy's version and digest, recorded in the version's lineage. */
export interface PolicyBinding {
  version: number;
  sha256: string;
  /** the reason, when this run registered the model's first policy (from its spec, or from a version's on record) */
  firstPolicyReason: string | null;
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
        let firstPolicyReason: string | null = null;
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
            firstPolicyReason = first.reason;
          } catch (err) {
            // another run registered the first one meanwhile: that one binds this run too
            registered = await deps.registry.modelPolicy(model);
            if (!registered) throw err;
          }
        }
        const problems = weakenings(registered.policy, policyOfSpec(input.spec), primaryMetric(input.spec.task).name);
        if (problems.length) {
          throw new PolicyViolation(
            `the spec would loosen the registered policy of ${model} (v${registered.version}, set by ${registered.setBy} at ${registered.at}): ` +
              `${problems.join('; ')}. A run's spec may repeat or tighten the registered policy, never loosen it: ` +
              `put the registered policy in the spec (lumen policy show ${model} --json), or an admin changes it ` +
              `(lumen policy set ${model} --from <file> --reason "<why>")`,
          );
        }
        return { version: registered.version, sha256: registered.sha256, firstPolicyReason };
      });
    },

    /** Why a version may not take live traffic (its gate, a pending or refused approval, its load check), or null. */
    async trafficFitness(input: { model: string; version: number }): Promise<string | null> {
      return asActivity(() => unfitForTraffic(deps.registry, input.model, input.version));
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
              `(lumen ${{ schedule: 'schedule create', inbox: 'inbox watch', stream: 'stream ingest' }[input.kind]} with a registered key)`,
          );
        }
        return { actsFor: null, verified: false };
      });
    },
  };

  /**
   * The first policy of a model. A model from before registered policies takes the gate and monitor its champion (or,
   * with none, its newest version) was trained with, parsed again so defaults added since are filled in. A new model
   * takes its first run's; with access control on, only from a run an admin of the model started.
   */
  async function firstPolicy(
    model: string,
    spec: ModelSpec,
    starter: string,
  ): Promise<{ policy: ModelPolicy; setBy: string; reason: string }> {
    const champion = await deps.registry.alias(model, 'champion');
    const record =
      champion === null
        ? (await deps.registry.listVersions(model)).at(-1)
        : await deps.registry.getVersion(model, champion);
    if (record) {
      const stored = record.spec as unknown as Record<string, unknown>;
      const parsed = parseModelPolicy({ gate: stored.gate ?? {}, monitor: stored.monitor ?? null });
      if ('problems' in parsed) {
        throw new PolicyViolation(
          `${model} has no registered policy, and the spec of v${record.version} no longer parses as one ` +
            `(${parsed.problems.join('; ')}): an admin registers one (lumen policy set ${model} --from <file> --reason "<why>")`,
        );
      }
      return {
        policy: parsed.policy,
        setBy: 'lumen',
        reason: `the first registered policy of ${model}: the gate and monitor of the spec ${champion === null ? 'its newest version' : 'its champion'} v${record.version} was trained with`,
      };
    }
    const access = deps.access?.();
    if (access?.enforce && roleOf(access, starter, model) !== 'admin') {
      throw new PolicyViolation(
        `${model} has no registered policy yet, and with access control on only an admin's run registers the first ` +
          `one (${starter} is ${roleOf(access, starter, model) ?? 'not given a role'} of ${model}): an admin starts ` +
          `its first run, or registers its policy (lumen policy set ${model} --from <spec or policy file> --reason "<why>")`,
      );
    }
    return {
      policy: policyOfSpec(spec),
      setBy: starter,
      reason: `the first registered policy of ${model}: the gate and monitor of the spec of its first run`,
    };
  }
}
