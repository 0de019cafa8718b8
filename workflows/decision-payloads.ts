// lib/access/statement is pure (no I/O, no imports): a validator checks the signature block's shape with it
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { proofProblem, type DecisionProof } from '../lib/access/statement';
import type { ApprovalRequest, QuarantineRequest } from './definitions';

/**
 * The shape of a person's decision, checked before anything else looks at it. An update's payload is whatever the
 * caller sent — a script, a hand-written gRPC call, a fuzzer — so a value of the wrong kind gets a refusal that
 * names the field and what it should be, never a TypeError from deep inside a validator.
 */

/** the longest identity and comment a decision may carry (it is kept in the history and the registry) */
export const MAX_IDENTITY = 200;
export const MAX_COMMENT = 10_000;

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

function fields(value: unknown, what: string, allowed: string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
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
    by: text(o, what, 'by', MAX_IDENTITY),
    comment: text(o, what, 'comment', MAX_COMMENT),
    ...proof(o, what),
  };
}

export function quarantinePayload(value: unknown): QuarantineRequest {
  const what = 'a quarantine decision';
  const o = fields(value, what, ['dataset', 'by', 'reason', 'proof']);
  return {
    dataset: text(o, what, 'dataset', 64),
    by: text(o, what, 'by', MAX_IDENTITY),
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
    by: text(o, what, 'by', MAX_IDENTITY),
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
    by: text(o, what, 'by', MAX_IDENTITY),
    reason: text(o, what, 'reason', MAX_COMMENT),
    requestId: text(o, what, 'requestId', 200),
    ...(o.to !== undefined ? { to: o.to } : {}),
    ...proof(o, what),
  };
}
