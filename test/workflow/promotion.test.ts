import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { describeFailure } from '../../client/format';
import { startTrainingPipeline, type StartedPipeline } from '../../client/pipeline';
import { uriToPath } from '../../lib/artifacts';
import type { SourceRef } from '../../lib/data/source';
import type { ChampionMove, Registry } from '../../lib/registry/types';
import { parseModelSpec, type ModelSpec } from '../../lib/spec';
import {
  approveCandidate,
  championChangeWorkflowId,
  LumenStage,
  verifyWorkflowId,
  rejectCandidate,
  type ChampionChangeInput,
  type PipelineStatus,
} from '../../workflows/definitions';
import type { championChange, verifyModel } from '../../workflows';
import { tempHome, testClient, uniqueQueues, withWorkers, workflowBundle, type TestHome } from '../support/env';
import { weather, weatherYear, waitForStage } from '../support/weather';

const year = weatherYear;

describe('promotion: gate, approval, history and rollback', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();

  const run = <T>(fn: () => Promise<T>): Promise<T> => withWorkers(t.deps, queues, ['pipeline', 'training'], fn);
  const start = (spec: ModelSpec, source: SourceRef): Promise<StartedPipeline> =>
    startTrainingPipeline(client, spec, source, { trainingTaskQueue: queues.training, actor: 'test' }, queues.pipeline);
  // these tests are about promotion: seasonal half-years must not be quarantined for drift
  const model = (name: string, gate: object = {}): ModelSpec =>
    parseModelSpec({
      ...weather,
      name,
      training: { ...weather.training, epochs: 15 },
      gate,
      validation: { drift: { numeric: { fail: 10 }, categorical: { fail: 10 } } },
    });
  const changeChampion = (input: Omit<ChampionChangeInput, 'trainingTaskQueue'>) =>
    client.workflow.execute<typeof championChange>('championChange', {
      taskQueue: queues.pipeline,
      workflowId: championChangeWorkflowId(input.model, input.requestId),
      args: [{ ...input, trainingTaskQueue: queues.training }],
    });

  /** A person's decision on the candidate a run waits with, naming it exactly as the validator wants. */
  const decide = (
    started: StartedPipeline,
    update: typeof approveCandidate,
    waiting: PipelineStatus,
    by: string,
    comment: string,
  ) =>
    started.handle.executeUpdate(update, {
      args: [{ version: waiting.approval!.version, artifactSha256: waiting.approval!.artifactSha256, by, comment }],
    });

  const waitFor = (started: StartedPipeline, stage: PipelineStatus['stage']) => waitForStage(started, stage);

  before(async () => {
    t = tempHome();
    client = await testClient();
    await workflowBundle();
  });
  after(async () => {
    await client.connection.close();
    t.cleanup();
  });

  it('approval: the validator refuses the wrong version or digest; approve promotes, reject does not', async () => {
    // about approval, not quality: the 2013 candidate goes to a person whatever it scores against 2012's
    const spec = model('weather-approval', {
      approval: { required: 'always', timeout: '10m' },
      vsChampion: { minAbsoluteChange: -1 },
    });
    await run(async () => {
      const first = await start(spec, year(2012));
      const waiting = await waitFor(first, 'awaiting_approval');
      assert.equal((await first.handle.describe()).typedSearchAttributes.get(LumenStage), 'awaiting_approval');
      const { version, artifactSha256 } = waiting.approval!;
      const pending = await t.deps.registry.listApprovals({ model: spec.name, status: 'pending' });
      assert.deepEqual(
        pending.map((a) => [a.version, a.artifactSha256]),
        [[version, artifactSha256]],
      );
      for (const [request, message] of [
        [{ version: version + 1, artifactSha256, by: 'ana', comment: 'ok' }, /version 2 is not the candidate/],
        [{ version, artifactSha256: 'f'.repeat(64), by: 'ana', comment: 'ok' }, /is not the candidate's/],
        [{ version, artifactSha256, by: '', comment: 'ok' }, /identity/],
        [{ version, artifactSha256, by: 'ana', comment: ' ' }, /needs a comment/],
      ] as const) {
        await assert.rejects(
          first.handle.executeUpdate(approveCandidate, { args: [request] }),
          (e: unknown) => e instanceof WorkflowUpdateFailedError && message.test(String(e.cause?.message)),
        );
      }
      const history = await first.handle.fetchHistory();
      assert.ok(
        !(history.events ?? []).some((e) => e.workflowExecutionUpdateAcceptedEventAttributes),
        'nothing recorded',
      );
      await first.handle.executeUpdate(approveCandidate, {
        args: [{ version, artifactSha256, by: 'ana', comment: 'looks right' }],
      });
      const approved = await first.handle.result();
      assert.equal(approved.outcome, 'promoted');
      assert.deepEqual(approved.approval, { status: 'approved', by: 'ana', comment: 'looks right' });

      const second = await start(spec, year(2013));
      const w2 = await waitFor(second, 'awaiting_approval');
      await decide(second, rejectCandidate, w2, 'ben', 'not this week');
      const rejected = await second.handle.result();
      assert.equal(rejected.outcome, 'not-approved');
      assert.equal(await t.deps.registry.alias(spec.name, 'champion'), version, 'champion unchanged');
    });
    const approvals = await t.deps.registry.listApprovals({ model: spec.name });
    assert.deepEqual(
      approvals.map((a) => [a.version, a.status, a.decidedBy, a.comment]),
      [
        [1, 'approved', 'ana', 'looks right'],
        [2, 'rejected', 'ben', 'not this week'],
      ],
    );
    const champion = (await t.deps.registry.aliasHistory(spec.name)).filter((e) => e.alias === 'champion');
    assert.equal(champion.length, 1);
    assert.match(champion[0].actor, /^ana \(approved\)$/);
  });

  it('approval timeout: nobody decides, nothing is promoted, an alert is raised', async () => {
    const spec = model('weather-approval-timeout', { approval: { required: 'always', timeout: '3s' } });
    const result = await run(async () => (await start(spec, year(2012))).handle.result());
    assert.equal(result.outcome, 'not-approved');
    assert.equal(result.approval?.status, 'expired');
    assert.equal(await t.deps.registry.alias(spec.name, 'champion'), null);
    assert.ok((await t.deps.registry.listAlerts(spec.name)).some((a) => a.kind === 'approval-expired'));
  });

  it('the same approval sent 100 times: exactly one promotion and one history row', async () => {
    const spec = model('weather-approval-dup', { approval: { required: 'always', timeout: '10m' } });
    const result = await run(async () => {
      const started = await start(spec, year(2014));
      const { approval } = await waitFor(started, 'awaiting_approval');
      const request = {
        version: approval!.version,
        artifactSha256: approval!.artifactSha256,
        by: 'ana',
        comment: 'ship it',
      };
      const outcomes = await Promise.allSettled(
        Array.from({ length: 100 }, () => started.handle.executeUpdate(approveCandidate, { args: [request] })),
      );
      const accepted = outcomes.filter((o) => o.status === 'fulfilled').length;
      assert.equal(accepted, 1, `${accepted} approvals accepted`);
      const reasons = new Set(
        outcomes
          .filter((o): o is PromiseRejectedResult => o.status === 'rejected')
          .map((o) => {
            const e = o.reason as Error & { cause?: Error };
            return String(e.cause?.message ?? e.message);
          }),
      );
      // refused by the validator (already decided), or by the server because the run finished before or while the
      // request arrived: never applied twice
      for (const reason of reasons) {
        assert.match(
          reason,
          /no candidate is waiting for approval|workflow execution already completed|workflow update was aborted by closing workflow/,
        );
      }
      return started.handle.result();
    });
    assert.equal(result.outcome, 'promoted');
    const history = (await t.deps.registry.aliasHistory(spec.name)).filter((e) => e.alias === 'champion');
    assert.equal(history.length, 1);
    assert.equal((await t.deps.registry.listApprovals({ model: spec.name, status: 'approved' })).length, 1);
  });

  it('a candidate worse than the champion is kept out, with the failing checks listed', async () => {
    // demanding a +0.5 macro-F1 improvement no candidate can reach
    const spec = model('weather-gate', { vsChampion: { minAbsoluteChange: 0.5 } });
    const [first, second] = await run(async () => [
      await (await start(spec, year(2012))).handle.result(),
      await (await start(spec, year(2013))).handle.result(),
    ]);
    assert.equal(first.outcome, 'promoted', 'first run: no champion to beat');
    assert.equal(second.outcome, 'registered');
    assert.equal(second.verdict?.passed, false);
    const failing = second.verdict.checks.filter((c) => c.outcome === 'fail');
    assert.deepEqual(
      failing.map((c) => `${c.name}:${c.metric}:${c.threshold}`),
      ['vs-champion:macroF1:0.5'],
    );
    assert.match(second.verdict.reason, /macroF1 improvement over champion v1/);
    assert.equal(await t.deps.registry.alias(spec.name, 'champion'), 1);
    const v2 = await t.deps.registry.getVersion(spec.name, 2);
    assert.equal(
      (v2?.evaluation as { verdict: { passed: boolean } }).verdict.passed,
      false,
      'the verdict is in lineage',
    );
  });

  it('races: 20 concurrent promotions and rollbacks leave one champion and a consistent history', async () => {
    const spec = model('weather-race-2', { vsChampion: { minAbsoluteChange: -1 } });
    await run(async () => {
      for (const source of [year(2012), year(2013), year(2014, 1), year(2014, 2), year(2015)]) {
        assert.equal((await (await start(spec, source)).handle.result()).outcome, 'promoted');
      }
      const requests = Array.from({ length: 20 }, (_, i) =>
        changeChampion(
          i % 2 === 0
            ? {
                model: spec.name,
                kind: 'promote',
                to: 1 + (i % 5),
                reason: `race ${i}`,
                by: 'racer',
                requestId: `race-${i}`,
              }
            : { model: spec.name, kind: 'rollback', reason: `race ${i}`, by: 'racer', requestId: `race-${i}` },
        ),
      );
      const settled = await Promise.allSettled(requests);
      const failed = settled.filter((s) => s.status === 'rejected').map((s) => describeFailure(s.reason));
      assert.deepEqual(failed, [], 'every request completes');
    });
    const history = (await t.deps.registry.aliasHistory(spec.name)).filter((e) => e.alias === 'champion');
    history.forEach((e, i) => {
      assert.equal(e.fromVersion, i === 0 ? null : history[i - 1].toVersion, `event ${i} starts where ${i - 1} ended`);
    });
    const aliases = await t.deps.registry.aliases(spec.name);
    assert.equal(aliases.champion, history[history.length - 1].toVersion, 'one champion, the last one moved to');
    // every request moved the alias at most once
    const perRequest = new Map<string, number>();
    for (const e of history) perRequest.set(e.requestId, (perRequest.get(e.requestId) ?? 0) + 1);
    assert.ok([...perRequest.values()].every((n) => n === 1));
  });

  /**
   * The registry as workers see it, with a rival: before each promotion of `model`, another run's promotion moves
   * the champion (between v1 and v2) first, `times` times; the run's compare-and-set then finds it changed.
   */
  const withRival = (registry: Registry, model: string, times: number): Registry => {
    let rivals = 0;
    const moveChampion = async (move: ChampionMove) => {
      if (move.model === model && move.kind === 'promote' && rivals < times) {
        rivals++;
        const current = await registry.alias(model, 'champion');
        await registry.moveChampion({
          model,
          to: current === 1 ? 2 : 1,
          expectedChampion: 'any',
          kind: 'promote',
          actor: 'rival',
          reason: `rival promotion ${rivals}`,
          requestId: `${model}-rival-${rivals}`,
          requireLoadCheck: false,
        });
      }
      return registry.moveChampion(move);
    };
    return new Proxy(registry, {
      get: (target, prop) => {
        if (prop === 'moveChampion') return moveChampion;
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };

  it('a promotion that loses the race judges again against each new champion; after 10 losses it stays registered', async () => {
    const racing = async (name: string, losses: number) => {
      const spec = model(name, { vsChampion: { minAbsoluteChange: -1 } });
      await run(async () => {
        for (const source of [year(2012), year(2013)]) {
          assert.equal((await (await start(spec, source)).handle.result()).outcome, 'promoted');
        }
      });
      const rivalled = { ...t.deps, registry: withRival(t.deps.registry, spec.name, losses) };
      const { started, result } = await withWorkers(rivalled, queues, ['pipeline', 'training'], async () => {
        const s = await start(spec, year(2014));
        return { started: s, result: await s.handle.result() };
      });
      const evaluations = ((await started.handle.fetchHistory()).events ?? []).filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'evaluateCandidate',
      ).length;
      return { spec, result, evaluations };
    };

    // four losses: more than the 3 that used to fail the run
    const won = await racing('weather-rival-4', 4);
    assert.equal(won.result.outcome, 'promoted');
    assert.equal(won.evaluations, 5, 'the first evaluation and one after each loss');
    assert.equal(await t.deps.registry.alias(won.spec.name, 'champion'), 3);

    const lost = await racing('weather-rival-all', 1_000);
    assert.equal(lost.result.outcome, 'registered');
    assert.equal(lost.result.version, 3);
    assert.equal(lost.evaluations, 10);
    assert.notEqual(await t.deps.registry.alias(lost.spec.name, 'champion'), 3);
    const alerts = await t.deps.registry.listAlerts(lost.spec.name);
    const contended = alerts.find((a) => a.kind === 'promotion-contended');
    assert.ok(contended, `alerts: ${alerts.map((a) => a.kind).join(', ')}`);
    assert.equal(contended.severity, 'warning');
    assert.match(contended.message, /v3 passed its gate 10 times.*lumen promote weather-rival-all --version 3/);
  });

  it('rollback: durable, idempotent per request, and refused for a version whose artifact no longer loads', async () => {
    const spec = model('weather-rollback', { vsChampion: { minAbsoluteChange: -1 } });
    await run(async () => {
      for (const source of [year(2012), year(2013), year(2014)]) await (await start(spec, source)).handle.result();
      assert.equal(await t.deps.registry.alias(spec.name, 'champion'), 3);

      const back = await changeChampion({
        model: spec.name,
        kind: 'rollback',
        reason: 'v3 misbehaves',
        by: 'ops',
        requestId: 'rb-1',
      });
      assert.deepEqual([back.changed, back.champion, back.previous], [true, 2, 3]);
      assert.match(back.loadCheck, /digest verified/);
      // the same request again (a retried CLI call): the workflow id dedupes it, the alias does not move twice
      const again = await client.workflow.getHandle(championChangeWorkflowId(spec.name, 'rb-1')).result();
      assert.deepEqual(again, back);
      const rows = (await t.deps.registry.aliasHistory(spec.name)).filter(
        (e) => e.requestId === 'rb-1' && e.alias === 'champion',
      );
      assert.equal(rows.length, 1);

      // corrupt v1's weights: one flipped byte
      const v1 = await t.deps.registry.getVersion(spec.name, 1);
      const weights = path.join(uriToPath(v1!.artifact.uri), 'weights.bin');
      const bytes = fs.readFileSync(weights);
      bytes[100] ^= 0x01;
      fs.writeFileSync(weights, bytes);
      const err = await changeChampion({
        model: spec.name,
        kind: 'rollback',
        to: 1,
        reason: 'try v1',
        by: 'ops',
        requestId: 'rb-2',
      }).catch((e: unknown) => e);
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(describeFailure(err), /v1 failed its load check: .*weights\.bin has sha256/);
      assert.equal(await t.deps.registry.alias(spec.name, 'champion'), 2, 'champion unchanged');
      assert.equal(
        (await t.deps.registry.getVersion(spec.name, 1))?.loadCheck?.passed,
        false,
        'the failed check is recorded',
      );
      // and a version that failed its load check cannot be made champion, even by the registry directly
      await assert.rejects(
        t.deps.registry.moveChampion({
          model: spec.name,
          to: 1,
          expectedChampion: 'any',
          kind: 'rollback',
          actor: 'x',
          reason: 'x',
          requestId: 'rb-3',
          requireLoadCheck: true,
        }),
        /v1 cannot become champion: its load check failed/,
      );
    });
    const at = new Date().toISOString();
    assert.equal(await t.deps.registry.aliasAt(spec.name, 'champion', at), 2);
    const history = await t.deps.registry.aliasHistory(spec.name);
    const beforeRollback = history.find((e) => e.requestId === 'rb-1')!.at;
    assert.equal(
      await t.deps.registry.aliasAt(spec.name, 'champion', new Date(Date.parse(beforeRollback) - 1).toISOString()),
      3,
    );
  });

  it('a corrupted champion: a critical alert names it, the next candidate is judged without it and needs approval; verify clears the restored artifact', async () => {
    const spec = model('weather-broken-champion', { vsChampion: { minAbsoluteChange: -1 } });
    const verify = (version: number, requestId: string) =>
      client.workflow.execute<typeof verifyModel>('verifyModel', {
        taskQueue: queues.pipeline,
        workflowId: verifyWorkflowId(spec.name, requestId),
        args: [{ model: spec.name, version, by: 'ops', requestId, trainingTaskQueue: queues.training }],
      });
    await run(async () => {
      assert.equal((await (await start(spec, year(2012))).handle.result()).outcome, 'promoted');
      const v1 = await t.deps.registry.getVersion(spec.name, 1);
      const weights = path.join(uriToPath(v1!.artifact.uri), 'weights.bin');
      const good = fs.readFileSync(weights);
      const bad = Buffer.from(good);
      bad[100] ^= 0x01;
      fs.writeFileSync(weights, bad);

      // the next batch does not fail on the broken champion: the candidate is judged without it
      const second = await start(spec, year(2013));
      const waiting = await waitFor(second, 'awaiting_approval');
      assert.match(waiting.verdict!.reason, /champion v1 cannot be trusted.*a person must approve/);
      const alerts = await t.deps.registry.listAlerts(spec.name);
      const critical = alerts.find((a) => a.kind === 'champion-untrusted');
      assert.ok(critical, alerts.map((a) => a.kind).join(', '));
      assert.equal(critical.severity, 'critical');
      assert.match(critical.message, /weather-broken-champion v1 \(champion\) cannot be trusted: .*weights\.bin/);
      assert.match(critical.message, /lumen verify weather-broken-champion@1/);
      await decide(second, approveCandidate, waiting, 'ana', 'replace the broken one');
      const replaced = await second.handle.result();
      assert.equal(replaced.outcome, 'promoted');
      assert.equal(await t.deps.registry.alias(spec.name, 'champion'), 2);

      // verify: refused while the bytes are wrong, cleared once they are restored
      const failed = await verify(1, 'v-1');
      assert.equal(failed.passed, false);
      assert.match(failed.detail, /bytes on disk differ .*weights\.bin has sha256/);
      fs.writeFileSync(weights, good);
      const cleared = await verify(1, 'v-2');
      assert.equal(cleared.passed, true, cleared.detail);
      assert.equal(cleared.previous?.passed, false, 'the failure it clears');
      assert.equal((await t.deps.registry.getVersion(spec.name, 1))?.loadCheck?.passed, true);
      assert.ok((await t.deps.registry.listAlerts(spec.name)).some((a) => a.kind === 'verify-cleared'));
      // and a rollback to it is allowed again
      const back = await changeChampion({
        model: spec.name,
        kind: 'rollback',
        to: 1,
        reason: 'v1 restored',
        by: 'ops',
        requestId: 'rb-restored',
      });
      assert.equal(back.champion, 1);
    });
  });
});
