import fs from 'node:fs';
import { parseModelPolicy, policySha256, type RegisteredModelPolicy } from '../lib/access/model-policy';
import { CliError, EXIT } from '../client/errors';
import { printJson, table } from '../client/output';
import { openRegistry } from './registry-commands';
import { decideHere } from '../client/signing';

/**
 * `lumen policy show|set`: a model's registered governing policy — the gate every candidate must pass, when and by
 * how many people it must be approved, and what its monitor does. Every run is held to it, whatever started it;
 * only an admin's signed decision changes it.
 */

export async function policyShow(model: string, opts: { json?: boolean; history?: boolean }): Promise<void> {
  const { registry } = await openRegistry();
  try {
    const versions = await registry.modelPolicyHistory(model);
    if (opts.json) return printJson(opts.history ? versions : (versions.at(-1) ?? null));
    const current = versions.at(-1);
    if (!current) {
      throw new CliError(
        `${model} has no registered policy yet: its first run registers the gate and monitor of its spec, or an ` +
          `admin sets one (lumen policy set ${model} --from <file> --reason …)`,
        EXIT.failed,
      );
    }
    if (opts.history) {
      console.log(
        table(
          ['version', 'at', 'set by', 'proof', 'sha256', 'reason'],
          versions.map((v) => [v.version, v.at, v.setBy, v.proof, v.sha256.slice(0, 12), v.reason]),
        ),
      );
      return;
    }
    console.log(describe(current));
    console.log(JSON.stringify(current.policy, null, 2));
  } finally {
    registry.close();
  }
}

function describe(p: RegisteredModelPolicy): string {
  return `${p.model}: policy v${p.version} (sha256 ${p.sha256.slice(0, 12)}…), set by ${p.setBy} (${p.proof}) at ${p.at}: ${p.reason}`;
}

/** The policy in a file: { gate, monitor }, or a whole model spec (its gate and monitor sections). */
export function readPolicyFile(file: string): ReturnType<typeof parseModelPolicy> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read the policy ${file}: ${(err as Error).message}`);
  }
  // a whole model spec (it has features; a policy file never does): its gate and monitor sections are the policy
  if (json && typeof json === 'object' && !Array.isArray(json) && 'features' in json) {
    const spec = json as Record<string, unknown>;
    // a spec without a gate section runs under the default gate, so that is its policy
    json = { gate: spec.gate ?? {}, ...(spec.monitor !== undefined ? { monitor: spec.monitor } : {}) };
  }
  return parseModelPolicy(json);
}

export async function policySet(model: string, opts: { from: string; reason: string; actor?: string }): Promise<void> {
  if (!opts.reason?.trim()) throw new CliError('a policy change needs --reason');
  const parsed = readPolicyFile(opts.from);
  if ('problems' in parsed) throw new CliError(`${opts.from}: ${parsed.problems.join('; ')}`);
  const { registry } = await openRegistry();
  try {
    const current = await registry.modelPolicy(model);
    const sha256 = policySha256(parsed.policy);
    if (current?.sha256 === sha256) return void console.log(`${describe(current)}\n(unchanged: the same policy)`);
    const from = current?.version ?? 0;
    const verdict = await decideHere(
      registry,
      { action: 'model-policy', model, subject: { from, sha256 }, comment: opts.reason.trim() },
      { actor: opts.actor, usedAt: `cli model-policy ${model} v${from}` },
    );
    const registered = await registry.registerModelPolicy({
      model,
      policy: parsed.policy,
      expectedVersion: from,
      setBy: verdict.identity,
      proof: verdict.proof,
      reason: opts.reason.trim(),
      workflowId: null,
    });
    console.log(describe(registered));
    console.log('every run of the model is held to it from now on; a spec may tighten it, never loosen it');
  } finally {
    registry.close();
  }
}
