import assert from 'node:assert/strict';
import { bootstrapBinary, expectedCalibrationError, weightedAuc } from '../../lib/evaluation/calibration';
import { sliceMetrics } from '../../lib/evaluation/slices';
import { decideGate, type ModelScore } from '../../lib/gate';
import { auc } from '../../lib/metrics';
import { parseModelSpec, type ModelSpecInput } from '../../lib/spec';

const base: ModelSpecInput = {
  name: 'gate-test',
  task: 'binary',
  source: {
    columns: [
      { name: 'x', type: 'float' },
      { name: 'y', type: 'integer' },
      { name: 'city', type: 'string' },
    ],
  },
  label: { kind: 'threshold', column: 'y', op: '>', value: 0 },
  features: [{ name: 'x', column: 'x', transform: { kind: 'numeric' } }],
};

// a useful model unless a test says otherwise: better log loss than the base rate's
const score = (metrics: Record<string, number>, gaps: ModelScore['gaps'] = []): ModelScore => ({
  metrics: { logLoss: 0.4, ...metrics },
  baseline: { logLoss: 0.69 },
  intervals: null,
  gaps,
});

describe('gate', () => {
  it('a model no better than ignoring its inputs is refused by default, in every task', () => {
    const binary = parseModelSpec(base);
    const chance = decideGate(binary, score({ auc: 0.5 }), null);
    assert.equal(chance.passed, false);
    assert.match(chance.reason, /auc better than chance: 0\.5000 is not above 0\.5000/);
    const poorlyCalibrated = decideGate(binary, score({ auc: 0.7, logLoss: 0.7 }), null);
    assert.equal(poorlyCalibrated.passed, false);
    assert.match(
      poorlyCalibrated.reason,
      /logLoss below always predicting the positive rate: 0\.7000 is not below 0\.6900/,
    );
    assert.equal(decideGate(binary, score({ auc: 0.7 }), null).passed, true);
    // a passed check reads as the comparison it is
    assert.match(decideGate(binary, score({ auc: 0.7 }), null).checks[0].detail, /0\.7000 > 0\.5000$/);

    const multiclass = parseModelSpec({
      ...base,
      task: 'multiclass',
      source: { columns: [...base.source.columns, { name: 'kind', type: 'string' }] },
      label: { kind: 'classes', column: 'kind' },
    });
    const majority = {
      metrics: { accuracy: 0.44, macroF1: 0.12 },
      baseline: { accuracy: 0.44 },
      intervals: null,
      gaps: [],
    };
    assert.equal(decideGate(multiclass, majority, null).passed, false);
    assert.equal(decideGate(multiclass, { ...majority, metrics: { accuracy: 0.61, macroF1: 0.4 } }, null).passed, true);

    // lumen's movies model before this check: R² = −0.06 on the holdout, and it was promoted
    const regression = parseModelSpec({
      ...base,
      task: 'regression',
      label: { kind: 'value', column: 'x' },
      features: [{ name: 'y', column: 'y', transform: { kind: 'numeric' } }],
    });
    const worseThanMean = decideGate(regression, { metrics: { rmse: 1, r2: -0.06 }, intervals: null, gaps: [] }, null);
    assert.equal(worseThanMean.passed, false);
    assert.match(worseThanMean.reason, /r2 above always predicting the mean: -0\.0600 is not above 0\.0000/);

    const optedOut = parseModelSpec({ ...base, gate: { beatBaseline: false } });
    assert.equal(decideGate(optedOut, score({ auc: 0.5 }), null).passed, true);
  });

  it('first run: change checks are skipped, absolute checks still apply', () => {
    const spec = parseModelSpec({ ...base, gate: { thresholds: { auc: { min: 0.6 } } } });
    const ok = decideGate(spec, score({ auc: 0.7 }), null);
    assert.equal(ok.passed, true);
    assert.equal(ok.firstRun, true);
    assert.equal(ok.checks.find((c) => c.name === 'vs-champion')?.outcome, 'skipped');
    const low = decideGate(spec, score({ auc: 0.55 }), null);
    assert.equal(low.passed, false);
    assert.match(low.reason, /auc minimum: 0\.5500 is not at least 0\.6000/);
  });

  it('first run can be refused, or sent to a person', () => {
    const refuse = parseModelSpec({ ...base, gate: { firstRun: 'reject' } });
    assert.equal(decideGate(refuse, score({ auc: 0.9 }), null).passed, false);
    const ask = parseModelSpec({ ...base, gate: { firstRun: 'requireApproval' } });
    const v = decideGate(ask, score({ auc: 0.9 }), null);
    assert.equal(v.passed, true);
    assert.equal(v.approvalRequired, true);
    // once there is a champion, "firstRun" approvals are not asked for
    assert.equal(decideGate(ask, score({ auc: 0.9 }), { ...score({ auc: 0.8 }), version: 1 }).approvalRequired, false);
  });

  it('a candidate worse than the champion is refused, with every failing check listed', () => {
    const spec = parseModelSpec({
      ...base,
      gate: {
        thresholds: { auc: { min: 0.6 }, calibrationError: { max: 0.05 } },
        vsChampion: { minAbsoluteChange: 0.01, maxDegradation: { logLoss: 0.01 } },
      },
    });
    const v = decideGate(spec, score({ auc: 0.7, calibrationError: 0.08, logLoss: 0.5 }), {
      ...score({ auc: 0.72, calibrationError: 0.02, logLoss: 0.45 }),
      version: 4,
    });
    assert.equal(v.passed, false);
    const failed = v.checks.filter((c) => c.outcome === 'fail').map((c) => `${c.name}:${c.metric}`);
    assert.deepEqual(failed.sort(), ['max-degradation:logLoss', 'threshold:calibrationError', 'vs-champion:auc']);
    const vs = v.checks.find((c) => c.name === 'vs-champion')!;
    assert.ok(Math.abs(vs.value - -0.02) < 1e-12);
    assert.equal(vs.threshold, 0.01);
    assert.match(v.reason, /auc improvement over champion v4 \(0\.7000 vs 0\.7200\)/);
  });

  it('lower-is-better metrics are compared the right way round; relative change too', () => {
    const spec = parseModelSpec({
      ...base,
      task: 'regression',
      label: { kind: 'value', column: 'y' },
      gate: { vsChampion: { minRelativeChange: 0.05 } },
    });
    assert.equal(decideGate(spec, score({ rmse: 9, r2: 0.3 }), { ...score({ rmse: 10 }), version: 1 }).passed, true);
    assert.equal(decideGate(spec, score({ rmse: 9.8, r2: 0.3 }), { ...score({ rmse: 10 }), version: 1 }).passed, false);
  });

  it('fairness: a slice gap above the limit fails the gate', () => {
    const spec = parseModelSpec({
      ...base,
      gate: { slices: { columns: ['city'], maxGap: { truePositiveRate: 0.2 } } },
    });
    const gaps = [
      {
        column: 'city',
        slices: 3,
        truePositiveRate: 0.35,
        falsePositiveRate: 0.1,
        predictedPositiveRate: 0.1,
        auc: 0.05,
      },
    ];
    const v = decideGate(spec, score({ auc: 0.8 }, gaps), null);
    assert.equal(v.passed, false);
    assert.match(v.reason, /truePositiveRate gap across 3 "city" slices: 0\.3500 is not at most 0\.2000/);
  });

  it('slice fairness checks are refused for non-binary tasks at spec time', () => {
    assert.throws(
      () =>
        parseModelSpec({
          ...base,
          task: 'regression',
          label: { kind: 'value', column: 'y' },
          gate: { slices: { columns: ['city'] } },
        }),
      /slice fairness checks need a binary task/,
    );
  });
});

describe('evaluation details', () => {
  it('expected calibration error by hand', () => {
    // bin 0.1–0.2: p̄ = 0.15, observed 0 → 0.15·2; bin 0.9–1.0: p̄ = 0.95, observed 1 → 0.05·2; divided by n = 4
    assert.ok(Math.abs(expectedCalibrationError([0, 0, 1, 1], [0.1, 0.2, 0.9, 1.0]) - (0.3 + 0.1) / 4) < 1e-12);
  });

  it('weighted AUC with unit weights equals AUC; bootstrap intervals bracket the estimate and are seeded', async () => {
    const labels = Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const scores = labels.map((y, i) => 0.3 * y + ((i * 7919) % 100) / 150);
    const order = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
    assert.ok(Math.abs(weightedAuc(labels, scores, order, new Array(400).fill(1)) - auc(labels, scores)) < 1e-12);
    const a = await bootstrapBinary(labels, scores, { replicates: 100, seed: 3, level: 0.9 });
    const b = await bootstrapBinary(labels, scores, { replicates: 100, seed: 3, level: 0.9 });
    assert.deepEqual(a, b);
    const point = auc(labels, scores);
    assert.ok(a.auc.low < point && point < a.auc.high, `${a.auc.low} < ${point} < ${a.auc.high}`);
  });

  it('slice metrics and gaps by hand', () => {
    const values = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c'];
    const labels = [1, 1, 0, 0, 1, 1, 0, 0, 1];
    const probs = [0.9, 0.8, 0.1, 0.6, 0.9, 0.2, 0.1, 0.1, 0.9];
    const { slices, gaps } = sliceMetrics('city', values, labels, probs, { minRows: 2, top: 10 });
    assert.deepEqual(
      slices.map((s) => s.value),
      ['a', 'b'],
      'slice c has too few rows',
    );
    const a = slices[0];
    const b = slices[1];
    assert.equal(a.truePositiveRate, 1);
    assert.equal(a.falsePositiveRate, 0.5);
    assert.equal(b.truePositiveRate, 0.5);
    assert.equal(b.falsePositiveRate, 0);
    assert.equal(gaps.truePositiveRate, 0.5);
    assert.equal(gaps.falsePositiveRate, 0.5);
    assert.equal(gaps.predictedPositiveRate, 0.75 - 0.25);
  });
});
