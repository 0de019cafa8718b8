import assert from 'node:assert/strict';
import { findingsOf } from '../../lib/monitor/findings';
import type { Finding, HealthReport } from '../../lib/monitor/report';
import { MonitorPolicy } from '../../lib/monitor/policy';
import { meanInterval, wilson } from '../../lib/monitor/stats';
import { decide, initialState, takeRequest, championMoved } from '../../workflows/monitor-logic';

const MIN = 60_000;
const drift: Finding = { kind: 'input-drift', action: 'retrain', severity: 'critical', summary: 'drifted' };
const worse: Finding = { kind: 'worse-than-previous', action: 'rollback', severity: 'critical', summary: 'worse' };

describe('monitor rules: hysteresis, cooldown, one action per cause', () => {
  const policy = MonitorPolicy.parse({ breaches: 2, clearAfter: 2, cooldownMinutes: 60 });

  it('acts only after `breaches` checks in a row, then not again within the cooldown', () => {
    const s = initialState('m', policy, 0);
    assert.deepEqual(decide(s, [drift], 0), [], 'one breach is not enough');
    const second = decide(s, [drift], 5 * MIN);
    assert.deepEqual(
      second.map((a) => a.kind),
      ['retrain', 'alert'],
    );
    assert.ok(second[1].opened, 'the alert says the incident opened');
    for (let m = 10; m < 60; m += 5) assert.deepEqual(decide(s, [drift], m * MIN), [], `minute ${m}: cooling down`);
    assert.deepEqual(
      decide(s, [drift], 66 * MIN).map((a) => a.kind),
      ['retrain', 'alert'],
      'after the cooldown a standing incident acts again',
    );
  });

  it('an action carries the traces its finding names into its evidence, and none when the finding has none', () => {
    const s = initialState('m', policy, 0);
    const traces = [{ trace: 'a'.repeat(32), prediction: '01J0000000000000000000000A' }];
    const slow: Finding = { kind: 'latency', action: 'alert', severity: 'warning', summary: 'slow', traces };
    decide(s, [slow, drift], 0);
    const planned = decide(s, [slow, drift], 5 * MIN);
    assert.deepEqual(
      planned.map((p) => [p.kind, p.finding, p.traces]),
      [
        ['retrain', 'input-drift', undefined],
        ['alert', 'input-drift', undefined],
        ['alert', 'latency', traces],
      ],
    );
  });

  it('a flapping signal (on, off, on, off…) never reaches two breaches in a row: no action', () => {
    const s = initialState('m', policy, 0);
    for (let i = 0; i < 20; i++) assert.deepEqual(decide(s, i % 2 ? [] : [drift], i * 5 * MIN), []);
  });

  it('a signal flapping in pairs acts once per cooldown, and the incident closes after clearAfter clean checks', () => {
    const s = initialState('m', policy, 0);
    let retrains = 0;
    // two on, two off, for 3 hours at 5-minute checks: 18 openings, a 60-minute cooldown
    for (let i = 0; i < 36; i++) {
      const actions = decide(s, i % 4 < 2 ? [drift] : [], i * 5 * MIN);
      retrains += actions.filter((a) => a.kind === 'retrain').length;
      if (i % 4 === 3) assert.equal(s.incidents['input-drift'].open, false, `check ${i}: closed after two clean`);
    }
    assert.equal(retrains, 3, 'once per hour over three hours');
  });

  it('a rollback acts on the first check (its intervals are its hysteresis); one retrain per check', () => {
    const s = initialState('m', policy, 0);
    const decay: Finding = { kind: 'decay', action: 'retrain', severity: 'critical', summary: 'decayed' };
    assert.deepEqual(
      decide(s, [worse, drift, decay], 0).map((a) => a.kind),
      ['rollback', 'alert'],
    );
    const next = decide(s, [worse, drift, decay], 5 * MIN);
    assert.equal(next.filter((a) => a.kind === 'retrain').length, 1, 'drift and decay ask; one retrain runs');
    assert.equal(next.filter((a) => a.kind === 'rollback').length, 0, 'the rollback is cooling down');
  });

  it('a champion move forgets findings about the old version, keeps the rest and the cooldowns', () => {
    const s = initialState('m', policy, 0);
    s.champion = 1;
    decide(s, [worse, drift], 0);
    championMoved(s, 2);
    assert.equal(s.incidents['worse-than-previous'], undefined);
    assert.equal(s.incidents['input-drift'].breaches, 1);
    assert.ok(s.lastActionAt.rollback);
  });

  it('takes a request id once', () => {
    const s = initialState('m', policy, 0);
    const r = { kind: 'retrain' as const, by: 'ana', reason: 'why', requestId: 'r1' };
    assert.equal(takeRequest(s, r), true);
    assert.equal(takeRequest(s, r), false);
    s.pending.shift();
    assert.equal(takeRequest(s, r), false, 'still known after it was acted on');
  });
});

describe('monitor statistics: intervals', () => {
  it('Wilson interval equals scipy (binomtest(k, n).proportion_ci(method="wilson"))', () => {
    // scipy 1.17.1: binomtest(12, 100) → (0.0699940643701949, 0.19812099426711421); binomtest(0, 7) → (0, 0.35433043506668743)
    const w = wilson(12, 100);
    assert.ok(Math.abs(w.low - 0.0699940643701949) < 1e-9, String(w.low));
    assert.ok(Math.abs(w.high - 0.19812099426711421) < 1e-9, String(w.high));
    const none = wilson(0, 7);
    assert.ok(Math.abs(none.low) < 1e-12 && Math.abs(none.high - 0.35433043506668743) < 1e-9, JSON.stringify(none));
    assert.ok(Number.isNaN(wilson(0, 0).value));
  });
  it('mean interval: mean ± 1.96·s/√n', () => {
    const m = meanInterval([1, 2, 3, 4, 5]);
    const half = 1.959963984540054 * Math.sqrt(2.5 / 5);
    assert.ok(Math.abs(m.low - (3 - half)) < 1e-12 && Math.abs(m.high - (3 + half)) < 1e-12);
  });
});

describe('monitor findings: the policy applied to a report', () => {
  const policy = MonitorPolicy.parse({ minPredictions: 100 });
  const report = (over: Partial<HealthReport>): HealthReport => ({
    model: 'm',
    champion: 2,
    from: '2026-11-26T00:00:00.000Z',
    to: '2026-11-26T00:05:00.000Z',
    at: '2026-11-26T00:05:05.000Z',
    predictions: { total: 1000, byVersion: { '2': 1000 }, byArm: { champion: 1000 } },
    latency: { p50: 2, p99: 8 },
    refused: { rows: 0, rate: 0, byCode: {} },
    unusual: { rate: 0.02, byCode: {}, previousMedian: null },
    inputDrift: { measured: false, columns: [], driftedShare: 0 },
    predictionDrift: { measured: false },
    feedback: { labelled: 0, champion: null, previous: null, slices: [], fairnessGap: null, paired: null },
    findings: [],
    seconds: 0,
    ...over,
  });
  const kinds = (r: HealthReport, previous: number[] = []) =>
    findingsOf(r, policy, previous, 'binary').map((f) => f.kind);

  it('a healthy window has no finding', () => assert.deepEqual(kinds(report({})), []));

  it('refused rows above the limit, named by what broke', () => {
    const r = report({ refused: { rows: 100, rate: 100 / 1100, byCode: { 'below-minimum': 100 } } });
    const [f] = findingsOf(r, policy, [], 'binary');
    assert.equal(f.kind, 'refused-rows');
    assert.match(f.summary, /9\.1% of 1100 rows sent were refused .*below-minimum ×100/);
  });

  it('unusual inputs: over the limit, or a surge against the median of earlier checks', () => {
    assert.deepEqual(kinds(report({ unusual: { rate: 0.25, byCode: {}, previousMedian: null } })), ['unusual-inputs']);
    assert.deepEqual(kinds(report({ unusual: { rate: 0.07, byCode: {}, previousMedian: null } }), [0.02, 0.02, 0.03]), [
      'unusual-inputs',
    ]);
    assert.deepEqual(
      kinds(report({ unusual: { rate: 0.05, byCode: {}, previousMedian: null } }), [0.02, 0.02, 0.03]),
      [],
    );
  });

  it('too few predictions: latency and rates are not judged', () => {
    const few = report({
      predictions: { total: 50, byVersion: {}, byArm: {} },
      latency: { p50: 200, p99: 900 },
      unusual: { rate: 0.9, byCode: {}, previousMedian: null },
    });
    assert.deepEqual(kinds(few), []);
  });

  it('decay rests on an interval, a rollback on the same requests scored by both versions', () => {
    const est = (value: number, n: number) => ({ ...wilson(Math.round(value * n), n) });
    // the champion wrong on share `c` of n requests, the previous version on share `p` of the same requests
    // (mostly other ones: each gets some right that the other gets wrong; or, `agree`, the same ones and more)
    const paired = (c: number, p: number, n: number, agree = false) => {
      const from = agree ? 0 : n / 2;
      const diffs = Array.from({ length: n }, (_, i) => (i < c * n ? 1 : 0) - (i >= from && i < from + p * n ? 1 : 0));
      return { champion: 2, previous: 1, rows: n, championError: c, previousError: p, difference: meanInterval(diffs) };
    };
    const feedback = (c: number, p: number, n: number, agree = false) => ({
      labelled: 2 * n,
      champion: { version: 2, error: est(c, n), evaluated: 0.2, promotedAt: '2026-11-25T12:00:00.000Z' },
      previous: { version: 1, error: est(p, n), evaluated: 0.2, promotedAt: '2026-11-20T00:00:00.000Z' },
      slices: [],
      fairnessGap: null,
      paired: paired(c, p, n, agree),
    });
    const noisy = report({ feedback: feedback(0.3, 0.26, 120) });
    assert.deepEqual(kinds(noisy), [], '0.30 vs 0.26 on 120 labels: neither interval excludes "no worse"');
    const clear = report({ feedback: feedback(0.4, 0.2, 600) });
    assert.deepEqual(kinds(clear), ['decay', 'worse-than-previous']);
    const [, worse] = findingsOf(clear, policy, [], 'binary');
    assert.match(
      worse.summary,
      /does measurably worse than v1 does on the same 600 labelled requests: error rate 40\.0% against 20\.0%/,
    );
    const old = report({ ...clear, to: '2026-12-10T00:00:00.000Z' });
    assert.deepEqual(kinds(old), ['decay'], 'promoted weeks ago: no automatic rollback');
    // harder traffic after the promotion: the champion errs more than the previous version did on its own
    // (easier) traffic, but the previous version would have done as badly on the same requests: no rollback
    const harder = report({
      feedback: { ...feedback(0.3, 0.3, 2000), previous: { ...feedback(0.3, 0.2, 2000).previous } },
    });
    assert.deepEqual(kinds(harder), ['decay'], 'a traffic change is not blamed on the model');
    // certain but small: 0.4 points worse on 20,000 requests is below the 2-point margin
    const slight = report({ feedback: feedback(0.284, 0.28, 20_000, true) });
    assert.ok(slight.feedback.paired!.difference.low > 0, 'the difference is certain');
    assert.deepEqual(kinds(slight), ['decay'], 'but too small to roll back for');
    const unpaired = report({ feedback: { ...feedback(0.4, 0.2, 600), paired: null } });
    assert.deepEqual(kinds(unpaired), ['decay'], 'without the paired comparison, no rollback');
  });
});
