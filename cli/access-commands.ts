import fs from 'node:fs';
import { generateSigningKey, parsePublicKey, signingKeyFile } from '../lib/access/keys';
import { escapeUnprintable, identityProblem } from '../lib/access/identity';
import { loadAccessPolicy, roleOf } from '../lib/access/policy';
import type { DecisionAction } from '../lib/access/statement';
import { verifyDecision } from '../lib/access/verify';
import { lumenPaths } from '../lib/config';
import type { Registry } from '../lib/registry/types';
import { CliError, EXIT, parseCount } from '../client/errors';
import { color, printJson, table } from '../client/output';
import { openRegistry } from './registry-commands';
import { signer } from '../client/signing';

/** `lumen keys …` and `lumen audit`: who may sign decisions, and what was decided by whom. */

export async function keysGenerateCommand(person: string, opts: { out?: string }): Promise<void> {
  const file = opts.out ?? signingKeyFile();
  const key = generateSigningKey(person, file);
  const pub = `${file.replace(/\.json$/, '')}.pub.pem`;
  fs.writeFileSync(pub, key.publicKeyPem, { mode: 0o644 });
  console.log(`signing key for ${key.person}: ${file} (only you can read it; keep it so)`);
  console.log(`key id      ${key.keyId}`);
  console.log(`public key  ${pub}`);
  console.log(`an admin registers it with:  lumen keys add ${key.person} ${pub} --reason "<why>"`);
}

/** A key change is itself a decision: signed by an admin, except the very first key of an admin (bootstrap). */
async function verifyKeyChange(
  registry: Registry,
  action: Extract<DecisionAction, 'keys-add' | 'keys-revoke'>,
  subject: Record<string, string>,
  reason: string,
  bootstrapPerson: string | null,
): Promise<string> {
  const policy = loadAccessPolicy(lumenPaths().home);
  const active = (await registry.listKeys()).filter((k) => !k.revokedAt);
  if (active.length === 0 && bootstrapPerson !== null && policy.enforce) {
    // nobody can sign yet: the first key may be added unsigned, and only for someone access.json makes admin
    if (roleOf(policy, bootstrapPerson, '*') !== 'admin') {
      throw new CliError(
        `no key is registered yet: the first one must belong to an admin ("*": "admin" in ${policy.file}); ` +
          `${bootstrapPerson} is not one`,
        EXIT.failed,
      );
    }
    return `${bootstrapPerson} (first key)`;
  }
  const { by, sign } = signer();
  const claim = { action, model: '*', subject, comment: reason };
  const verdict = await verifyDecision(
    { ...claim, by, proof: sign(claim) },
    { registry, policy, usedAt: `cli ${action} ${subject.keyId}`, workflowId: null },
  );
  if (!verdict.accepted) throw new CliError(`${action} refused: ${verdict.reason}`, EXIT.failed);
  return verdict.identity;
}

export async function keysAddCommand(person: string, publicKeyFile: string, opts: { reason: string }): Promise<void> {
  let text: string;
  try {
    text = fs.readFileSync(publicKeyFile, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${publicKeyFile}: ${(err as Error).message}`);
  }
  const badName = identityProblem(person);
  if (badName) throw new CliError(`${escapeUnprintable(JSON.stringify(person))} is not a name: ${badName}`);
  const { pem, keyId } = parsePublicKey(text, publicKeyFile);
  const { registry } = await openRegistry();
  try {
    const existing = await registry.getKey(keyId);
    if (existing?.revokedAt) {
      throw new CliError(`key ${keyId} was revoked at ${existing.revokedAt}; a revoked key is never added back`);
    }
    if (existing && existing.person !== person) {
      throw new CliError(`key ${keyId} is already registered to ${existing.person}`);
    }
    if (existing) return void console.log(`key ${keyId} of ${person} is already registered (by ${existing.addedBy})`);
    const by = await verifyKeyChange(registry, 'keys-add', { keyId, person }, opts.reason, person);
    const key = await registry.addKey({ keyId, person, publicKeyPem: pem, addedBy: by });
    console.log(`key ${key.keyId} of ${key.person} registered (by ${key.addedBy})`);
  } finally {
    registry.close();
  }
}

export async function keysRevokeCommand(keyId: string, opts: { reason: string }): Promise<void> {
  if (!/^[0-9a-f]{32}$/.test(keyId)) throw new CliError(`"${keyId}" is not a key id (32 hex digits; lumen keys list)`);
  const { registry } = await openRegistry();
  try {
    const key = await registry.getKey(keyId);
    if (!key) throw new CliError(`no key ${keyId} is registered (lumen keys list)`);
    if (key.revokedAt) return void console.log(`key ${keyId} of ${key.person} was already revoked at ${key.revokedAt}`);
    const by = await verifyKeyChange(registry, 'keys-revoke', { keyId, person: key.person }, opts.reason, null);
    const revoked = await registry.revokeKey(keyId, by, opts.reason);
    console.log(`key ${keyId} of ${revoked.person} revoked at ${revoked.revokedAt} by ${revoked.revokedBy}`);
  } finally {
    registry.close();
  }
}

export async function keysListCommand(opts: { json?: boolean }): Promise<void> {
  const { registry } = await openRegistry();
  try {
    const keys = await registry.listKeys();
    const policy = loadAccessPolicy(lumenPaths().home);
    if (opts.json) return printJson(keys.map(({ publicKeyPem: _, ...k }) => k));
    console.log(policy.file ? `access policy ${policy.file}` : 'access control is off (no access.json)');
    if (keys.length === 0) return void console.log('no keys registered');
    console.log(
      table(
        ['key id', 'person', 'roles', 'added', 'by', 'state'],
        keys.map((k) => [
          k.keyId,
          k.person,
          Object.entries(policy.roles[k.person] ?? {})
            .map(([m, r]) => `${m}: ${r}`)
            .join(', ') || '–',
          k.addedAt.slice(0, 19).replace('T', ' '),
          k.addedBy,
          k.revokedAt ? color.red(`revoked ${k.revokedAt.slice(0, 10)}: ${k.revokeReason}`) : 'active',
        ]),
      ),
    );
  } finally {
    registry.close();
  }
}

/** `--since`: a time (ISO 8601) or a span back from now (90m, 24h, 7d). */
export function parseSince(text: string, now = Date.now()): string {
  const span = /^(\d+)\s*(m|h|d)$/.exec(text.trim());
  if (span) return new Date(now - Number(span[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[span[2]]!).toISOString();
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new CliError(`--since must be a time (ISO 8601) or a span like 24h or 7d; got "${text}"`);
  return new Date(at).toISOString();
}

export async function auditCommand(
  model: string,
  opts: { since?: string; limit: string; json?: boolean },
): Promise<void> {
  const since = opts.since === undefined ? undefined : parseSince(opts.since);
  const limit = parseCount(opts.limit, '--limit');
  const { registry } = await openRegistry();
  try {
    const events = await registry.listAudit({ model, since, limit });
    if (events.length === 0 && !(await registry.listModels()).some((m) => m.model === model)) {
      throw new CliError(`nothing is recorded for a model "${model}" (lumen models lists them)`);
    }
    if (opts.json) return printJson(events);
    if (events.length === 0) return void console.log(`no audit events for ${model}${since ? ` since ${since}` : ''}`);
    const paint = { accepted: color.green, refused: color.red, applied: (s: string) => s, automatic: color.yellow };
    console.log(
      table(
        ['at', 'action', 'subject', 'who', 'proof', 'outcome', 'detail'],
        events.map((e) => [
          e.at.slice(0, 19).replace('T', ' '),
          e.action,
          escapeUnprintable(describeSubject(e.subject)),
          // a name nobody proved is shown as a claim, escaped so it cannot pose as another row
          e.proof === 'signed' || e.proof === 'system'
            ? escapeUnprintable(e.identity)
            : `"${escapeUnprintable(e.identity)}" (claimed)`,
          e.proof === 'signed' ? `signed ${e.keyId?.slice(0, 8)}` : e.proof,
          paint[e.outcome](e.outcome),
          escapeUnprintable(e.detail.length > 100 ? `${e.detail.slice(0, 99)}…` : e.detail),
        ]),
      ),
    );
  } finally {
    registry.close();
  }
}

function describeSubject(subject: Record<string, unknown>): string {
  return Object.entries(subject)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return `${k} ${/^[0-9a-f]{40,}$/.test(text) ? `${text.slice(0, 12)}…` : text.length > 40 ? `${text.slice(0, 39)}…` : text}`;
    })
    .join(', ');
}
