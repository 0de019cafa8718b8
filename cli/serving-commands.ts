import crypto from 'node:crypto';
import { lumenPaths } from '../lib/config';
import { openRegistryAt } from '../lib/registry/open';
import { announceAliasMove } from '../lib/serving/notify';
import { ServingPolicy } from '../lib/serving/policy';
import { findAdminToken } from '../lib/serving/tokens';
import { CliError, EXIT, parseVersion } from '../client/errors';
import { signer } from '../client/signing';
import { changeServingPolicy } from '../lib/serving/change';
import { loadAccessPolicy } from '../lib/access/policy';
import { LumenError, NotFoundError } from '../lib/errors';
import { printJson } from '../client/output';

/** `lumen serving show|set`: how a model's traffic is split between champion, canary and shadow. */

export async function servingShow(model: string, opts: { json?: boolean }): Promise<void> {
  const registry = await openRegistryAt(lumenPaths().registry);
  try {
    const stored = await registry.servingPolicy(model);
    const champion = await registry.alias(model, 'champion');
    const fromSpec = champion === null ? null : ((await registry.getVersion(model, champion))?.spec.serving ?? null);
    const policy = stored?.policy ?? ServingPolicy.parse(fromSpec ?? {});
    if (opts.json) return printJson({ model, champion, policy, source: stored ? 'registry' : 'spec', record: stored });
    console.log(`${model}: champion ${champion === null ? 'none' : `v${champion}`}`);
    console.log(
      `  canary ${policy.canary ? `v${policy.canary.version}, ${(100 * policy.canary.share).toFixed(1)}% of requests` : 'none'}`,
    );
    console.log(`  shadow ${policy.shadow ? `v${policy.shadow.version}` : 'none'}`);
    console.log(
      stored
        ? `  set by ${stored.updatedBy} at ${stored.updatedAt}: ${stored.reason}`
        : `  from the champion's spec (no change made with lumen serving set)`,
    );
  } finally {
    registry.close();
  }
}

export async function servingSet(
  model: string,
  opts: {
    /** commander: `--no-canary` makes it false, `--canary 3` makes it "3" */
    canary?: string | false;
    share?: string;
    shadow?: string | false;
    reason: string;
    /** why a version unfit for live traffic (failed gate, rejected, failed load check) may take a canary share */
    override?: string;
    actor?: string;
  },
): Promise<void> {
  const paths = lumenPaths();
  const registry = await openRegistryAt(paths.registry);
  try {
    const current = (await registry.servingPolicy(model))?.policy ?? ServingPolicy.parse({});
    let canary = current.canary;
    if (opts.canary === false) canary = null;
    else if (opts.canary !== undefined) {
      if (opts.share === undefined)
        throw new CliError('--canary needs --share (0–1): the share of requests it answers');
      const share = Number(opts.share);
      if (!(share >= 0 && share <= 1)) throw new CliError(`--share must be between 0 and 1, got "${opts.share}"`);
      canary = { version: parseVersion(opts.canary, '--canary'), share };
    } else if (opts.share !== undefined) {
      if (!canary) throw new CliError('no canary to change the share of: give --canary <version> too');
      canary = { ...canary, share: Number(opts.share) };
    }
    let shadow = current.shadow;
    if (opts.shadow === false) shadow = null;
    else if (opts.shadow !== undefined) shadow = { version: parseVersion(opts.shadow, '--shadow') };
    const policy = ServingPolicy.parse({ canary, shadow });
    // a decision like a promotion: signed with your key when you have one, verified, audited
    const { by, sign } = signer(opts.actor);
    const override = opts.override?.trim() || null;
    const subject = {
      canary: policy.canary ? `v${policy.canary.version} at ${policy.canary.share}` : null,
      shadow: policy.shadow ? `v${policy.shadow.version}` : null,
      override,
    };
    try {
      await changeServingPolicy(
        registry,
        loadAccessPolicy(paths.home),
        {
          model,
          policy,
          by,
          reason: opts.reason,
          ...(override ? { override } : {}),
          proof: sign({ action: 'serving', model, subject, comment: opts.reason }),
        },
        `cli serving set ${model} (${crypto.randomUUID()})`,
      );
    } catch (err) {
      // a version that does not exist is a wrong argument; a refusal is a decision not taken
      if (err instanceof NotFoundError) throw new CliError(err.message);
      if (err instanceof LumenError) throw new CliError(err.message, EXIT.failed);
      throw err;
    }
    const told = await announceAliasMove(registry, findAdminToken(paths.home));
    console.log(
      `${model}: canary ${policy.canary ? `v${policy.canary.version} at ${(100 * policy.canary.share).toFixed(1)}%` : 'none'}, shadow ${policy.shadow ? `v${policy.shadow.version}` : 'none'}` +
        ` (${told.told.length} serving instance(s) told; the others see it within seconds)`,
    );
  } finally {
    registry.close();
  }
}
