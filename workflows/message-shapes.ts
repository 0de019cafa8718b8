// lib/access/statement is pure (no I/O, no imports): a validator checks the signature block's shape with it
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { proofProblem, type DecisionProof } from '../lib/access/statement';
// lib/access/identity is pure (no I/O, no imports): names are checked where they arrive
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { identityProblem } from '../lib/access/identity';
import type { ApprovalRequest, QuarantineRequest } from './definitions';
import type { ChampionMovedEvent } from './monitor-definitions';
import { UndecodablePayload } from './payload-converter';

/**
 * The shape of every message a workflow takes — a person's decision, a request to a monitor, an event another
 * process sends — checked before anything else looks at it. A payload is whatever the sender sent: a script,
 * `temporal workflow signal --input …`, a hand-written gRPC call, a fuzzer. So a value of the wrong kind gets a
 * refusal that names the field and what it should be, never a TypeError from deep inside a handler. Pure and
 * deterministic: the workflows run these in Temporal's sandbox, and the CLI runs the same ones before it sends.
 */

/** the longest identity and comment a decision may carry (it is kept in the history and the registry) */
export const MAX_IDENTITY = 200;
export const MAX_COMMENT = 10_000;

function kind(value: unknown): string {
  if (value instanceof UndecodablePayload) return `a payload that cannot be decoded (${value.reason})`;
  if (value instanceof Uint8Array) return `binary data (${value.length} bytes)`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

function fields(value: unknown, what: string, allowed: string[]): Record<string, unknown> {
  const plain =
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    !(value instanceof UndecodablePayload) &&
    !(value instanceof Uint8Array);
  if (!plain) {
    throw new Error(`${what} must be an object with ${allowed.join(', ')}; got ${kind(value)}`);
  }
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw new Error(`${what} has unknown field(s) ${unknown.join(', ')} (allowed: ${allowed.join(', ')})`);
  return value as Record<string, unknown>;
}

function text(o: Record<string, unknown>, what: string, field: string, max: number): string {
  const v = o[field];
  if (typeof v !== 'string') throw new Error(`${what}: "${field}" must be text; got ${kind(v)}`);
  if (v.length > max) throw new Error(`${what}: "${field}" is ${v.length} characters; at most ${max}`);
  return v;
}

/** A person's (or a part of Lumen's) name: printable, bounded, no surrounding spaces (lib/access/identity). */
function identity(o: Record<string, unknown>, what: string): string {
  const v = text(o, what, 'by', MAX_IDENTITY);
  const problem = identityProblem(v);
  if (problem) throw new Error(`${what}: "by" must be the identity of who asks: ${problem}`);
  return v;
}

/**
 * The one argument a message carries: Temporal passes a handler every argument the sender put in, so two, or none,
 * is as wrong as one of the wrong kind.
 */
export function single(args: unknown[], what: string): unknown {
  if (args.length !== 1) throw new Error(`${what} takes one argument; got ${args.length}`);
  return args[0];
}

/** The signature block, if one was sent: its shape here, its truth in the verifying activity. */
function proof(o: Record<string, unknown>, what: string): { proof?: DecisionProof } {
  if (o.proof === undefined) return {};
  const problem = proofProblem(o.proof);
  if (problem) throw new Error(`${what}: "proof" ${problem}`);
  return { proof: o.proof as DecisionProof };
}

export function approvalPayload(value: unknown): ApprovalRequest {
  const what = 'an approval';
  const o = fields(value, what, ['version', 'artifactSha256', 'by', 'comment', 'proof']);
  if (typeof o.version !== 'number' || !Number.isSafeInteger(o.version) || o.version < 1) {
    throw new Error(`${what}: "version" must be a version number (1, 2, …); got ${kind(o.version)}`);
  }
  return {
    version: o.version,
    artifactSha256: text(o, what, 'artifactSha256', 64),
    by: identity(o, what),
    comment: text(o, what, 'comment', MAX_COMMENT),
    ...proof(o, what),
  };
}

export function quarantinePayload(value: unknown): QuarantineRequest {
  const what = 'a quarantine decision';
  const o = fields(value, what, ['dataset', 'by', 'reason', 'proof']);
  return {
    dataset: text(o, what, 'dataset', 64),
    by: identity(o, what),
    reason: text(o, what, 'reason', MAX_COMMENT),
    ...proof(o, what),
  };
}

/** A change of a monitor's policy: the fields to change (checked by the policy's own schema after), who and why. */
export function policyPayload(value: unknown): {
  policy: Record<string, unknown>;
  by: string;
  reason: string;
  proof?: DecisionProof;
} {
  const what = 'a policy change';
  const o = fields(value, what, ['policy', 'by', 'reason', 'proof']);
  const policy = o.policy;
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) {
    throw new Error(`${what}: "policy" must be an object of the fields to change; got ${kind(policy)}`);
  }
  return {
    policy: policy as Record<string, unknown>,
    by: identity(o, what),
    reason: text(o, what, 'reason', MAX_COMMENT),
    ...proof(o, what),
  };
}

/**
 * A person's request to a monitor (rollback, retrain, check, pause, resume). Signals cannot answer, so the caller
 * gets the refusal from this same check before sending (the CLI), and the workflow drops — with a warning in the
 * worker's log — what does not pass, rather than fail its task on it over and over.
 */
export function personPayload(value: unknown): {
  by: string;
  reason: string;
  requestId: string;
  to?: number;
  proof?: DecisionProof;
} {
  const what = 'a request to the monitor';
  const o = fields(value, what, ['by', 'reason', 'requestId', 'to', 'proof']);
  if (o.to !== undefined && (typeof o.to !== 'number' || !Number.isSafeInteger(o.to) || o.to < 1)) {
    throw new Error(`${what}: "to" must be a version number (1, 2, …); got ${kind(o.to)}`);
  }
  return {
    by: identity(o, what),
    reason: text(o, what, 'reason', MAX_COMMENT),
    requestId: text(o, what, 'requestId', MAX_ID),
    ...(o.to !== undefined ? { to: o.to } : {}),
    ...proof(o, what),
  };
}

/** The longest id of an event or a person's request (they are kept in the monitor's state). */
const MAX_ID = 200;

/**
 * A champion move, as the activity that moved the alias tells the model's monitor. Every field is required: the
 * monitor acts on the version (a check, incidents of the old version forgotten), so a partial event is refused,
 * not guessed at.
 */
export function championMovedPayload(value: unknown): ChampionMovedEvent {
  const what = 'a champion move';
  const o = fields(value, what, ['eventId', 'version', 'previous', 'kind', 'by', 'at']);
  const version = (field: 'version' | 'previous', nullable: boolean): number | null => {
    const v = o[field];
    if (nullable && v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
      throw new Error(
        `${what}: "${field}" must be a version number (1, 2, …)${nullable ? ' or null' : ''}; got ${kind(v)}`,
      );
    }
    return v;
  };
  if (o.kind !== 'promote' && o.kind !== 'rollback') {
    throw new Error(`${what}: "kind" must be "promote" or "rollback"; got ${kind(o.kind)}`);
  }
  const at = text(o, what, 'at', 40);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(at) || Number.isNaN(Date.parse(at))) {
    throw new Error(`${what}: "at" must be an ISO date and time; got ${kind(at)}`);
  }
  const eventId = text(o, what, 'eventId', MAX_ID);
  if (!eventId.trim()) throw new Error(`${what}: "eventId" is empty`);
  return {
    eventId,
    version: version('version', false)!,
    previous: version('previous', true),
    kind: o.kind,
    by: identity(o, what),
    at,
  };
}

/** A request to scan an inbox now: no argument, or who asks and why. */
export function scanRequestPayload(args: unknown[]): { by?: string; reason?: string } {
  const what = 'a scan request';
  if (args.length === 0 || (args.length === 1 && args[0] === undefined)) return {};
  const o = fields(single(args, what), what, ['by', 'reason']);
  return {
    ...(o.by !== undefined ? { by: identity(o, what) } : {}),
    ...(o.reason !== undefined ? { reason: text(o, what, 'reason', MAX_COMMENT) } : {}),
  };
}
