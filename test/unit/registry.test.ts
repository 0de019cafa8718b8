import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DatasetRef } from '../../lib/data/snapshot';
import { ChampionChangedError, ConflictError } from '../../lib/errors';
import { PostgresRegistry } from '../../lib/registry/postgres';
import { SqliteRegistry } from '../../lib/registry/sqlite';
import type { ModelVersionInput, Registry } from '../../lib/registry/types';
import { parseModelSpec } from '../../lib/spec';
import { startPostgres, type LocalPostgres } from '../../tools/postgres';
import { tempHome } from '../support/env';

const spec = parseModelSpec({
  name: 'reg-test',
  task: 'regression',
  source: {
    columns: [
      { name: 'x', type: 'float' },
      { name: 'y', type: 'float' },
    ],
  },
  label: { kind: 'value', column: 'y' },
  features: [{ name: 'x', column: 'x', transform: { kind: 'numeric' } }],
});

const dataset = (sha: string): DatasetRef => ({
  uri: `file:///tmp/${sha}.parquet`,
  sha256: sha.padEnd(64, '0'),
  bytes: 10,
  rows: 5,
  columns: [{ name: 'x', type: 'DOUBLE' }],
  source: { uri: '/tmp/x.csv' },
  sourceFingerprint: 'f'.repeat(64),
});

function input(workflowId: string, sha = Buffer.from(workflowId).toString('hex')): ModelVersionInput {
  return {
    model: spec.name,
    artifact: { uri: `file:///tmp/${workflowId}`, sha256: 'b'.repeat(64), bytes: 100 },
    task: spec.task,
    spec,
    specHash: 'c'.repeat(64),
    dataset: dataset(sha),
    lineage: {
      sourceDataset: dataset(sha).sha256,
      contractHash: 'd'.repeat(64),
      validation: {
        id: 1,
        outcome: 'pass',
        decision: 'accepted',
        decidedBy: 'contract',
        reason: null,
        report: { uri: 'file:///tmp/report.json', sha256: 'e'.repeat(64), bytes: 1 },
        html: { uri: 'file:///tmp/report.html', sha256: 'e'.repeat(64), bytes: 1 },
        profile: { uri: 'file:///tmp/profile.json', sha256: 'e'.repeat(64), bytes: 1 },
        quarantine: null,
      },
    },
    codeVersion: 'abc123',
    backend: 'tensorflow',
    seed: 42,
    workflowId,
    runId: `run-${workflowId}`,
    metrics: { rmse: 1 },
    training: { epochs: 3 },
    evaluation: {},
  };
}

/** A fresh registry, a second connection to the same store (another process, as far as the store can tell). */
interface Backend {
  name: string;
  open: () => Promise<{ registry: Registry; second: () => Promise<Registry>; cleanup: () => Promise<void> }>;
}

const sqlite: Backend = {
  name: 'SQLite',
  open: async () => {
    const t = tempHome();
    return {
      registry: t.deps.registry,
      second: async () => new SqliteRegistry(`${t.home}/registry.sqlite`),
      cleanup: async () => t.cleanup(),
    };
  },
};

/** one real PostgreSQL server for the file, a database per test */
let server: { pg: LocalPostgres; dir: string } | undefined;
let databases = 0;
const postgres: Backend = {
  name: 'PostgreSQL',
  open: async () => {
    if (!server) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-pg-'));
      server = { pg: await startPostgres(path.join(dir, 'data')), dir };
    }
    const name = `registry_${++databases}`;
    await server.pg.createDatabase(name);
    const registry = await PostgresRegistry.open(server.pg.url(name));
    const others: Registry[] = [];
    return {
      registry,
      second: async () => {
        const other = await PostgresRegistry.open(server!.pg.url(name));
        others.push(other);
        return other;
      },
      cleanup: async () => {
        for (const r of [registry, ...others]) r.close();
      },
    };
  },
};

after(async () => {
  if (!server) return;
  await server.pg.stop();
  fs.rmSync(server.dir, { recursive: true, force: true });
});

for (const backend of [sqlite, postgres]) {
  describe(`${backend.name} registry`, () => {
    let registry: Registry;
    let second: () => Promise<Registry>;
    let cleanup: (() => Promise<void>) | undefined;
    beforeEach(async () => {
      cleanup = undefined;
      ({ registry, second, cleanup } = await backend.open());
    });
    // when opening failed, its error is the one to see, not one of this hook's
    afterEach(() => cleanup?.());

    it('numbers versions per model and keeps full lineage', async () => {
      const v1 = await registry.registerVersion(input('wf-1', 'a'));
      const v2 = await registry.registerVersion(input('wf-2', 'd'));
      assert.equal(v1.version, 1);
      assert.equal(v2.version, 2);
      const back = await registry.getVersion(spec.name, 2);
      assert.equal(back?.codeVersion, 'abc123');
      assert.equal(back?.datasetSha256, dataset('d').sha256);
      assert.equal(back?.runId, 'run-wf-2');
      assert.deepEqual(back?.spec, spec);
      assert.equal((await registry.getDataset(dataset('d').sha256))?.rows, 5);
      assert.equal(back?.lineage.contractHash, 'd'.repeat(64));
      assert.deepEqual(
        (await registry.modelsTrainedOn(dataset('a').sha256)).map((v) => v.version),
        [1],
      );
      assert.equal((await registry.findTrained(spec.name, dataset('a').sha256, 'c'.repeat(64)))?.version, 1);
    });

    it('a retried registration from the same workflow returns the same version', async () => {
      const first = await registry.registerVersion(input('wf-1'));
      const again = await registry.registerVersion(input('wf-1'));
      assert.equal(again.version, first.version);
      assert.equal((await registry.listVersions(spec.name)).length, 1);
    });

    it('a second run on the same data and spec gets the version the first one registered', async () => {
      const first = await registry.registerVersion(input('wf-1', 'e'));
      const second = await registry.registerVersion(input('wf-2', 'e'));
      assert.equal(second.version, first.version);
      assert.equal(second.workflowId, 'wf-1', 'the caller sees the version belongs to another run');
      const otherSpec = await registry.registerVersion({ ...input('wf-3', 'e'), specHash: 'd'.repeat(64) });
      assert.equal(otherSpec.version, 2, 'a different spec on the same data is a new version');
    });

    it('promotes with compare-and-set, moves previous, records history, and is idempotent per request', async () => {
      await registry.registerVersion(input('wf-1'));
      await registry.registerVersion(input('wf-2'));
      const base = { model: spec.name, actor: 'test', reason: 'r', kind: 'promote' as const, requireLoadCheck: false };
      const p1 = await registry.moveChampion({ ...base, to: 1, expectedChampion: null, requestId: 'req-1' });
      assert.deepEqual(p1, { changed: true, champion: 1, previous: null });
      await assert.rejects(
        registry.moveChampion({ ...base, to: 2, expectedChampion: null, requestId: 'req-2' }),
        (e: unknown) => e instanceof ChampionChangedError && /champion is v1, but the promote to v2/.test(e.message),
      );
      const p2 = await registry.moveChampion({ ...base, to: 2, expectedChampion: 1, requestId: 'req-2' });
      assert.deepEqual(p2, { changed: true, champion: 2, previous: 1 });
      const again = await registry.moveChampion({ ...base, to: 2, expectedChampion: 1, requestId: 'req-2' });
      assert.equal(again.changed, false);
      // the same key for another move (another target, another model) is refused, never taken for the first one
      await assert.rejects(
        registry.moveChampion({ ...base, to: 1, expectedChampion: 'any', requestId: 'req-2' }),
        (e: unknown) =>
          e instanceof ConflictError && /"req-2" already moved the champion of reg-test to v2/.test(e.message),
      );
      await assert.rejects(
        registry.moveChampion({ ...base, model: 'other-model', to: 2, expectedChampion: 'any', requestId: 'req-2' }),
        (e: unknown) =>
          e instanceof ConflictError && /a promote of other-model to v2 needs a request id of its own/.test(e.message),
      );
      assert.equal(await registry.alias(spec.name, 'champion'), 2);
      assert.equal(await registry.alias(spec.name, 'previous'), 1);
      const history = await registry.aliasHistory(spec.name);
      assert.deepEqual(
        history.map((h) => [h.alias, h.fromVersion, h.toVersion]),
        [
          ['champion', null, 1],
          ['previous', null, 1],
          ['champion', 1, 2],
        ],
      );
    });

    it('two connections (two processes) see each other and never reuse a version number', async () => {
      const other = await second();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? registry : other).registerVersion(input(`wf-${i}`))),
      );
      assert.deepEqual(
        results.map((r) => r.version).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    });

    it('keeps every kind of record, idempotent where it promises to be', async () => {
      const v1 = await registry.registerVersion(input('wf-r'));
      const ds = dataset(Buffer.from('wf-r').toString('hex'));
      await registry.recordDataset(ds, { uri: 'file:///p.json', sha256: 'f'.repeat(64), bytes: 3 });
      assert.equal((await registry.getDataset(ds.sha256))?.profile?.bytes, 3);
      const artifact = { uri: 'file:///r.json', sha256: 'a'.repeat(64), bytes: 1 };
      const validation = {
        model: spec.name,
        datasetSha256: ds.sha256,
        outcome: 'fail' as const,
        trainable: true,
        contractHash: 'd'.repeat(64),
        report: artifact,
        html: artifact,
        profile: artifact,
        quarantine: null,
        trainingDatasetSha256: ds.sha256,
        decision: 'quarantined' as const,
        decidedBy: null,
        reason: null,
        workflowId: 'wf-v',
        runId: 'run-v',
      };
      const val = await registry.recordValidation(validation);
      assert.equal((await registry.recordValidation(validation)).id, val.id, 'a retried record is the same record');
      assert.deepEqual(
        (await registry.listValidations({ decision: 'quarantined' })).map((v) => v.id),
        [val.id],
      );
      await registry.decideValidation(val.id, 'released', 'ana', 'fine');
      await assert.rejects(registry.decideValidation(val.id, 'discarded', 'bo', 'no'), ConflictError);
      assert.equal((await registry.lastAccepted(spec.name))?.decidedBy, 'ana');
      assert.equal((await registry.listValidations({ model: spec.name, dataset: ds.sha256 }))[0].trainable, true);

      const alert = {
        model: spec.name,
        severity: 'warning' as const,
        kind: 'k',
        message: 'm',
        details: { a: 1 },
        workflowId: null,
        runId: null,
        key: 'alert-1',
      };
      const a1 = await registry.recordAlert(alert);
      assert.equal((await registry.recordAlert(alert)).id, a1.id);
      assert.deepEqual(
        (await registry.listAlerts(spec.name, 5)).map((a) => a.details),
        [{ a: 1 }],
      );

      const request = await registry.requestApproval({
        model: spec.name,
        version: v1.version,
        artifactSha256: 'b'.repeat(64),
        workflowId: 'wf-a',
        runId: 'run-a',
      });
      await registry.decideApproval(request.id, 'approved', 'bo + cy', 'ok');
      assert.deepEqual(
        (await registry.listApprovals({ model: spec.name, version: v1.version })).map((a) => [a.status, a.decidedBy]),
        [['approved', 'bo + cy']],
      );
      assert.equal((await registry.listApprovals({ status: 'pending' })).length, 0);
      await registry.recordLoadCheck(spec.name, v1.version, {
        passed: true,
        detail: 'ok',
        at: new Date().toISOString(),
      });
      assert.equal((await registry.getVersion(spec.name, v1.version))?.loadCheck?.passed, true);
      assert.deepEqual(await registry.listModels(), [{ model: spec.name, versions: 1, champion: null }]);

      await registry.setServingPolicy(spec.name, { canary: { version: 1, percent: 10 } } as never, 'ana', 'try');
      assert.equal((await registry.servingPolicy(spec.name))?.updatedBy, 'ana');
      await registry.announceServingInstance({ id: 'i1', url: 'http://127.0.0.1:1' });
      await registry.announceServingInstance({ id: 'i1', url: 'http://127.0.0.1:2' });
      assert.deepEqual(
        (await registry.servingInstances('2000-01-01')).map((i) => i.url),
        ['http://127.0.0.1:2'],
      );

      const report = {
        model: spec.name,
        champion: 1,
        from: '2026-01-01T00:00:00Z',
        to: '2026-01-01T01:00:00Z',
        at: '2026-01-01T01:00:05Z',
        report: artifact,
        summary: { n: 3 },
      };
      const r1 = await registry.recordMonitorReport(report);
      assert.equal((await registry.recordMonitorReport(report)).id, r1.id);
      assert.deepEqual(
        (await registry.listMonitorReports(spec.name, { limit: 5 })).map((r) => r.summary),
        [{ n: 3 }],
      );
      const action = {
        model: spec.name,
        kind: 'retrain' as const,
        trigger: 'auto' as const,
        by: 'monitor',
        reason: 'drift',
        evidence: { x: 1 },
        result: { ok: true },
        workflowId: null,
        key: 'act-1',
      };
      const first = await registry.recordMonitorAction(action);
      const again = await registry.recordMonitorAction(action);
      assert.equal((await registry.listMonitorActions(spec.name)).length, 1);
      assert.deepEqual([first.created, again.created], [true, false]);
      assert.deepEqual(again.record, first.record, 'the retry returns the first record');
      const run = (ok: boolean, wf: string) =>
        registry.recordScheduleRun({ scheduleId: 's', model: spec.name, workflowId: wf, ok, detail: 'd' });
      await run(false, 'w1');
      assert.equal((await run(false, 'w2')).failuresInRow, 2);
      assert.equal((await run(false, 'w2')).failuresInRow, 2, 'the same run recorded twice counts once');
      assert.equal((await registry.listScheduleRuns('s')).length, 2);

      const key = await registry.addKey({ keyId: '1'.repeat(32), person: 'ana', publicKeyPem: 'PEM', addedBy: 'ana' });
      await assert.rejects(registry.addKey({ ...key, person: 'bo' }), /already registered to ana/);
      assert.ok((await registry.revokeKey(key.keyId, 'ana', 'lost')).revokedAt);
      assert.equal((await registry.listKeys()).length, 1);
      assert.equal((await registry.useNonce('n'.repeat(32), key.keyId, 'here')).fresh, true);
      assert.equal((await registry.useNonce('n'.repeat(32), key.keyId, 'here')).fresh, true, 'the same place again');
      assert.equal((await registry.useNonce('n'.repeat(32), key.keyId, 'there')).fresh, false, 'a replay');
      const trail = await registry.listAudit({ model: spec.name });
      assert.ok(trail.some((e) => e.action === 'batch-released' && e.identity === 'ana'));
      assert.ok(trail.some((e) => e.action === 'candidate-approved'));
      assert.ok(trail.some((e) => e.action === 'monitor-retrain' && e.outcome === 'automatic'));
      assert.ok(trail.some((e) => e.action === 'key-revoked' && e.model === '*'));
      assert.equal((await registry.listAudit({ model: spec.name, since: '2999-01-01' })).length, 0);
    });

    it('answers "which version was champion at time T", and keeps free-form aliases with their history', async () => {
      for (const wf of ['a', 'b', 'c']) await registry.registerVersion(input(`wf-${wf}`));
      const move = (to: number | 'previous', requestId: string) =>
        registry.moveChampion({
          model: spec.name,
          to,
          expectedChampion: 'any',
          kind: to === 'previous' ? 'rollback' : 'promote',
          actor: 'test',
          reason: requestId,
          requestId,
          requireLoadCheck: false,
        });
      const stamps: string[] = [];
      const tick = async (): Promise<void> => {
        await new Promise((r) => setTimeout(r, 5));
        stamps.push(new Date().toISOString());
        await new Promise((r) => setTimeout(r, 5));
      };
      await tick(); // [0] before anything
      await move(1, 'p1');
      await tick(); // [1]
      await move(3, 'p3');
      await tick(); // [2]
      await move('previous', 'rb');
      await tick(); // [3]
      assert.deepEqual(await Promise.all(stamps.map((at) => registry.aliasAt(spec.name, 'champion', at))), [
        null,
        1,
        3,
        1,
      ]);
      assert.deepEqual(await registry.aliases(spec.name), { champion: 1, previous: 3 });

      // the same request twice
      for (let i = 0; i < 2; i++) {
        await registry.setAlias({
          model: spec.name,
          alias: 'staging',
          version: 2,
          actor: 'ana',
          reason: 'try',
          requestId: 's1',
        });
      }
      assert.equal(await registry.alias(spec.name, 'staging'), 2);
      assert.equal(
        (await registry.aliasHistory(spec.name)).filter((e) => e.alias === 'staging').length,
        1,
        'idempotent',
      );
      await assert.rejects(
        registry.setAlias({
          model: spec.name,
          alias: 'staging',
          version: 3,
          actor: 'ana',
          reason: 'r',
          requestId: 's1',
        }),
        (e: unknown) => e instanceof ConflictError && /"s1" already set reg-test's "staging" to v2/.test(e.message),
      );
      assert.equal(await registry.alias(spec.name, 'staging'), 2);
      await assert.rejects(
        registry.setAlias({
          model: spec.name,
          alias: 'champion',
          version: 2,
          actor: 'ana',
          reason: 'x',
          requestId: 's2',
        }),
        /moves only by promotion or rollback/,
      );
      await registry.setAlias({
        model: spec.name,
        alias: 'staging',
        version: null,
        actor: 'ana',
        reason: 'done',
        requestId: 's3',
      });
      assert.equal(await registry.alias(spec.name, 'staging'), null);
    });

    it('a rollback with no previous champion is refused', async () => {
      await registry.registerVersion(input('wf-only'));
      await assert.rejects(
        registry.moveChampion({
          model: spec.name,
          to: 'previous',
          expectedChampion: 'any',
          kind: 'rollback',
          actor: 't',
          reason: 'r',
          requestId: 'x',
          requireLoadCheck: false,
        }),
        /has no previous champion/,
      );
    });
  });
}
