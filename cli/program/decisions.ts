import type { Command } from 'commander';
import { actorOption, byOption, jsonOption } from './options';

/** People's decisions and what governs them: approvals, the champion's moves, aliases, signing keys, the audit trail, the model policy. */
export function addDecisionCommands(program: Command): void {
  for (const kind of ['approve', 'reject'] as const) {
    program
      .command(kind)
      .description(`${kind} a candidate waiting for approval`)
      .argument('<model>')
      .requiredOption('--version <n>', 'the candidate version (must be the one waiting)')
      .requiredOption('--comment <text>', 'why (recorded in lineage)')
      .addOption(actorOption())
      .addOption(byOption())
      .action(async (model: string, opts: Parameters<typeof import('../champion-commands').decideCandidate>[2]) =>
        (await import('../champion-commands')).decideCandidate(kind, model, opts),
      );
  }
  program
    .command('pending')
    .description('candidates waiting for approval')
    .argument('[model]')
    .addOption(jsonOption())
    .action(
      async (model: string | undefined, opts: Parameters<typeof import('../registry-commands').pendingCommand>[1]) =>
        (await import('../registry-commands')).pendingCommand(model, opts),
    );

  program
    .command('history')
    .description('alias history of a model; --at T: which version was champion at T')
    .argument('<model>')
    .option('--at <time>', 'ISO date/time')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('../registry-commands').historyCommand>[1]) =>
      (await import('../registry-commands')).historyCommand(model, opts),
    );

  program
    .command('rollback')
    .description('move the champion back (to the previous champion unless --to), load-checked and recorded')
    .argument('<model>')
    .option('--to <version>', 'the version to roll back to')
    .requiredOption('--reason <text>', 'why (recorded in the history)')
    .addOption(actorOption())
    .addOption(byOption())
    .option('--request-id <id>', 'idempotency key: repeating a request with the same id moves nothing twice')
    .action(async (model: string, opts: Parameters<typeof import('../champion-commands').changeChampion>[2]) =>
      (await import('../champion-commands')).changeChampion('rollback', model, opts),
    );
  program
    .command('promote')
    .description('make a registered version champion by hand, load-checked and recorded')
    .argument('<model>')
    .requiredOption('--version <n>', 'the version to promote')
    .requiredOption('--reason <text>', 'why (recorded in the history)')
    .option(
      '--override <why>',
      'promote a version that failed its gate, awaits approval, was rejected or failed its load check (audited)',
    )
    .addOption(actorOption())
    .addOption(byOption())
    .option('--request-id <id>', 'idempotency key')
    .action(async (model: string, opts: Parameters<typeof import('../champion-commands').changeChampion>[2]) =>
      (await import('../champion-commands')).changeChampion('promote', model, opts),
    );
  program
    .command('alias')
    .description('point a free-form alias (staging, shadow…) at a version, or "none" to remove it')
    .argument('<model>')
    .argument('<alias>')
    .argument('<version>', 'a version number, or "none"')
    .requiredOption('--reason <text>', 'why (recorded in the history)')
    .addOption(actorOption())
    .addOption(byOption())
    .action(
      async (
        model: string,
        alias: string,
        version: string,
        opts: Parameters<typeof import('../champion-commands').setAlias>[3],
      ) => (await import('../champion-commands')).setAlias(model, alias, version, opts),
    );
  program
    .command('verify')
    .description(
      "re-check a version's bytes and load it in a fresh process (default: the champion); clears a failed check",
    )
    .argument('<model>', '<model> (its champion) or <model>@<version>')
    .addOption(actorOption())
    .addOption(jsonOption())
    .action(async (ref: string, opts: Parameters<typeof import('../champion-commands').verifyCommand>[1]) =>
      (await import('../champion-commands')).verifyCommand(ref, opts),
    );

  const keys = program.command('keys').description('signing keys: who may sign decisions (docs/security.md)');
  keys
    .command('generate')
    .description('make your signing key (Ed25519); prints the public key an admin registers')
    .argument('<person>', 'your name, as access.json gives you roles')
    .option('--out <file>', 'where to write it (default: LUMEN_KEY_FILE, else ~/.config/lumen/signing-key.json)')
    .action(async (person: string, opts: { out?: string }) =>
      (await import('../access-commands')).keysGenerateCommand(person, opts),
    );
  keys
    .command('add')
    .description("register a person's public key (an admin signs this; the first admin's key bootstraps)")
    .argument('<person>')
    .argument('<public-key-file>', 'PEM, as lumen keys generate wrote it')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .action(async (person: string, file: string, opts: { reason: string }) =>
      (await import('../access-commands')).keysAddCommand(person, file, opts),
    );
  keys
    .command('revoke')
    .description('revoke a key: nothing it signs is accepted any more (an admin signs this)')
    .argument('<key-id>')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .action(async (keyId: string, opts: { reason: string }) =>
      (await import('../access-commands')).keysRevokeCommand(keyId, opts),
    );
  keys
    .command('list')
    .description('registered keys, their owners and roles')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }) => (await import('../access-commands')).keysListCommand(opts));
  program
    .command('audit')
    .description('who decided what about a model: decisions (accepted or refused), changes, automatic actions')
    .argument('<model>', 'a model, or "*" for key changes')
    .option('--since <time>', 'a time (ISO 8601) or a span back from now: 90m, 24h, 7d')
    .option('--limit <n>', 'the newest n events', '200')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('../access-commands').auditCommand>[1]) =>
      (await import('../access-commands')).auditCommand(model, opts),
    );
  const policy = program
    .command('policy')
    .description("a model's registered policy: its gate, approvals and monitor, binding every run (docs/security.md)");
  policy
    .command('show')
    .argument('<model>')
    .option('--history', 'every version, who set it and why')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('../policy-commands').policyShow>[1]) =>
      (await import('../policy-commands')).policyShow(model, opts),
    );
  policy
    .command('set')
    .description('register the next version of the policy (an admin, signed)')
    .argument('<model>')
    .requiredOption('--from <file>', 'JSON with "gate" and optionally "monitor", or a model spec (its sections)')
    .requiredOption('--reason <text>', 'why (kept in the audit trail)')
    .addOption(actorOption())
    .action(async (model: string, opts: Parameters<typeof import('../policy-commands').policySet>[1]) =>
      (await import('../policy-commands')).policySet(model, opts),
    );
}
