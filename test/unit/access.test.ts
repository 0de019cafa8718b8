import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { generateSigningKey, loadSigningKey, parsePublicKey, signClaim, type SigningKey } from '../../lib/access/keys';
import { loadAccessPolicy, roleOf } from '../../lib/access/policy';
import { proofProblem, statementText, type DecisionClaim } from '../../lib/access/statement';
import { verifyDecision } from '../../lib/access/verify';
import { SpecError } from '../../lib/errors';
import { tempHome, type TestHome } from '../support/env';

describe('access: signed decisions, roles, replay, revoked keys', () => {
  let t: TestHome;
  const keys: Record<string, SigningKey> = {};
  const approve = (by: string, comment = 'metrics look right'): Omit<DecisionClaim, 'proof'> => ({
    action: 'approve',
    model: 'm1',
    subject: { version: 3, artifactSha256: 'a'.repeat(64) },
    by,
    comment,
  });
  const signed = (key: SigningKey, claim = approve(key.person), at?: Date): DecisionClaim => ({
    ...claim,
    proof: signClaim(key, claim, at),
  });
  let uses = 0;
  const check = (claim: DecisionClaim, usedAt = `use ${++uses}`) =>
    verifyDecision(claim, {
      registry: t.deps.registry,
      policy: loadAccessPolicy(t.home, {}),
      usedAt,
      workflowId: 'wf-test',
    });

  before(async () => {
    t = tempHome();
    fs.writeFileSync(
      path.join(t.home, 'access.json'),
      JSON.stringify({
        roles: { ana: { '*': 'admin' }, bo: { m1: 'approver', '*': 'viewer' }, cy: { m1: 'operator' } },
      }),
    );
    for (const person of ['ana', 'bo', 'cy', 'bo-old']) {
      const key = generateSigningKey(person === 'bo-old' ? 'bo' : person, path.join(t.home, 'keys', `${person}.json`));
      keys[person] = key;
      await t.deps.registry.addKey({
        keyId: key.keyId,
        person: key.person,
        publicKeyPem: key.publicKeyPem,
        addedBy: 'ana',
      });
    }
    await t.deps.registry.revokeKey(keys['bo-old'].keyId, 'ana', 'laptop lost');
  });
  after(() => t.cleanup());

  it("accepts a valid signed decision under the signer's name, and again only from the same place", async () => {
    const claim = signed(keys.bo);
    const verdict = await check(claim, 'wf/run/activity 7');
    assert.deepEqual(
      [verdict.accepted, verdict.identity, verdict.proof, verdict.role],
      [true, 'bo', 'signed', 'approver'],
    );
    // the same activity retried: not a replay
    assert.equal((await check(claim, 'wf/run/activity 7')).accepted, true);
    const replay = await check(claim, 'wf/run/activity 9');
    assert.equal(replay.accepted, false);
    assert.match(replay.reason, /already used .*wf\/run\/activity 7.*replay is refused/);
  });

  it('refuses unsigned, altered, misattributed, stale, unknown, revoked and under-privileged decisions', async () => {
    const altered = signed(keys.bo);
    const cases: [string, DecisionClaim, RegExp][] = [
      ['unsigned', approve('bo'), /access control is on .*needs a signed decision/],
      ['altered comment', { ...altered, comment: 'something else' }, /does not match the decision/],
      [
        'another version',
        { ...altered, subject: { version: 4, artifactSha256: 'a'.repeat(64) } },
        /does not match the decision/,
      ],
      ["someone else's name", { ...signed(keys.bo), by: 'ana' }, /belongs to bo, not to "ana"/],
      [
        'an hour old',
        signed(keys.bo, approve('bo'), new Date(Date.now() - 3_600_000)),
        /3600 s from this worker's clock/,
      ],
      ['revoked key', signed(keys['bo-old']), /revoked at .* by ana/],
      ['operator approving', signed(keys.cy), /cy is operator of m1; approve needs approver/],
      [
        'viewer elsewhere',
        signed(keys.bo, { ...approve('bo'), model: 'm2' }),
        /bo is viewer of m2; approve needs approver/,
      ],
      [
        'unknown key',
        { ...signed(keys.bo), proof: { ...signed(keys.bo).proof!, keyId: 'f'.repeat(32) } },
        /key f{32} is not registered/,
      ],
      ['malformed proof', { ...approve('bo'), proof: { keyId: 'x', at: 'now', nonce: '1', signature: '?' } }, /keyId/],
    ];
    for (const [what, claim, reason] of cases) {
      const verdict = await check(claim);
      assert.equal(verdict.accepted, false, what);
      assert.match(verdict.reason, reason, what);
    }
    // a refusal does not spend the nonce: the genuine statement still goes through once
    assert.equal((await check(altered)).accepted, true);
  });

  it('puts every verdict in the audit trail, refusals with their reason', async () => {
    const trail = await t.deps.registry.listAudit({ model: 'm1' });
    const refused = trail.filter((e) => e.outcome === 'refused');
    const accepted = trail.filter((e) => e.outcome === 'accepted');
    assert.ok(refused.length >= 8, `refusals recorded: ${refused.length}`);
    assert.ok(refused.some((e) => /revoked/.test(e.detail) && e.keyId === keys['bo-old'].keyId));
    assert.ok(accepted.every((e) => e.proof === 'signed' && e.identity === 'bo'));
    const keyEvents = (await t.deps.registry.listAudit({ model: '*' })).map((e) => e.action);
    assert.deepEqual(keyEvents.filter((a) => a === 'key-added').length, 4);
    assert.ok(keyEvents.includes('key-revoked'));
  });

  it('without access.json: unsigned decisions pass as claimed; a bad signature is still refused', async () => {
    const open = tempHome();
    try {
      const verify = (claim: DecisionClaim) =>
        verifyDecision(claim, {
          registry: open.deps.registry,
          policy: loadAccessPolicy(open.home, {}),
          usedAt: 'x',
          workflowId: null,
        });
      const claimed = await verify(approve('whoever'));
      assert.deepEqual([claimed.accepted, claimed.proof, claimed.identity], [true, 'claimed', 'whoever']);
      const forged = await verify({ ...signed(keys.bo), comment: 'changed' });
      assert.equal(forged.accepted, false);
      assert.match(forged.reason, /not registered/);
    } finally {
      open.cleanup();
    }
  });

  it('reads access.json strictly: a broken file is an error naming it, never "access off"', () => {
    const home = fs.mkdtempSync(path.join(t.home, 'policy-'));
    const file = path.join(home, 'access.json');
    for (const [text, message] of [
      ['{ roles', /is not JSON/],
      ['{"roles": {"ana": {"*": "owner"}}}', /roles\.ana\.\*/],
      ['{"roles": {}, "enforce": "yes"}', /enforce/],
      ['{"roles": {"ana": {}}}', /no roles given/],
    ] as const) {
      fs.writeFileSync(file, text);
      assert.throws(
        () => loadAccessPolicy(home, {}),
        (e: unknown) => e instanceof SpecError && e.message.includes(file) && message.test(e.message),
      );
    }
    assert.throws(() => loadAccessPolicy(home, { LUMEN_ACCESS: path.join(home, 'missing.json') }), /cannot read/);
    const policy = loadAccessPolicy(t.home, {});
    assert.deepEqual(
      [roleOf(policy, 'bo', 'm1'), roleOf(policy, 'bo', 'm9'), roleOf(policy, 'cy', 'm9'), roleOf(policy, 'zed', 'm1')],
      ['approver', 'viewer', null, null],
    );
  });

  it('keeps signing keys private and their ids honest', () => {
    const file = path.join(t.home, 'keys', 'ana.json');
    assert.throws(() => generateSigningKey('ana', file), /already exists; it is not overwritten/);
    assert.equal(loadSigningKey(file).keyId, keys.ana.keyId);
    const shared = path.join(t.home, 'keys', 'shared.json');
    fs.copyFileSync(file, shared);
    fs.chmodSync(shared, 0o644);
    assert.throws(() => loadSigningKey(shared), /can be read by others \(mode 644\)/);
    fs.chmodSync(shared, 0o600);
    const body = JSON.parse(fs.readFileSync(shared, 'utf8')) as Record<string, string>;
    fs.writeFileSync(shared, JSON.stringify({ ...body, keyId: keys.bo.keyId }), { mode: 0o600 });
    assert.throws(() => loadSigningKey(shared), /does not belong to its private key/);
    assert.throws(() => parsePublicKey('not a key', 'bo.pub'), /bo\.pub is not a public key in PEM form/);
    assert.throws(() => parsePublicKey(body.privateKey, 'ana.json'), /holds a private key/);
    assert.equal(parsePublicKey(keys.bo.publicKeyPem, 'bo.pub').keyId, keys.bo.keyId);
  });

  it('signs the same text whatever order the subject was written in', () => {
    const proof = { keyId: 'a'.repeat(32), at: '2026-01-01T00:00:00.000Z', nonce: 'b'.repeat(32) };
    const one = statementText({ ...approve('bo'), subject: { version: 3, artifactSha256: 'x' } }, proof);
    const two = statementText({ ...approve('bo'), subject: { artifactSha256: 'x', version: 3 } }, proof);
    assert.equal(one, two);
    assert.equal(proofProblem({ ...proof, signature: 'AAAA', extra: 1 }), 'has unknown field(s) extra');
  });
});
