import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { describeFailure } from '../../client/format';
import { startTrainingPipeline, type StartedPipeline } from '../../client/pipeline';
import { generateSigningKey, signClaim, type SigningKey } from '../../lib/access/keys';
import { canonical, type DecisionClaim } from '../../lib/access/statement';
import type { SourceRef } from '../../lib/data/source';
import { versionLineage } from '../../lib/lineage';
import { parseModelSpec, type ModelSpec } from '../../lib/spec';
import {
  approveCandidate,
  championChangeWorkflowId,
  statusQuery,
  type ApprovalRequest,
  type PipelineStatus,
} from '../../workflows/definitions';
import { monitorWorkflowId, setPolicyUpdate } from '../../workflows/monitor-definitions';
import type { championChange } from '../../workflows';
import { tempHome, testClient, uniqueQueues, withWorkers, workflowBundle, type TestHome } from '../support/env';
import { weather, weatherYear, waitForStage } from '../support/weather';

const year = (y: number): SourceRef => weatherYear(y);

/**
 * Access control end to end, on a real server: with access.json in force, a decision counts only when it is signed
 * by a registered, unrevoked key whose owner has the role, is fresh and unused; four eyes keep the starter from
 * approving and need two approvers. Every refusal leaves the run as it was and is in the audit trail.
 */
describe('access control: signed decisions, roles and four eyes on a real server', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();
  const keys: Record<string, SigningKey> = {};
  const run = <T>(fn: () => Promise<T>): Promise<T> => withWorkers(t.deps, queues, ['pipeline', 'training'], fn);
  const model = (name: string): ModelSpec =>
    parseModelSpec({
      ...weather,
      name,
      training: { ...weather.training, epochs: 5 },
      gate: { approval: { required: 'always', timeout: '10m', approvers: 2, distinctFromStarter: true } },
    });

  const waitFor = (started: StartedPipeline, stage: PipelineStatus['stage']) => waitForStage(started, stage, 120_000);

  before(async () => {
    t = tempHome();
    client = await testClient();
    await workflowBundle();
    fs.writeFileSync(
      path.join(t.home, 'access.json'),
      JSON.stringify({
        roles: {
          ana: { '*': 'admin' },
          bo: { '*': 'approver' },
          cy: { 'weather-four-eyes': 'approver' },
          dee: { '*': 'viewer' },
          eli: { '*': 'operator' },
        },
      }),
    );
    for (const name of ['ana', 'bo', 'cy', 'dee', 'eli', 'bo-lost']) {
      const person = name === 'bo-lost' ? 'bo' : name;
      const key = generateSigningKey(person, path.join(t.home, 'keys', `${name}.json`));
      keys[name] = key;
      await t.deps.registry.addKey({ keyId: key.keyId, person, publicKeyPem: key.publicKeyPem, addedBy: 'ana' });
    }
    await t.deps.registry.revokeKey(keys['bo-lost'].keyId, 'ana', 'laptop stolen');
  });
  after(async () => {
    await client.connection.close();
    t.cleanup();
  });

  const start = (spec: ModelSpec, source: SourceRef, key: SigningKey | null) =>
    startTrainingPipeline(
      client,
      spec,
      source,
      { trainingTaskQueue: queues.training },
      queues.pipeline,
      (workflowId) => {
        if (!key) return { actor: 'somebody' };
        const claim = {
          action: 'start' as const,
          model: spec.name,
          subject: { workflowId },
          by: key.person,
          comment: '',
        };
        return { actor: key.person, proof: signClaim(key, claim) };
      },
    );

  /** An approval as the CLI sends it: the claim signed with `key` (optionally over another subject). */
  function approval(waiting: PipelineStatus, key: SigningKey, signedSubject?: DecisionClaim['subject']) {
    const { version, artifactSha256 } = waiting.approval!;
    const comment = `checked by ${key.person}`;
    const claim: Omit<DecisionClaim, 'proof'> = {
      action: 'approve',
      model: waiting.model,
      subject: signedSubject ?? { version, artifactSha256 },
      by: key.person,
      comment,
    };
    return { version, artifactSha256, by: key.person, comment, proof: signClaim(key, claim) } as ApprovalRequest;
  }
  const send = (started: StartedPipeline, request: ApprovalRequest, update = approveCandidate) =>
    started.handle.executeUpdate(update, { args: [request] });
  const refusedWith = (message: RegExp) => (e: unknown) =>
    e instanceof WorkflowUpdateFailedError && message.test(String(e.cause?.message));

  it("refuses what is unsigned, altered, replayed, revoked, under-privileged or the starter's; two others promote", async () => {
    const spec = model('weather-four-eyes');
    await run(async () => {
      const started = await start(spec, year(2012), keys.ana);
      const waiting = await waitFor(started, 'awaiting_approval');
      const { version, artifactSha256 } = waiting.approval!;
      const unsigned: ApprovalRequest = { version, artifactSha256, by: 'bo', comment: 'fine' };
      const first = approval(waiting, keys.bo);
      const refusals: [string, ApprovalRequest, RegExp][] = [
        ['unsigned', unsigned, /access control is on .*needs a signed decision/],
        [
          'signed for another version',
          approval(waiting, keys.bo, { version: version + 1, artifactSha256 }),
          /signature does not match the decision/,
        ],
        ['altered comment', { ...first, comment: 'rubber stamp' }, /signature does not match/],
        ['a viewer', approval(waiting, keys.dee), /dee is viewer of weather-four-eyes; approve needs approver/],
        ['an operator', approval(waiting, keys.eli), /eli is operator .*approve needs approver/],
        ['a revoked key', approval(waiting, keys['bo-lost']), /revoked at .* by ana/],
        ['the starter', approval(waiting, keys.ana), /four eyes: ana started this run and may not approve/],
      ];
      for (const [what, request, message] of refusals) {
        await assert.rejects(send(started, request), refusedWith(message), what);
      }
      const after = await started.handle.query(statusQuery);
      assert.equal(after.stage, 'awaiting_approval');
      assert.equal(after.approval!.approvals, undefined, 'no refusal counted as an approval');

      assert.deepEqual(await send(started, first), { decision: 'approved', version, awaiting: 1 });
      // the very same statement again (a new update id): a replay, refused before it counts twice
      await assert.rejects(send(started, first), refusedWith(/already used .*replay is refused/), 'replay');
      await assert.rejects(
        send(started, approval(waiting, keys.bo)),
        refusedWith(/four eyes: bo has approved v1 already; it needs 2 different approvers/),
        'second approval by the same person',
      );
      const half = await started.handle.query(statusQuery);
      assert.deepEqual(
        half.approval!.approvals!.map((a) => a.by),
        ['bo'],
      );
      assert.equal(half.approval!.decision, undefined);

      await send(started, approval(waiting, keys.cy));
      const result = await started.handle.result();
      assert.equal(result.outcome, 'promoted');
      assert.equal(result.approval?.by, 'bo + cy');
      // signatures travel, private keys never do: nothing of them in the run's history
      const history = JSON.stringify(await started.handle.fetchHistory());
      for (const key of Object.values(keys)) {
        const body = key.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
        assert.ok(!history.includes(body) && !history.includes('PRIVATE KEY'), `${key.person}'s private key`);
      }
    });
    const lineage = await versionLineage(t.deps.registry, t.deps.store, spec.name, 1);
    assert.deepEqual(
      lineage.decisions.filter((d) => d.outcome === 'accepted').map((d) => [d.action, d.identity, d.proof]),
      [
        ['start', 'ana', 'signed'],
        ['approve', 'bo', 'signed'],
        ['approve', 'cy', 'signed'],
      ],
    );
    assert.equal(lineage.decisions.filter((d) => d.outcome === 'refused').length, 9);
    const [approved] = await t.deps.registry.listApprovals({ model: spec.name });
    assert.deepEqual([approved.status, approved.decidedBy], ['approved', 'bo + cy']);
    assert.equal(await t.deps.registry.alias(spec.name, 'champion'), 1);
    const trail = await t.deps.registry.listAudit({ model: spec.name });
    const decisions = trail.filter((e) => e.action === 'approve');
    assert.deepEqual(
      decisions.filter((e) => e.outcome === 'accepted').map((e) => [e.identity, e.proof]),
      [
        ['bo', 'signed'],
        ['cy', 'signed'],
      ],
    );
    const refused = decisions.filter((e) => e.outcome === 'refused');
    assert.equal(refused.length, 9, refused.map((e) => e.detail).join('\n'));
    assert.ok(refused.some((e) => e.identity === 'ana' && /four eyes: ana started this run/.test(e.detail)));
    assert.ok(trail.some((e) => e.action === 'start' && e.identity === 'ana' && e.outcome === 'accepted'));
    assert.ok(trail.some((e) => e.action === 'candidate-approved' && e.identity === 'bo + cy'));
    assert.ok(trail.some((e) => e.action === 'alias-champion' && e.outcome === 'applied'));
  });

  it('an unsigned start, promotion or policy change is refused while access control is on', async () => {
    const spec = model('weather-unsigned-start');
    await run(async () => {
      const started = await start(spec, year(2013), null);
      const failure = await started.handle.result().catch((e: unknown) => e);
      assert.ok(failure instanceof WorkflowFailedError);
      assert.match(describeFailure(failure), /start refused: access control is on/);

      const requestId = 'promote-unsigned';
      const promote = client.workflow.execute<typeof championChange>('championChange', {
        taskQueue: queues.pipeline,
        workflowId: championChangeWorkflowId('weather-four-eyes', requestId),
        args: [{ model: 'weather-four-eyes', kind: 'promote', to: 1, reason: 'again', by: 'bo', requestId }],
      });
      await assert.rejects(
        promote,
        (e: unknown) => e instanceof WorkflowFailedError && /promote refused/.test(describeFailure(e)),
      );

      // the monitor's policy: admin only
      const monitor = await client.workflow.start('modelMonitor', {
        taskQueue: queues.pipeline,
        workflowId: `${monitorWorkflowId('weather-four-eyes')}-${queues.pipeline}`,
        args: [{ model: 'weather-four-eyes', trainingTaskQueue: queues.training }],
      });
      try {
        const patch = { cooldownMinutes: 45 };
        const change = (key: SigningKey) => {
          const claim = {
            action: 'policy' as const,
            model: 'weather-four-eyes',
            subject: { policy: canonical(patch) },
            by: key.person,
            comment: 'quieter',
          };
          return monitor.executeUpdate(setPolicyUpdate, {
            args: [{ policy: patch, by: key.person, reason: 'quieter', proof: signClaim(key, claim) }],
          });
        };
        await assert.rejects(
          monitor.executeUpdate(setPolicyUpdate, { args: [{ policy: patch, by: 'ana', reason: 'quieter' }] }),
          refusedWith(/policy refused: access control is on/),
        );
        await assert.rejects(change(keys.bo), refusedWith(/bo is approver .*policy needs admin/));
        const policy = await change(keys.ana);
        assert.equal(policy.cooldownMinutes, 45);
      } finally {
        await monitor.terminate('test over');
      }
    });
    const trail = await t.deps.registry.listAudit({ model: 'weather-four-eyes' });
    assert.ok(trail.some((e) => e.action === 'promote' && e.outcome === 'refused'));
    assert.ok(trail.some((e) => e.action === 'policy' && e.outcome === 'accepted' && e.identity === 'ana'));
    assert.equal(await t.deps.registry.alias(spec.name, 'champion'), null, 'nothing trained, nothing promoted');
  });
});
