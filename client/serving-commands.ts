import { lumenPaths } from '../lib/config';
import { openRegistryAt } from '../lib/registry/open';
import { announceAliasMove } from '../lib/serving/notify';
import { ServingPolicy } from '../lib/serving/policy';
import { findAdminToken } from '../lib/serving/tokens';
import { CliError, parseVersion } from './errors';
import { actor } from './identity';
import { printJson } from './output';

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
    for (const arm of [canary, shadow]) {
      if (arm && !(await registry.getVersion(model, arm.version))) {
        throw new CliError(`${model} v${arm.version} is not registered (see: lumen models ${model})`);
      }
    }
    const policy = ServingPolicy.parse({ canary, shadow });
    await registry.setServingPolicy(model, policy, actor(opts.actor), opts.reason);
    const told = await announceAliasMove(registry, findAdminToken(paths.home));
    console.log(
      `${model}: canary ${policy.canary ? `v${policy.canary.version} at ${(100 * policy.canary.share).toFixed(1)}%` : 'none'}, shadow ${policy.shadow ? `v${policy.shadow.version}` : 'none'}` +
        ` (${told.told.length} serving instance(s) told; the others see it within seconds)`,
    );
  } finally {
    registry.close();
  }
}
