import type { MonitorPolicy } from './policy';
import { median } from './stats';
import type { Finding, HealthReport, TracedExample } from './report';

/** The policy applied to one report's measurements: each measurement that crosses it becomes a finding. */
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

/** The policy applied to one report's measurements. */
export function findingsOf(
  report: HealthReport,
  policy: MonitorPolicy,
  previousUnusualRates: number[],
  task: 'binary' | 'multiclass' | 'regression',
): Finding[] {
  const findings: Finding[] = [];
  // the traced requests a finding is about, when there are some
  const traced = (examples: TracedExample[] | undefined): Pick<Finding, 'traces'> =>
    examples?.length ? { traces: examples } : {};
  const action = (a: 'alert' | 'retrain' | 'none'): Finding['action'] => a;
  const drift = report.inputDrift;
  if (drift.measured) {
    const failed = drift.columns.filter((c) => c.outcome === 'fail');
    if (failed.length > 0 || drift.driftedShare >= policy.drift.driftedShare) {
      const worst = [...drift.columns].sort((a, b) => b.value / b.warn - a.value / a.warn).slice(0, 3);
      findings.push({
        kind: 'input-drift',
        action: action(policy.drift.action),
        severity: failed.length ? 'critical' : 'warning',
        summary: `served inputs drifted from the champion's training data: ${pct(drift.driftedShare)} of ${drift.columns.length} columns (${worst.map((c) => `${c.column} ${c.method} ${fmt(c.value)}, ${c.outcome}`).join('; ')}) over ${drift.rows} rows`,
      });
    }
  }
  const pd = report.predictionDrift;
  if (pd.measured && (pd.wasserstein ?? 0) >= policy.drift.predictionWarn) {
    findings.push({
      kind: 'prediction-drift',
      action: action(policy.drift.action),
      severity: 'warning',
      summary: `v${report.champion}'s predictions drifted from its own in the week before: normed Wasserstein ${fmt(pd.wasserstein!)} (warn at ${policy.drift.predictionWarn})`,
    });
  }
  const measure = task === 'regression' ? 'mean absolute error' : 'error rate';
  const show = (x: number): string => (task === 'regression' ? fmt(x) : pct(x));
  const c = report.feedback.champion;
  if (c && c.error.n >= policy.minLabels && c.evaluated !== null) {
    const limit =
      task === 'regression'
        ? c.evaluated * (1 + policy.decay.maxErrorIncrease)
        : c.evaluated + policy.decay.maxErrorIncrease;
    if (c.error.low > limit) {
      findings.push({
        kind: 'decay',
        action: action(policy.decay.action),
        severity: 'critical',
        summary: `v${c.version}'s ${measure} on ${c.error.n} labelled predictions is ${show(c.error.value)} (95% interval ${show(c.error.low)}–${show(c.error.high)}), above the ${show(limit)} its evaluation (${show(c.evaluated)}) allows`,
      });
    }
  }
  const paired = report.feedback.paired;
  if (
    policy.rollback.enabled &&
    c &&
    paired &&
    c.promotedAt &&
    Date.parse(report.to) - Date.parse(c.promotedAt) <= policy.rollback.withinHours * 3_600_000 &&
    paired.rows >= policy.minLabels &&
    paired.difference.low >
      (task === 'regression' ? policy.rollback.margin * paired.previousError : policy.rollback.margin)
  ) {
    const d = paired.difference;
    findings.push({
      kind: 'worse-than-previous',
      action: 'rollback',
      severity: 'critical',
      summary: `v${c.version}, champion since ${c.promotedAt}, does measurably worse than v${paired.previous} does on the same ${paired.rows} labelled requests: ${measure} ${show(paired.championError)} against ${show(paired.previousError)} (difference ${task === 'regression' ? fmt(d.value) : pct(d.value)}, 95% ${task === 'regression' ? `${fmt(d.low)}–${fmt(d.high)}` : `${pct(d.low)}–${pct(d.high)}`})`,
    });
  }
  const total = report.predictions.total;
  if (total >= policy.minPredictions && report.latency.p99 !== null && report.latency.p99 > policy.latency.p99Ms) {
    findings.push({
      kind: 'latency',
      action: action(policy.latency.action),
      severity: 'warning',
      summary: `p99 latency ${fmt(report.latency.p99)} ms over ${total} predictions (limit ${policy.latency.p99Ms} ms; p50 ${fmt(report.latency.p50 ?? NaN)} ms)`,
      ...traced(report.traces?.slowest),
    });
  }
  const rate = report.unusual.rate;
  const previous = previousUnusualRates.filter((r) => Number.isFinite(r));
  report.unusual.previousMedian = previous.length ? median(previous) : null;
  if (total >= policy.minPredictions && rate !== null) {
    const base = report.unusual.previousMedian;
    const surge = base !== null && base > 0 && rate >= policy.unusual.surge * base;
    if (rate > policy.unusual.maxRate || surge) {
      const codes = Object.entries(report.unusual.byCode)
        .slice(0, 3)
        .map(([code, n]) => `${code} ×${n}`)
        .join(', ');
      findings.push({
        kind: 'unusual-inputs',
        action: action(policy.unusual.action),
        severity: 'warning',
        summary: `${pct(rate)} of ${total} predictions had unusual inputs (${codes})${surge ? `, ${(rate / base).toFixed(1)}× the median ${pct(base)} of the previous checks` : ''}; limit ${pct(policy.unusual.maxRate)}`,
        ...traced(report.traces?.unusual),
      });
    }
  }
  const refused = report.refused;
  if (refused.rate !== null && total + refused.rows >= policy.minPredictions && refused.rate > policy.refused.maxRate) {
    const codes = Object.entries(refused.byCode)
      .slice(0, 3)
      .map(([code, n]) => `${code} ×${n}`)
      .join(', ');
    findings.push({
      kind: 'refused-rows',
      action: action(policy.refused.action),
      severity: 'warning',
      summary: `${pct(refused.rate)} of ${total + refused.rows} rows sent were refused for breaking the contract (${codes}); limit ${pct(policy.refused.maxRate)}`,
      ...traced(report.traces?.refused),
    });
  }
  const gap = report.feedback.fairnessGap;
  if (gap && gap.gap > policy.fairness.maxGap) {
    const slices = report.feedback.slices.filter(
      (s) => s.column === gap.column && s.n >= policy.fairness.minSliceLabels,
    );
    const worst = slices.reduce((a, b) => (b.errorRate > a.errorRate ? b : a));
    const best = slices.reduce((a, b) => (b.errorRate < a.errorRate ? b : a));
    findings.push({
      kind: 'fairness',
      action: action(policy.fairness.action),
      severity: 'warning',
      summary: `error rate differs by ${pct(gap.gap)} across "${gap.column}" (${worst.value}: ${pct(worst.errorRate)} of ${worst.n}; ${best.value}: ${pct(best.errorRate)} of ${best.n}); limit ${pct(policy.fairness.maxGap)}`,
    });
  }
  return findings;
}
