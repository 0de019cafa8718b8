import assert from 'node:assert/strict';
import type { DatasetRef } from '../../lib/data/snapshot';
import { ChampionChangedError } from '../../lib/errors';
import { SqliteRegistry } from '../../lib/registry/sqlite';
import type { ModelVersionInput } from '../../lib/registry/types';
import { parseModelSpec } from '../../lib/spec';
import { tempHome, type TestHome } from '../support/env';

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

describe('SQLite registry', () => {
  let t: TestHome;
  let registry: SqliteRegistry;
  beforeEach(() => {
    t = tempHome();
    registry = t.deps.registry as SqliteRegistry;
  });
  afterEach(() => t.cleanup());

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

  it('two registries on one file (two processes) see each other and never reuse a version number', async () => {
    const other = new SqliteRegistry(`${t.home}/registry.sqlite`);
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? registry : other).registerVersion(input(`wf-${i}`))),
      );
      assert.deepEqual(
        results.map((r) => r.version).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    } finally {
      other.close();
    }
  });
});

describe('SQLite registry: aliases over time', () => {
  let t: TestHome;
  let registry: SqliteRegistry;
  beforeEach(() => {
    t = tempHome();
    registry = t.deps.registry as SqliteRegistry;
  });
  afterEach(() => t.cleanup());

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

    await registry.setAlias({
      model: spec.name,
      alias: 'staging',
      version: 2,
      actor: 'ana',
      reason: 'try',
      requestId: 's1',
    });
    await registry.setAlias({
      model: spec.name,
      alias: 'staging',
      version: 2,
      actor: 'ana',
      reason: 'try',
      requestId: 's1',
    });
    assert.equal(await registry.alias(spec.name, 'staging'), 2);
    assert.equal((await registry.aliasHistory(spec.name)).filter((e) => e.alias === 'staging').length, 1, 'idempotent');
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
