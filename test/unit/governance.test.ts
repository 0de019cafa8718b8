import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { printable } from '../../client/output';
import { escapeUnprintable, excerpt, identityProblem, quotedList } from '../../lib/access/identity';
import { parseModelPolicy, policyOfSpec, weakenings, type ModelPolicy } from '../../lib/access/model-policy';
import { openSource, sourceAccess } from '../../lib/data/source';
import { SourceError } from '../../lib/errors';
import { verifyDecision } from '../../lib/access/verify';
import { OPEN_ACCESS } from '../../lib/access/policy';
import { parseModelSpec } from '../../lib/spec';
import { consoleExposure, nestingDepth } from '../../serve/server';
import { crossSite } from '../../serve/console';
import { tempHome, type TestHome } from '../support/env';
import { weather } from '../support/weather';

const policy = (raw: unknown): ModelPolicy => {
  const parsed = parseModelPolicy(raw);
  if ('problems' in parsed) throw new Error(parsed.problems.join('; '));
  return parsed.policy;
};

describe('governance: the pure rules', () => {
  const strict = policy({
    gate: {
      thresholds: { auc: { min: 0.7 }, calibrationError: { max: 0.05 } },
      vsChampion: { minAbsoluteChange: 0.01, maxDegradation: { calibrationError: 0.01 } },
      slices: { columns: ['origin'], maxGap: { truePositiveRate: 0.1 } },
      firstRun: 'requireApproval',
      approval: { required: 'always', timeout: '24h', approvers: 2, distinctFromStarter: true },
    },
    monitor: { cooldownMinutes: 60 },
  });

  it('a policy repeated or tightened is not loosened; every loosened field is named with both values', () => {
    assert.deepEqual(weakenings(strict, strict), []);
    const tighter = policy({
      gate: {
        thresholds: { auc: { min: 0.75 }, calibrationError: { max: 0.04 }, accuracy: { min: 0.6 } },
        vsChampion: { minAbsoluteChange: 0.02, maxDegradation: { calibrationError: 0.005, logLoss: 0.1 } },
        slices: { columns: ['origin', 'carrier'], maxGap: { truePositiveRate: 0.05, falsePositiveRate: 0.1 } },
        firstRun: 'reject',
        approval: { required: 'always', timeout: '12h', approvers: 3, distinctFromStarter: true },
      },
    });
    assert.deepEqual(weakenings(strict, tighter), [], 'a spec without a monitor section takes the registered one');
    const named = policy({ gate: { ...strict.gate, vsChampion: { ...strict.gate.vsChampion, metric: 'auc' } } });
    assert.deepEqual(weakenings(strict, named, 'auc'), [], 'the primary metric named is the same metric');
    assert.equal(weakenings(strict, named).length, 1, 'without knowing the task, a named metric is a change');
    const loose = policy({
      gate: {
        beatBaseline: false,
        thresholds: { auc: { min: 0.5 } },
        vsChampion: { metric: 'accuracy', minAbsoluteChange: -1, maxDegradation: { calibrationError: 0.5 } },
        slices: { columns: [], maxGap: {} },
        firstRun: 'promote',
        approval: { required: 'never', timeout: '72h', approvers: 1, distinctFromStarter: false },
      },
      monitor: { cooldownMinutes: 5 },
    });
    const found = weakenings(strict, loose);
    for (const field of [
      'gate.beatBaseline: false where the registered policy has true',
      'gate.thresholds.auc.min: 0.5 where the registered policy has 0.7',
      'gate.thresholds.calibrationError.max: (none) where the registered policy has 0.05',
      'gate.vsChampion.metric: accuracy where the registered policy has (the primary metric)',
      'gate.vsChampion.minAbsoluteChange: -1 where the registered policy has 0.01',
      'gate.vsChampion.maxDegradation.calibrationError: 0.5 where the registered policy has 0.01',
      'gate.slices.columns: [] where the registered policy has ["origin"]',
      'gate.slices.maxGap.truePositiveRate: (none) where the registered policy has 0.1',
      'gate.firstRun: promote where the registered policy has requireApproval',
      'gate.approval.required: never where the registered policy has always',
      'gate.approval.timeout: 72h where the registered policy has 24h',
      'gate.approval.approvers: 1 where the registered policy has 2',
      'gate.approval.distinctFromStarter: false where the registered policy has true',
      'monitor.cooldownMinutes: 5 where the registered policy has 60',
    ]) {
      assert.ok(
        found.some((f) => f.startsWith(field)),
        `${field}\n  in: ${found.join('\n  ')}`,
      );
    }
    assert.equal(found.length, 14, found.join('\n'));
  });

  it('the example spec is its own policy; a policy file is parsed as a spec section is, with paths in problems', () => {
    const spec = parseModelSpec(weather);
    assert.deepEqual(weakenings(policyOfSpec(spec), policyOfSpec(spec)), []);
    const bad = parseModelPolicy({ gate: { approval: { required: 'sometimes' } }, owner: 'x' });
    assert.ok('problems' in bad);
    assert.match(bad.problems.join(';'), /unknown field\(s\) owner/);
    const wrong = parseModelPolicy({ gate: { approval: { required: 'sometimes' } } });
    assert.ok('problems' in wrong && /gate\.approval\.required/.test(wrong.problems.join(';')));
  });

  it('names: printable, bounded, no surrounding spaces; anything else is escaped where printed', () => {
    assert.equal(identityProblem('ana'), null);
    assert.equal(identityProblem('Ana María O’Neil'), null);
    for (const [name, why] of [
      ['', /empty/],
      [' ana', /spaces/],
      ['a'.repeat(201), /at most 200/],
      ['bo\n2026-12-06 approve accepted', /\\u000a at position 3/],
      ['eve\u001b[32m', /\\u001b/],
      ['eve\u202eana', /\\u202e/],
      ['ana\u200b', /\\u200b/],
      [42, /text/],
    ] as const) {
      assert.match(String(identityProblem(name)), why, JSON.stringify(name));
    }
    assert.equal(escapeUnprintable('a\nb\u001b[2Kc'), 'a\\u000ab\\u001b[2Kc');
    // a file's content is quoted as a short excerpt: a 43-character token shows 24 of them at most
    const token = 'Zm9vYmFyLXNlY3JldC10b2tlbi0xMjM0NTY3ODkwMTI';
    assert.equal(excerpt(token), `${token.slice(0, 24)}… (${token.length} characters)`);
    assert.equal(quotedList(['a', 'b\n'], 1), '"a" and 1 more');
    // a table cell keeps the colours the CLI adds and loses everything else a value could carry
    assert.equal(printable('\u001b[32maccepted\u001b[39m'), '\u001b[32maccepted\u001b[39m');
    assert.equal(printable('bo\n\u001b[1Aaccepted\r'), 'bo\\u000a\\u001b[1Aaccepted\\u000d');
  });

  it('a decision under a name that is not one is refused, and recorded escaped, never as sent', async () => {
    const t = tempHome();
    try {
      const forged = 'nobody\n2026-12-06 10:00:00  approve  v1  ana  signed  accepted';
      const verdict = await verifyDecision(
        { action: 'start', model: 'm', subject: { workflowId: 'w' }, by: forged, comment: '' },
        { registry: t.deps.registry, policy: OPEN_ACCESS, usedAt: 'test', workflowId: null },
      );
      assert.equal(verdict.accepted, false);
      assert.match(verdict.reason, /the name given is not one/);
      const [row] = await t.deps.registry.listAudit({ model: 'm' });
      assert.equal(row.outcome, 'refused');
      assert.ok(!row.identity.includes('\n'));
      assert.match(row.identity, /^\(not a name: nobody\\u000a2026/);
    } finally {
      t.cleanup();
    }
  });
});

describe('governance: secrets, the console and request bodies', () => {
  let t: TestHome;
  before(() => {
    t = tempHome();
    fs.mkdirSync(path.join(t.home, 'serve'), { recursive: true });
    fs.writeFileSync(path.join(t.home, 'serve', 'admin.token'), 'Zm9vYmFyLXNlY3JldC10b2tlbi0xMjM0NTY3ODkw\n');
    fs.writeFileSync(path.join(t.home, 'access.json'), JSON.stringify({ roles: { ana: { '*': 'admin' } } }));
    fs.writeFileSync(path.join(t.home, 'batch.csv'), 'a,b\n1,2\n');
  });
  after(() => t.cleanup());

  it("Lumen's secrets are never a source, even inside an allowed root, by any path", () => {
    const access = sourceAccess(t.home, {});
    assert.equal(openSource({ uri: path.join(t.home, 'batch.csv') }, access).format, 'csv');
    fs.symlinkSync(path.join(t.home, 'serve', 'admin.token'), path.join(t.home, 'innocent.csv'));
    fs.linkSync(path.join(t.home, 'serve', 'admin.token'), path.join(t.home, 'hard-link.csv'));
    for (const uri of [
      path.join(t.home, 'serve', 'admin.token'),
      `file://${path.join(t.home, 'serve', 'admin.token')}`,
      path.join(t.home, 'innocent.csv'),
      path.join(t.home, 'hard-link.csv'),
      path.join(t.home, 'access.json'),
      path.join(t.home, 'registry.sqlite'),
    ]) {
      assert.throws(
        () => openSource({ uri, format: 'csv' }, access),
        (e: unknown) =>
          e instanceof SourceError &&
          /holds Lumen's secrets .* never read as a source/.test(e.message) &&
          !e.message.includes('Zm9vYmFy'),
        uri,
      );
    }
  });

  it("a process's environment is never a source, even with the whole disk as a root", () => {
    const everything = sourceAccess(t.home, { LUMEN_SOURCE_ROOTS: '/' });
    assert.throws(
      () => openSource({ uri: '/proc/self/environ', format: 'csv' }, everything),
      /\/proc holds Lumen's secrets/,
    );
  });

  it('the console is not served on a non-loopback address with access control on, unless vouched for or off', () => {
    const home = t.home;
    assert.equal(consoleExposure({ host: '127.0.0.1', home }), null);
    assert.equal(consoleExposure({ host: '::1', home }), null);
    assert.match(String(consoleExposure({ host: '0.0.0.0', home })), /access control is on.*--console behind-proxy/);
    assert.equal(consoleExposure({ host: '0.0.0.0', home, console: 'behind-proxy' }), null);
    assert.equal(consoleExposure({ host: '0.0.0.0', home, console: 'off' }), null);
    const open = fs.mkdtempSync(path.join(t.home, 'open-'));
    assert.equal(consoleExposure({ host: '0.0.0.0', home: open }), null, 'access control off: nothing to protect');
  });

  it('a form post from another site is told apart; a script without Origin is judged by its token', () => {
    assert.equal(crossSite({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' }), null);
    assert.equal(crossSite({ host: '127.0.0.1:8080' }), null);
    assert.match(String(crossSite({ host: '127.0.0.1:8080', origin: 'https://evil.example' })), /evil\.example/);
    assert.match(String(crossSite({ host: '127.0.0.1:8080', origin: 'null' })), /not one/);
    assert.match(
      String(crossSite({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080', 'sec-fetch-site': 'cross-site' })),
      /another site/,
    );
  });

  it('nesting depth is counted outside strings, and stops early', () => {
    assert.equal(nestingDepth('{"a":[1,{"b":"[[[[{{{"}]}', 64), 3);
    assert.equal(nestingDepth('"\\"[[["', 64), 0);
    assert.equal(nestingDepth('['.repeat(500_000), 64), 65);
  });
});
