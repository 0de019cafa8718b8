import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ScheduleOverlapPolicy, WorkflowFailedError, type Client } from '@temporalio/client';
import { describeFailure } from '../../client/format';
import { startTrainingPipeline, type StartedPipeline } from '../../client/pipeline';
import { policySet } from '../../cli/policy-commands';
import { generateSigningKey, signClaim, type SigningKey } from '../../lib/access/keys';
import { policyOfSpec } from '../../lib/access/model-policy';
import type { SourceRef } from '../../lib/data/source';
import { hashJson } from '../../lib/hash';
import { deriveSeed, unitHash } from '../../lib/rng';
import { versionLineage } from '../../lib/lineage';
import { startServer, type RunningServer } from '../../serve/server';
import { parseModelSpec, type ModelSpec } from '../../lib/spec';
import {
  championChangeWorkflowId,
  rejectCandidate,
  statusQuery,
  type PipelineStatus,
} from '../../workflows/definitions';
import type { championChange } from '../../workflows';
import { scheduledRunWorkflowId, type ScheduledTrainingInput } from '../../workflows/schedule-definitions';
import { tempHome, testClient, uniqueQueues, withWorkers, workflowBundle, type TestHome } from '../support/env';
import { testServeOptions } from '../support/serving';
import { weather, weatherYear, waitForStage } from '../support/weather';

/**
 * The holes an attacker found, each reproduced on a real server with access control on: a run's spec loosening the
 * model's approval policy, a schedule nobody verified, traffic routed to a rejected version by an unproven name,
 * a forged name in the audit trail. Each test failed before the fix it names.
 */
describe('governance: the registered policy binds every run and every route to traffic', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();
  const keys: Record<string, SigningKey> = {};
  const run = <T>(fn: () => Promise<T>): Promise<T> => withWorkers(t.deps, queues, ['pipeline', 'training'], fn);
  const MODEL = 'weather-governed';
  /** what the model's owners require: two approvers, neither the starter, better than the baseline */
  const strict = parseModelSpec({
    ...weather,
    name: MODEL,
    training: { ...weather.training, epochs: 4 },
    gate: { approval: { required: 'always', timeout: '1h', approvers: 2, distinctFromStarter: true } },
  });
  /** the operator's copy: no approval, no baseline check, any change accepted */
  const loose = parseModelSpec({
    ...weather,
    name: MODEL,
    training: { ...weather.training, epochs: 4 },
    gate: { beatBaseline: false, vsChampion: { minAbsoluteChange: -1 }, approval: { required: 'never' } },
  });

  before(async () => {
    t = tempHome();
    client = await testClient();
    await workflowBundle();
    fs.writeFileSync(
      path.join(t.home, 'access.json'),
      JSON.stringify({
        roles: { ana: { '*': 'admin' }, bo: { '*': 'approver' }, eli: { '*': 'operator' }, dee: { '*': 'viewer' } },
      }),
    );
    for (const person of ['ana', 'bo', 'eli', 'dee']) {
      const key = generateSigningKey(person, path.join(t.home, 'keys', `${person}.json`));
      keys[person] = key;
      await t.deps.registry.addKey({ keyId: key.keyId, person, publicKeyPem: key.publicKeyPem, addedBy: 'ana' });
    }
  });
  after(async () => {
    await client.connection.close();
    t.cleanup();
  });

  const start = (spec: ModelSpec, source: SourceRef, key: SigningKey): Promise<StartedPipeline> =>
    startTrainingPipeline(
      client,
      spec,
      source,
      { trainingTaskQueue: queues.training },
      queues.pipeline,
      (workflowId) => ({
        actor: key.person,
        proof: signClaim(key, {
          action: 'start',
          model: spec.name,
          subject: { workflowId },
          by: key.person,
          comment: '',
        }),
      }),
    );
  /** `lumen promote` as the CLI sends it: signed over the version, the request and the override, if any */
  const promoteByHand = (key: SigningKey, to: number, reason: string, override?: string, model = MODEL) => {
    const requestId = `hand-${model}-${to}-${override ? 'override' : 'plain'}`;
    const subject = { to, requestId, ...(override ? { override } : {}) };
    return client.workflow.execute<typeof championChange>('championChange', {
      taskQueue: queues.pipeline,
      workflowId: championChangeWorkflowId(model, requestId),
      args: [
        {
          model,
          kind: 'promote',
          to,
          reason,
          by: key.person,
          requestId,
          trainingTaskQueue: queues.training,
          ...(override ? { override } : {}),
          proof: signClaim(key, { action: 'promote', model, subject, by: key.person, comment: reason }),
        },
      ],
    });
  };
  const failure = async (started: StartedPipeline): Promise<string> => {
    const e = await started.handle.result().catch((err: unknown) => err);
    assert.ok(e instanceof WorkflowFailedError, `the run failed (it ended ${JSON.stringify(e)?.slice(0, 200)})`);
    return describeFailure(e);
  };

  it("a run's spec may not loosen the registered policy, whoever starts it: the CLI, a schedule (verified or not)", async () => {
    await run(async () => {
      // the owners' first run registers the policy (v1) and waits for two approvers
      const first = await start(strict, weatherYear(2012), keys.ana);
      const waiting: PipelineStatus = await waitForStage(first, 'awaiting_approval', 120_000);
      assert.deepEqual(waiting.policy?.version, 1);
      const registered = await t.deps.registry.modelPolicy(MODEL);
      assert.equal(registered?.policy.gate.approval.approvers, 2);
      assert.deepEqual(registered?.policy, JSON.parse(JSON.stringify(policyOfSpec(strict))));

      // an operator, properly signed in, with the loosened copy: refused before any data is read, every field named
      const attempt = await start(loose, weatherYear(2013), keys.eli);
      const why = await failure(attempt);
      for (const field of [
        /gate\.beatBaseline: false where the registered policy has true/,
        /gate\.vsChampion\.minAbsoluteChange: -1 where the registered policy has 0/,
        /gate\.approval\.required: never where the registered policy has always/,
        /gate\.approval\.approvers: 1 where the registered policy has 2/,
        /gate\.approval\.distinctFromStarter: false where the registered policy has true/,
      ]) {
        assert.match(why, field);
      }
      assert.equal((await attempt.handle.query(statusQuery)).dataset, undefined, 'no data was read');

      // nor may an operator make a new model's first policy whatever suits them
      const fresh = await start(
        parseModelSpec({ ...loose, name: 'weather-operator-first' }),
        weatherYear(2013),
        keys.eli,
      );
      assert.match(
        await failure(fresh),
        /weather-operator-first has no registered policy yet, and with access control on only an admin's run registers the first one \(eli is operator/,
      );

      // a schedule made straight on the Temporal server (no verified decision): its runs are refused
      const schedule = async (scheduleId: string, spec: ModelSpec, source: SourceRef) => {
        const input: ScheduledTrainingInput = {
          scheduleId,
          model: MODEL,
          source,
          spec,
          trainingTaskQueue: queues.training,
          maxFailures: 3,
        };
        const handle = await client.schedule.create({
          scheduleId,
          spec: { intervals: [{ every: '1 day' }] },
          action: {
            type: 'startWorkflow',
            workflowType: 'scheduledTraining',
            args: [input],
            taskQueue: queues.pipeline,
            workflowId: scheduledRunWorkflowId(scheduleId),
          },
          policies: { overlap: ScheduleOverlapPolicy.SKIP },
          state: { paused: true },
        });
        return { handle, input };
      };
      const ranOnce = async (scheduleId: string) => {
        const by = Date.now() + 120_000;
        for (;;) {
          const [r] = await t.deps.registry.listScheduleRuns(scheduleId, 1);
          if (r) return r;
          if (Date.now() > by) throw new Error(`${scheduleId}: no run recorded within 2 minutes`);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
      };
      const rogue = await schedule(`governed-rogue-${queues.pipeline}`, loose, weatherYear(2014));
      await rogue.handle.trigger();
      const refused = await ranOnce(rogue.handle.scheduleId);
      assert.equal(refused.ok, false);
      assert.match(refused.detail, /no verified decision created schedule .*access control on/);

      // verified and audited as created by eli (an operator may create one), but its spec is the loosened copy
      const granted = await schedule(`governed-granted-${queues.pipeline}`, loose, weatherYear(2015));
      await t.deps.registry.grant({
        kind: 'schedule',
        id: granted.handle.scheduleId,
        model: MODEL,
        contentSha256: hashJson(granted.input),
        grantedBy: 'eli',
        proof: 'signed',
      });
      await granted.handle.trigger();
      const loosened = await ranOnce(granted.handle.scheduleId);
      assert.equal(loosened.ok, false);
      assert.match(loosened.detail, /would loosen the registered policy of weather-governed/);
      await rogue.handle.delete();
      await granted.handle.delete();

      // the owners' run still needs its two approvers; nothing else was trained or promoted
      assert.equal((await first.handle.query(statusQuery)).stage, 'awaiting_approval');
      assert.deepEqual(
        (await t.deps.registry.listVersions(MODEL)).map((v) => v.workflowId),
        [first.workflowId],
      );
      assert.equal(await t.deps.registry.alias(MODEL, 'champion'), null);
      const alerts = await t.deps.registry.listAlerts(MODEL, 50);
      assert.ok(alerts.some((a) => a.kind === 'policy-refused' && /would loosen/.test(a.message)));

      // a person rejects the candidate (it is used below as a version that must not take live traffic)
      const { version, artifactSha256 } = waiting.approval!;
      const comment = 'not on my watch';
      await first.handle.executeUpdate(rejectCandidate, {
        args: [
          {
            version,
            artifactSha256,
            by: 'bo',
            comment,
            proof: signClaim(keys.bo, {
              action: 'reject',
              model: MODEL,
              subject: { version, artifactSha256 },
              by: 'bo',
              comment,
            }),
          },
        ],
      });
      assert.equal((await first.handle.result()).outcome, 'not-approved');

      // promoting it by hand, properly signed by an admin, is still a route to traffic: refused without an override
      await assert.rejects(promoteByHand(keys.ana, 1, 'ship it'), (e: unknown) =>
        /v1 may not take traffic: it was rejected by bo .*--override/.test(describeFailure(e)),
      );
      assert.equal(await t.deps.registry.alias(MODEL, 'champion'), null);
    });
    const lineage = await versionLineage(t.deps.registry, t.deps.store, MODEL, 1);
    assert.equal(lineage.version.lineage.policy?.version, 1, 'the policy the version was held to is in its lineage');
  });

  it('a batch whose holdout has one class ends its run with the reason (it used to fail its workflow task forever)', async () => {
    // rows the split holds out are all negative; the positives are all in training
    const seed = 42;
    const held = (i: number) => unitHash(deriveSeed(seed, 'holdout'), i) < 0.2;
    const lines = ['x,z,y'];
    for (let i = 0; i < 400; i++) {
      const positive = !held(i) && i % 3 === 0;
      lines.push(`${(positive ? 50 : 0) + i / 10},${(i * 37) % 11},${positive ? 1 : 0}`);
    }
    const file = path.join(t.home, 'one-class.csv');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const spec = parseModelSpec({
      name: 'one-class-holdout',
      task: 'binary',
      source: {
        columns: [
          { name: 'x', type: 'float' },
          { name: 'z', type: 'float' },
          { name: 'y', type: 'integer' },
        ],
      },
      label: { kind: 'threshold', column: 'y', op: '>=', value: 1 },
      features: [
        { name: 'x', column: 'x', transform: { kind: 'numeric' } },
        { name: 'z', column: 'z', transform: { kind: 'numeric' } },
      ],
      training: { epochs: 3, seed },
    });
    await run(async () => {
      const started = await start(spec, { uri: file }, keys.ana);
      const result = await started.handle.result();
      assert.equal(result.outcome, 'registered', 'judged, not promoted');
      assert.equal(result.metrics?.auc, null);
      assert.match(
        result.verdict!.checks.map((c) => c.detail).join('\n'),
        /auc could not be measured on this holdout \(one class only, or no rows\), so it cannot pass/,
      );
    });
  });

  it('only an admin changes the registered policy, signed; the change is versioned and audited', async () => {
    const file = path.join(t.home, 'policy.json');
    fs.writeFileSync(file, JSON.stringify({ gate: { approval: { required: 'never' } } }));
    const env = { LUMEN_HOME: process.env.LUMEN_HOME, LUMEN_KEY_FILE: process.env.LUMEN_KEY_FILE };
    process.env.LUMEN_HOME = t.home;
    try {
      process.env.LUMEN_KEY_FILE = path.join(t.home, 'keys', 'eli.json');
      await assert.rejects(policySet(MODEL, { from: file, reason: 'faster' }), /model-policy refused: eli is operator/);
      delete process.env.LUMEN_KEY_FILE;
      await assert.rejects(
        policySet(MODEL, { from: file, reason: 'faster', actor: 'ana' }),
        /model-policy refused: access control is on .*needs a signed decision/,
      );
      process.env.LUMEN_KEY_FILE = path.join(t.home, 'keys', 'ana.json');
      await policySet(MODEL, { from: file, reason: 'the team agreed: no approvals for this one' });
    } finally {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const history = await t.deps.registry.modelPolicyHistory(MODEL);
    assert.deepEqual(
      history.map((p) => [p.version, p.setBy, p.proof, p.policy.gate.approval.required]),
      [
        [1, 'ana', 'system', 'always'],
        [2, 'ana', 'signed', 'never'],
      ],
    );
    const trail = await t.deps.registry.listAudit({ model: MODEL });
    const changes = trail.filter((e) => e.action === 'model-policy');
    assert.deepEqual(
      changes.map((e) => [e.identity, e.outcome]),
      [
        ['eli', 'refused'],
        ['ana', 'refused'],
        ['ana', 'accepted'],
      ],
    );
  });

  it('traffic: a serving change is a signed approver decision over HTTP too; a rejected version needs an override', async () => {
    const TOKEN = 'governance-admin-token-0123456789';
    const server: RunningServer = await startServer(t.deps, testServeOptions(t.home, TOKEN, { home: t.home }));
    try {
      const put = (body: Record<string, unknown>) =>
        fetch(`${server.url}/v1/models/${MODEL}/serving`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: string } }));
      const signed = (key: SigningKey, canary: number, reason: string, override?: string) => {
        const subject = { canary: `v${canary} at 1`, shadow: null, override: override ?? null };
        return {
          canary: { version: canary, share: 1 },
          by: key.person,
          reason,
          ...(override ? { override } : {}),
          proof: signClaim(key, { action: 'serving', model: MODEL, subject, by: key.person, comment: reason }),
        };
      };
      // the admin token alone, and a name claimed in the body: refused, and the refusal audited
      const claimed = await put({ canary: { version: 1, share: 1 }, by: 'ana', reason: 'try it' });
      assert.equal(claimed.status, 403, JSON.stringify(claimed.body));
      assert.match(claimed.body.error!, /needs a signed decision/);
      // an operator may not route traffic
      const operatorOnly = await put(signed(keys.eli, 1, 'try it'));
      assert.equal(operatorOnly.status, 403);
      assert.match(operatorOnly.body.error!, /eli is operator of weather-governed; serving needs approver/);
      // an approver, signed: refused for a rejected version without an override
      const rejected = await put(signed(keys.bo, 1, 'try it'));
      assert.equal(rejected.status, 409);
      assert.match(rejected.body.error!, /v1 may not take live traffic: it was rejected by bo .*override/);
      // a name that would forge a row in the audit trail is not a name
      const forged = await put({ ...signed(keys.bo, 1, 'x'), by: 'bo\n2026-12-06 accepted ana\u001b[32m' });
      assert.equal(forged.status, 400);
      assert.match(forged.body.error!, /by.*printable/);
      // an operator with an override: not their decision to make
      const operator = await put(signed(keys.eli, 1, 'canary it', 'measured offline'));
      assert.equal(operator.status, 403);
      assert.match(operator.body.error!, /eli is operator of weather-governed; serving needs approver/);
      const overridden = await put(signed(keys.bo, 1, 'canary it', 'the rejection was about a report, not the model'));
      assert.equal(overridden.status, 200, JSON.stringify(overridden.body));
      // the canary kept as it is while the shadow changes: judged when it was set, no second override needed
      const shadowReason = 'mirror too';
      const shadowOnly = await put({
        canary: { version: 1, share: 1 },
        shadow: { version: 1 },
        by: 'bo',
        reason: shadowReason,
        proof: signClaim(keys.bo, {
          action: 'serving',
          model: MODEL,
          subject: { canary: 'v1 at 1', shadow: 'v1', override: null },
          by: 'bo',
          comment: shadowReason,
        }),
      });
      assert.equal(shadowOnly.status, 200, JSON.stringify(shadowOnly.body));

      // a 1 MB body nested 1,000,000 levels deep: a 400 that says so (it was a 500, the parser's stack overflowed)
      const bomb = await fetch(`${server.url}/v1/models/${MODEL}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '['.repeat(1_000_000),
      });
      assert.equal(bomb.status, 400);
      assert.match(((await bomb.json()) as { error: string }).error, /nests more than 64 levels/);

      // console pages: no script, no framing, no sniffing; a link's text is never shown as Lumen's
      const ui = await fetch(
        `${server.url}/ui?error=${encodeURIComponent('Session expired: sign in at evil.example')}`,
      );
      assert.equal(ui.status, 200);
      assert.match(String(ui.headers.get('content-security-policy')), /default-src 'none'.*frame-ancestors 'none'/);
      assert.equal(ui.headers.get('x-frame-options'), 'DENY');
      assert.equal(ui.headers.get('x-content-type-options'), 'nosniff');
      assert.ok(!(await ui.text()).includes('evil.example'));
      // a decision form posted from another site, with the right token: refused, nothing decided
      const csrf = await fetch(`${server.url}/ui/approvals/${MODEL}/1`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
        body: new URLSearchParams({ token: TOKEN, decision: 'approve', by: 'bo', comment: 'ok' }).toString(),
        redirect: 'manual',
      });
      assert.equal(csrf.status, 403);
      assert.match(
        await csrf.text(),
        /posted from https:\/\/evil\.example, not from this console: nothing was decided/,
      );
    } finally {
      await server.close();
    }
    const stored = await t.deps.registry.servingPolicy(MODEL);
    assert.equal(stored?.updatedBy, 'bo');
    assert.equal(stored?.reason, 'mirror too');
    const overrideRow = (await t.deps.registry.listAudit({ model: MODEL })).find(
      (e) => e.action === 'serving' && e.outcome === 'accepted',
    );
    assert.equal(overrideRow?.subject.override, 'the rejection was about a report, not the model');
    const trail = (await t.deps.registry.listAudit({ model: MODEL })).filter((e) => e.action === 'serving');
    assert.deepEqual(
      trail.map((e) => [e.identity, e.outcome]),
      [
        ['ana', 'refused'],
        ['eli', 'refused'],
        ['bo', 'refused'],
        ['eli', 'refused'],
        ['bo', 'accepted'],
        ['bo', 'accepted'],
      ],
    );
    assert.ok(trail.every((e) => !e.identity.includes('\n') && !e.identity.includes('\u001b')));

    await run(async () => {
      // an override says why a version unfit for traffic goes live; it is no way around four eyes
      await assert.rejects(
        promoteByHand(keys.ana, 1, 'ship it', 'the rejection was about a report, not the model'),
        (e: unknown) => /needs 2 different approvers before it is promoted/.test(describeFailure(e)),
      );
      // a version that failed its gate (the one-class holdout's): refused plainly, promoted with an override
      const oneClass = 'one-class-holdout';
      await assert.rejects(promoteByHand(keys.ana, 1, 'ship it', undefined, oneClass), (e: unknown) =>
        /one-class-holdout v1 may not take traffic: it failed its gate/.test(describeFailure(e)),
      );
      const override = 'a holdout of one class says nothing against it; checked by hand';
      const moved = await promoteByHand(keys.ana, 1, 'ship it', override, oneClass);
      assert.equal(moved.champion, 1);
      const promoted = (await t.deps.registry.listAudit({ model: oneClass })).filter(
        (e) => e.action === 'promote' && e.outcome === 'accepted',
      );
      assert.equal(promoted.at(-1)?.subject.override, override);
    });
  });
});
