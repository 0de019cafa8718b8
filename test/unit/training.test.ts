import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { uriToPath, type ArtifactRef } from '../../lib/artifacts';
import { snapshotSource, type DatasetRef } from '../../lib/data/snapshot';
import { evaluateArtifact, evaluationOptions, loadHoldout } from '../../lib/evaluation/evaluate';
import { loadModelArtifact } from '../../lib/model/artifact';
import { loadTf } from '../../lib/model/tf';
import { loadModelSpec, parseModelSpec, type ModelSpec } from '../../lib/spec';
import { trainOnDataset } from '../../lib/training';
import { repoRoot, tempHome, type TestHome } from '../support/env';

class SimulatedCrash extends Error {}

describe('training with tfjs', () => {
  let t: TestHome;
  let weather: DatasetRef;
  const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
  const spec: ModelSpec = parseModelSpec({ ...base, training: { ...base.training, epochs: 6 } });

  before(async () => {
    t = tempHome();
    weather = await snapshotSource(t.deps.store, { uri: 'vega-datasets:seattle-weather.csv' });
  });
  after(() => t.cleanup());

  it('runs on the native TensorFlow backend when set-up built it', async () => {
    const { tf, backend } = await loadTf();
    const statePath = path.join(repoRoot, '.tools', 'toolchain-state.json');
    const state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as { tfjs: { backend: string } };
    assert.equal(state.tfjs.backend, 'tensorflow', 'set-up could not build tfjs-node on this machine');
    assert.equal(backend, 'tensorflow');
    assert.equal(tf.getBackend(), 'tensorflow');
  });

  async function weightsOf(ref: ArtifactRef): Promise<Float32Array[]> {
    const { tf } = await loadTf();
    const loaded = await loadModelArtifact(t.deps.store, tf, ref);
    const values = loaded.model.getWeights().map((w) => w.dataSync() as Float32Array);
    loaded.model.dispose();
    return values;
  }

  it('a run interrupted after epoch 3 and resumed from its checkpoint ends where an uninterrupted run does', async () => {
    const straight = await trainOnDataset(t.deps.store, spec, weather, {
      checkpointKind: 'checkpoints/test/straight',
      onCheckpoint: () => Promise.resolve(),
    });
    assert.equal(straight.resumedFromEpoch, null);
    assert.equal(straight.history.length, 6);

    let saved: ArtifactRef | undefined;
    await assert.rejects(
      trainOnDataset(t.deps.store, spec, weather, {
        checkpointKind: 'checkpoints/test/interrupted',
        onCheckpoint: (ref, progress) => {
          saved = ref;
          if (progress.epochsDone === 3) throw new SimulatedCrash('worker died after epoch 3');
          return Promise.resolve();
        },
      }),
      SimulatedCrash,
    );
    assert.ok(saved);
    // No heartbeat reached the server (throttled, or the worker died first): the retry finds the newest
    // checkpoint from the note the attempt left beside its checkpoints.
    const resumed = await trainOnDataset(t.deps.store, spec, weather, {
      checkpointKind: 'checkpoints/test/interrupted',
      onCheckpoint: () => Promise.resolve(),
    });
    assert.equal(resumed.resumedFromEpoch, 3);
    assert.equal(resumed.history.length, 6, 'history carries the epochs trained before the crash');
    assert.deepEqual(
      resumed.history.slice(0, 3).map((h) => h.loss),
      straight.history.slice(0, 3).map((h) => h.loss),
    );
    const a = await weightsOf(straight.artifact);
    const b = await weightsOf(resumed.artifact);
    let maxDiff = 0;
    a.forEach((w, i) => w.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - b[i][j])))));
    // Weights, Adam moments and the per-epoch shuffle are restored exactly; a restart from scratch or without
    // optimizer state would land far from the uninterrupted run.
    assert.ok(maxDiff < 1e-4, `resumed weights differ by ${maxDiff}`);
  });

  it('a corrupted checkpoint is refused and training starts over instead of half-using it', async () => {
    let saved: ArtifactRef | undefined;
    await assert.rejects(
      trainOnDataset(t.deps.store, spec, weather, {
        checkpointKind: 'checkpoints/test/corrupt',
        onCheckpoint: (ref) => {
          saved = ref;
          throw new SimulatedCrash('crash after first epoch');
        },
      }),
      SimulatedCrash,
    );
    const weightsFile = path.join(uriToPath(saved!.uri), 'weights.bin');
    const bytes = fs.readFileSync(weightsFile);
    bytes[10] ^= 0xff;
    fs.writeFileSync(weightsFile, bytes);
    const messages: string[] = [];
    const outcome = await trainOnDataset(t.deps.store, spec, weather, {
      resumeFrom: { checkpoint: saved!, epochsDone: 1 },
      checkpointKind: 'checkpoints/test/corrupt',
      onCheckpoint: () => Promise.resolve(),
      log: (m) => messages.push(m),
    });
    assert.equal(outcome.resumedFromEpoch, null);
    assert.ok(
      messages.some((m) => /ignoring checkpoint .* weights\.bin has sha256/.test(m)),
      messages.join('\n'),
    );
  });

  it('resumes from the newer of the heartbeat and the note, and ignores a checkpoint of other preprocessing', async () => {
    const marks: { checkpoint: ArtifactRef; epochsDone: number }[] = [];
    await assert.rejects(
      trainOnDataset(t.deps.store, spec, weather, {
        checkpointKind: 'checkpoints/test/newer',
        onCheckpoint: (ref, progress) => {
          marks.push({ checkpoint: ref, epochsDone: progress.epochsDone });
          if (progress.epochsDone === 4) throw new SimulatedCrash('worker died after epoch 4');
          return Promise.resolve();
        },
      }),
      SimulatedCrash,
    );
    // a checkpoint from a run of different preprocessing (another spec) is refused, not loaded
    const other = parseModelSpec({ ...spec, features: spec.features.slice(0, 2) });
    const messages: string[] = [];
    const fresh = await trainOnDataset(t.deps.store, other, weather, {
      resumeFrom: marks[3],
      checkpointKind: 'checkpoints/test/other',
      onCheckpoint: () => Promise.resolve(),
      log: (m) => messages.push(m),
    });
    assert.equal(fresh.resumedFromEpoch, null);
    assert.ok(
      messages.some((m) => /made with different preprocessing/.test(m)),
      messages.join('\n'),
    );

    // the server last heard of epoch 2; the note says 4
    const resumed = await trainOnDataset(t.deps.store, spec, weather, {
      resumeFrom: marks[1],
      checkpointKind: 'checkpoints/test/newer',
      onCheckpoint: () => Promise.resolve(),
    });
    assert.equal(resumed.resumedFromEpoch, 4);
  });

  it('trains the same model from the same data and seed', async () => {
    const a = await trainOnDataset(t.deps.store, spec, weather, {
      checkpointKind: 'checkpoints/test/a',
      onCheckpoint: () => Promise.resolve(),
    });
    const b = await trainOnDataset(t.deps.store, spec, weather, {
      checkpointKind: 'checkpoints/test/b',
      onCheckpoint: () => Promise.resolve(),
    });
    assert.deepEqual(
      a.history.map((h) => h.loss),
      b.history.map((h) => h.loss),
    );
    assert.equal(a.artifact.sha256, b.artifact.sha256, 'a reproducible run yields the same artifact digest');
    const { table, rows } = await loadHoldout(t.deps.store, spec, weather);
    const { metrics: m } = await evaluateArtifact(t.deps.store, a.artifact, table, rows, evaluationOptions(spec));
    assert.equal(m.rows, rows.length);
    // five weather classes; "sun" and "rain" dominate — a trained model must beat always-"sun" (≈ 44 %)
    assert.ok(m.accuracy > 0.6, `holdout accuracy ${m.accuracy}`);
  });

  it('measures permutation importance at evaluation: seeded, on the rows scored, with the metric compared with the champion', async () => {
    const trained = await trainOnDataset(t.deps.store, spec, weather, {
      checkpointKind: 'checkpoints/test/importance',
      onCheckpoint: () => Promise.resolve(),
    });
    const { table, rows } = await loadHoldout(t.deps.store, spec, weather);
    const options = evaluationOptions(spec);
    assert.equal(options.importance.metric.name, 'macroF1', 'multiclass models are compared on macro-F1');
    // a spec stored before importance was measured (a registered policy's gate, as JSON) has no setting: defaults
    const stored = JSON.parse(JSON.stringify(spec)) as ModelSpec;
    delete (stored.gate as Partial<ModelSpec['gate']>).importance;
    assert.deepEqual(evaluationOptions(stored).importance, options.importance);
    const scored = await evaluateArtifact(t.deps.store, trained.artifact, table, rows, options);
    const importance = scored.importance!;
    assert.equal(importance.metric, 'macroF1');
    assert.equal(importance.rows, scored.metrics.rows, 'every scored holdout row, below maxRows');
    assert.ok(Math.abs(importance.baseline - scored.metrics.macroF1) < 1e-12, 'the unshuffled rows score the metric');
    assert.deepEqual(
      importance.features.map((f) => f.feature),
      spec.features.map((f) => f.name),
    );
    const byName = new Map(importance.features.map((f) => [f.feature, f]));
    // rain and snow are told apart from sun by the precipitation: shuffling it costs the most, beyond the noise
    const top = [...importance.features].sort((a, b) => b.mean - a.mean)[0];
    assert.equal(top.feature, 'precipitation', JSON.stringify(importance.features.map((f) => [f.feature, f.mean])));
    assert.ok(byName.get('precipitation')!.low > 0);

    const again = await evaluateArtifact(t.deps.store, trained.artifact, table, rows, options);
    assert.deepEqual(again.importance, importance, 'the same seed gives the same importance');
    const sampled = await evaluateArtifact(t.deps.store, trained.artifact, table, rows, {
      ...options,
      importance: { ...options.importance, maxRows: 100 },
    });
    assert.equal(sampled.importance!.rows, 100, 'a seeded sample of maxRows rows');
    const off = await evaluateArtifact(t.deps.store, trained.artifact, table, rows, {
      ...options,
      importance: { ...options.importance, repeats: 0 },
    });
    assert.equal(off.importance, null);
    assert.deepEqual(off.metrics, scored.metrics, 'measuring importance leaves the metrics alone');
    assert.throws(
      () => parseModelSpec({ ...base, gate: { importance: { repeats: 1 } } }),
      /gate\.importance\.repeats: must be 0 \(not measured\) or at least 2/,
    );
  });

  describe('early stopping', () => {
    let movies: DatasetRef;
    const moviesBase = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'movies-imdb.json'));
    // 60 epochs overfit movies (holdout R² falls from 0.56 at 10 epochs to 0.40)
    const long = parseModelSpec({
      ...moviesBase,
      training: { ...moviesBase.training, epochs: 60, earlyStopping: { patience: 3 } },
    });
    before(async () => {
      movies = await snapshotSource(t.deps.store, { uri: 'vega-datasets:movies.json' });
    });

    it('stops once the validation loss has not improved for `patience` epochs, and keeps the best epoch', async () => {
      const stopped = await trainOnDataset(t.deps.store, long, movies, {
        checkpointKind: 'checkpoints/test/early',
        onCheckpoint: () => Promise.resolve(),
      });
      assert.equal(stopped.stoppedEarly, true);
      const best = stopped.bestEpoch!;
      assert.equal(stopped.epochs, best + 3, 'three epochs without improvement after the best');
      const losses = stopped.history.map((h) => h.validationLoss!);
      assert.equal(Math.min(...losses), losses[best - 1], 'the best epoch has the lowest validation loss');
      // the same training cut at the best epoch: its weights are what the stopped run kept
      const cut = parseModelSpec({ ...long, training: { ...long.training, epochs: best } });
      const straight = await trainOnDataset(t.deps.store, cut, movies, {
        checkpointKind: 'checkpoints/test/cut',
        onCheckpoint: () => Promise.resolve(),
      });
      const a = await weightsOf(stopped.artifact);
      const b = await weightsOf(straight.artifact);
      let maxDiff = 0;
      a.forEach((w, i) => w.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - b[i][j])))));
      assert.ok(maxDiff < 1e-6, `kept weights differ from the best epoch's by ${maxDiff}`);
      const { table, rows } = await loadHoldout(t.deps.store, long, movies);
      const kept = await evaluateArtifact(t.deps.store, stopped.artifact, table, rows, evaluationOptions(long));
      assert.ok(kept.metrics.r2 >= 0.19, `holdout R² ${kept.metrics.r2} (Ridge: 0.19)`);
    });

    it('a run interrupted after its best epoch resumes with the best weights and ends where it would have', async () => {
      const straight = await trainOnDataset(t.deps.store, long, movies, {
        checkpointKind: 'checkpoints/test/early-straight',
        onCheckpoint: () => Promise.resolve(),
      });
      const crashAt = straight.bestEpoch! + 1;
      await assert.rejects(
        trainOnDataset(t.deps.store, long, movies, {
          checkpointKind: 'checkpoints/test/early-crash',
          onCheckpoint: (_ref, progress) => {
            if (progress.epochsDone === crashAt) throw new SimulatedCrash(`worker died after epoch ${crashAt}`);
            return Promise.resolve();
          },
        }),
        SimulatedCrash,
      );
      const resumed = await trainOnDataset(t.deps.store, long, movies, {
        checkpointKind: 'checkpoints/test/early-crash',
        onCheckpoint: () => Promise.resolve(),
      });
      assert.equal(resumed.resumedFromEpoch, crashAt);
      assert.equal(resumed.bestEpoch, straight.bestEpoch);
      assert.equal(resumed.epochs, straight.epochs);
      const a = await weightsOf(straight.artifact);
      const b = await weightsOf(resumed.artifact);
      let maxDiff = 0;
      a.forEach((w, i) => w.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - b[i][j])))));
      assert.ok(maxDiff < 1e-4, `resumed weights differ by ${maxDiff}`);
    });
  });
});
