import crypto from 'node:crypto';
import fs from 'node:fs';
import { loadSigningKey, signClaim, signingKeyFile, type SigningKey } from '../lib/access/keys';
import type { DecisionClaim, DecisionProof } from '../lib/access/statement';
import { loadAccessPolicy } from '../lib/access/policy';
import { verifyDecision, type AccessVerdict } from '../lib/access/verify';
import { lumenPaths } from '../lib/config';
import type { Registry } from '../lib/registry/types';
import { CliError, EXIT } from './errors';
import { actor } from './identity';

/**
 * Who is deciding, and their signature. With a signing key (LUMEN_KEY_FILE, or ~/.config/lumen/signing-key.json)
 * every decision is signed and made under the key's name; without one it goes unsigned under the OS user's name
 * (or --actor), which a worker accepts only while access control is off.
 */
export interface Signer {
  by: string;
  key: SigningKey | null;
  /** the proof for this decision (undefined: unsigned) */
  sign: (claim: Omit<DecisionClaim, 'proof' | 'by'>) => DecisionProof | undefined;
}

export function signer(explicit?: string, env: NodeJS.ProcessEnv = process.env): Signer {
  const file = signingKeyFile(env);
  // a key named in the environment must be there; the default place may simply be empty
  const key = env.LUMEN_KEY_FILE || fs.existsSync(file) ? loadSigningKey(file) : null;
  if (!key) {
    const by = actor(explicit);
    return { by, key: null, sign: () => undefined };
  }
  if (explicit?.trim() && explicit.trim() !== key.person) {
    throw new CliError(
      `you sign as ${key.person} (${file}); --actor "${explicit.trim()}" is someone else. Drop --actor, or use ` +
        `their key (LUMEN_KEY_FILE)`,
    );
  }
  return { by: key.person, key, sign: (claim) => signClaim(key, { ...claim, by: key.person }) };
}

/**
 * A decision checked where the CLI runs, against the registry and access.json it shares with the workers (as key
 * changes are): signed with the caller's key if they have one, verified (signature, key, role, freshness, replay),
 * and put in the audit trail, accepted or refused. A refusal is a CliError with the reason; nothing is changed.
 */
export async function decideHere(
  registry: Registry,
  claim: Omit<DecisionClaim, 'proof' | 'by'>,
  opts: { actor?: string; usedAt: string },
): Promise<AccessVerdict> {
  const { by, sign } = signer(opts.actor);
  const verdict = await verifyDecision(
    { ...claim, by, proof: sign(claim) },
    {
      registry,
      policy: loadAccessPolicy(lumenPaths().home),
      // one command is one use: the same statement again, from any command, is a replay
      usedAt: `${opts.usedAt} (${crypto.randomUUID()})`,
      workflowId: null,
    },
  );
  if (!verdict.accepted) throw new CliError(`${claim.action} refused: ${verdict.reason}`, EXIT.failed);
  return verdict;
}
