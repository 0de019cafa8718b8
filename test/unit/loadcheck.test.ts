import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { uriToPath, type ArtifactRef } from '../../lib/artifacts';
import { snapshotSource } from '../../lib/data/snapshot';
import { loadHoldout, makeCanary } from '../../lib/evaluation/evaluate';
import { runLoadCheck } from '../../lib/loadcheck';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { trainOnDataset } from '../../lib/training';
import { repoRoot, tempHome, type TestHome } from '../support/env';

describe('load check in a fresh process', () => {
  let t: TestHome;
  let a: ArtifactRef;
  let b: ArtifactRef;
  let canaryA: ArtifactRef;
  let canaryB: ArtifactRef;

  before(async () => {
    t = tempHome();
    const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
    const dataset = await snapshotSource(t.deps.store, { uri: 'vega-datasets:seattle-weather.csv' });
    const train = async (seed: number): Promise<[ArtifactRef, ArtifactRef]> => {
      const spec = parseModelSpec({ ...base, training: { ...base.training, epochs: 5, seed } });
      const out = await trainOnDataset(t.deps.store, spec, dataset, {
        checkpointKind: `checkpoints/loadcheck-${seed}`,
        onCheckpoint: () => Promise.resolve(),
      });
      const { table, rows } = await loadHoldout(t.deps.store, spec, dataset);
      const canary = await t.deps.store.putJson(
        'canaries',
        await makeCanary(t.deps.store, spec, out.artifact, table, rows),
      );
      return [out.artifact, canary];
    };
    [a, canaryA] = await train(1);
    [b, canaryB] = await train(2);
  });
  after(() => t.cleanup());

  it('a sound artifact passes: digest verified, canary predicted as at evaluation', async () => {
    const result = await runLoadCheck(t.deps.store, a, canaryA);
    assert.equal(result.passed, true, result.detail);
    assert.match(result.detail, /digest verified; 32 canary rows predicted within/);
    assert.equal(result.backend, 'tensorflow');
  });

  it('a canary from another model fails: the predictions differ', async () => {
    const result = await runLoadCheck(t.deps.store, a, canaryB);
    assert.equal(result.passed, false);
    assert.match(result.detail, /canary predictions differ from evaluation by up to/);
  });

  it('one flipped byte in the weights fails', async () => {
    const file = path.join(uriToPath(a.uri), 'weights.bin');
    const original = fs.readFileSync(file);
    const flipped = Buffer.from(original);
    flipped[7] ^= 0x10;
    fs.writeFileSync(file, flipped);
    try {
      const result = await runLoadCheck(t.deps.store, a, canaryA);
      assert.equal(result.passed, false);
      assert.match(result.detail, /weights\.bin has sha256 [0-9a-f]{64}, manifest says/);
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('weight files swapped between two models of the same shape fail', async () => {
    const fileA = path.join(uriToPath(a.uri), 'weights.bin');
    const fileB = path.join(uriToPath(b.uri), 'weights.bin');
    const [wa, wb] = [fs.readFileSync(fileA), fs.readFileSync(fileB)];
    assert.equal(wa.length, wb.length, 'same architecture, same size: only the digest tells them apart');
    fs.writeFileSync(fileA, wb);
    fs.writeFileSync(fileB, wa);
    try {
      for (const [artifact, canary] of [
        [a, canaryA],
        [b, canaryB],
      ] as const) {
        const result = await runLoadCheck(t.deps.store, artifact, canary);
        assert.equal(result.passed, false);
        assert.match(result.detail, /weights\.bin has sha256/);
      }
    } finally {
      fs.writeFileSync(fileA, wa);
      fs.writeFileSync(fileB, wb);
    }
  });
});
