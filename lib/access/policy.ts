import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SpecError } from '../errors';
import { ROLES, type Role } from './statement';

/**
 * Who may do what, per model: `access.json` in LUMEN_HOME (or the file LUMEN_ACCESS names). With the file, every
 * person's decision must be signed with a registered key and the signer's role must allow it; without it, access
 * control is off and decisions carry the name the caller claims (recorded as "claimed", and said at start-up).
 *
 *   { "roles": { "ana": { "*": "admin" }, "bo": { "flights-delay": "approver", "*": "viewer" } } }
 */
const AccessFile = z.strictObject({
  /** false keeps the roles on record but accepts unsigned decisions (a migration period); default true */
  enforce: z.boolean().default(true),
  /** how far a statement's signing time may be from the verifier's clock (default 300 s) */
  maxSkewSeconds: z.number().int().min(5).max(86_400).default(300),
  roles: z.record(
    z.string().min(1).max(200),
    z.record(z.string().min(1).max(200), z.enum(ROLES)).refine((r) => Object.keys(r).length > 0, 'no roles given'),
  ),
});

export interface AccessPolicy {
  /** the file it came from (null: access control is off) */
  file: string | null;
  enforce: boolean;
  maxSkewSeconds: number;
  roles: Record<string, Record<string, Role>>;
}

export const OPEN_ACCESS: AccessPolicy = { file: null, enforce: false, maxSkewSeconds: 300, roles: {} };

export function accessFile(home: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.LUMEN_ACCESS ? path.resolve(env.LUMEN_ACCESS) : path.join(home, 'access.json');
}

/** The policy in force; a file that exists but does not parse is an error (never silently "off"). */
export function loadAccessPolicy(home: string, env: NodeJS.ProcessEnv = process.env): AccessPolicy {
  const file = accessFile(home, env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !env.LUMEN_ACCESS) return OPEN_ACCESS;
    throw new SpecError(`cannot read the access policy ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SpecError(`the access policy ${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = AccessFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new SpecError(`the access policy ${file} is invalid: ${problems.join('; ')}`);
  }
  return { file, ...parsed.data };
}

/** A person's role on a model: the model's own entry, else their "*" entry, else none. */
export function roleOf(policy: AccessPolicy, person: string, model: string): Role | null {
  const mine = policy.roles[person];
  return mine?.[model] ?? mine?.['*'] ?? null;
}

/** One line for start-up logs: is access control on, and from where. */
export function describeAccess(policy: AccessPolicy): string {
  if (!policy.file) return 'access control: off (no access.json; decisions carry the names callers claim)';
  const people = Object.keys(policy.roles).length;
  return `access control: ${policy.enforce ? 'on' : 'recording only (enforce: false)'} — ${policy.file}, ${people} ${people === 1 ? 'person' : 'people'}`;
}
