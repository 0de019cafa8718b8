/**
 * What a person signs when they decide: the action, the model, exactly what it is about, who, why, when, and a
 * nonce. Pure and dependency-free, so the workflows build the same statement the CLI signed and hand it to the
 * activity that checks the signature; nothing here touches keys.
 */

/** Every decision a person makes about a model, and what each needs. */
export const ACTIONS = {
  start: 'operator',
  discard: 'operator',
  check: 'operator',
  retrain: 'operator',
  pause: 'operator',
  resume: 'operator',
  rollback: 'operator',
  release: 'approver',
  approve: 'approver',
  reject: 'approver',
  promote: 'approver',
  alias: 'approver',
  /** a model's traffic split (canary, shadow) */
  serving: 'approver',
  /** creating, changing or deleting a training schedule; starting or stopping an inbox watch */
  schedule: 'operator',
  inbox: 'operator',
  /** a monitor's live policy */
  policy: 'admin',
  /** a model's registered governing policy (gate, approvals, monitor) */
  'model-policy': 'admin',
  'keys-add': 'admin',
  'keys-revoke': 'admin',
} as const satisfies Record<string, Role>;

export type DecisionAction = keyof typeof ACTIONS;

/** Roles, weakest first: each holds everything the roles before it may do. */
export const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAllows(held: Role | null, needed: Role): boolean {
  return held !== null && ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

/** The signature and what makes it one-off, sent beside the decision's own fields. */
export interface DecisionProof {
  /** the signing key's id: the first 32 hex digits of the sha-256 of its raw public key */
  keyId: string;
  /** when it was signed (ISO 8601); far from the verifier's clock, it is refused */
  at: string;
  /** random, 32 hex digits: a statement is accepted once */
  nonce: string;
  /** Ed25519 over `statementText(…)`, base64 */
  signature: string;
}

/** A decision as the verifier sees it: what the workflow (or the CLI) knows it is about, and the proof sent. */
export interface DecisionClaim {
  action: DecisionAction;
  model: string;
  /** what exactly is decided: a version and its digest, a batch hash, a request id, a policy change… */
  subject: Record<string, string | number | boolean | null>;
  /** the identity claimed */
  by: string;
  /** the comment or reason given */
  comment: string;
  proof?: DecisionProof;
}

const PREFIX = 'lumen-decision-v1\n';

/** JSON with object keys sorted at every level (for a subject that is itself a structure, e.g. a policy change). */
export function canonical(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sorted(value)) ?? 'null';
}

/** The exact text signed: canonical JSON (keys sorted), so the signer and the verifier build the same bytes. */
export function statementText(claim: Omit<DecisionClaim, 'proof'>, proof: Omit<DecisionProof, 'signature'>): string {
  const { action, by, comment, model, subject } = claim;
  const { at, keyId, nonce } = proof;
  return PREFIX + canonical({ action, at, by, comment, keyId, model, nonce, subject });
}

const HEX = /^[0-9a-f]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The proof's shape, checked where a payload arrives (validators); its truth is checked by `verifyDecision`. */
export function proofProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'must be an object';
  const p = value as Record<string, unknown>;
  const extra = Object.keys(p).filter((k) => !['keyId', 'at', 'nonce', 'signature'].includes(k));
  if (extra.length) return `has unknown field(s) ${extra.join(', ')}`;
  if (typeof p.keyId !== 'string' || p.keyId.length !== 32 || !HEX.test(p.keyId))
    return '"keyId" must be 32 hex digits';
  if (typeof p.at !== 'string' || p.at.length > 40 || Number.isNaN(Date.parse(p.at))) return '"at" must be a time';
  if (typeof p.nonce !== 'string' || p.nonce.length !== 32 || !HEX.test(p.nonce))
    return '"nonce" must be 32 hex digits';
  if (typeof p.signature !== 'string' || p.signature.length > 200 || !BASE64.test(p.signature)) {
    return '"signature" must be base64 (an Ed25519 signature)';
  }
  return null;
}
