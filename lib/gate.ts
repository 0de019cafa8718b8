import type { Interval } from './evaluation/calibration';
import type { FairnessGaps } from './evaluation/slices';
import { GatePolicy, higherIsBetter } from './gate-policy';
import type { Metrics } from './metrics';
import { primaryMetric, type ModelSpec } from './spec';
import { likelyLeaks, type ColumnPower } from './validation/leakage';

/** What the gate looks at for one model on the holdout. */
export interface ModelScore {
  metrics: Metrics;
  /**
   * What a model that ignores its inputs scores on the same rows: the log loss of always predicting the positive
   * rate (binary), the accuracy of always predicting the commonest class (multiclass). Regression's baseline,
   * always predicting the mean, is R² = 0 by definition.
   */
  baseline?: Metrics;
  intervals: Record<string, Interval> | null;
  gaps: FairnessGaps[];
  /** the single-column power on the label of each column the features read (measured on the evaluated batch) */
  columnPowers?: ColumnPower[];
}

export interface GateCheck {
  name: string;
  metric: string;
  value: number;
  threshold: number;
  comparison: Comparison;
  /** warn: said in the verdict, does not fail it (a likely leak under the default policy) */
  outcome: 'pass' | 'fail' | 'skipped' | 'warn';
  detail: string;
}

export interface GateVerdict {
  passed: boolean;
  /** no champion existed when the candidate was judged */
  firstRun: boolean;
  /** a person must approve before promotion (only meaningful when passed) */
  approvalRequired: boolean;
  championVersion: number | null;
  checks: GateCheck[];
  reason: string;
}

type Comparison = '>=' | '<=' | '>' | '<';

const SAID: Record<Comparison, string> = { '>': 'above', '>=': 'at least', '<': 'below', '<=': 'at most' };

const compare: Record<Comparison, (a: number, b: number) => boolean> = {
  '>=': (a, b) => a >= b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '<': (a, b) => a < b,
};

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : String(x));

function check(
  name: string,
  metric: string,
  value: number,
  comparison: Comparison,
  threshold: number,
  detail: string,
): GateCheck {
  const ok = Number.isFinite(value) && compare[comparison](value, threshold);
  return {
    name,
    metric,
    value,
    threshold,
    comparison,
    outcome: ok ? 'pass' : 'fail',
    detail:
      typeof value === 'number' && !Number.isNaN(value)
        ? // a failed comparison is written as what it is, never as a statement that reads true
          `${detail}: ${ok ? `${fmt(value)} ${comparison} ${fmt(threshold)}` : `${fmt(value)} is not ${SAID[comparison]} ${fmt(threshold)}`}`
        : // AUC of a holdout with one class, a metric of no rows: not measured is not passed
          `${detail}: ${metric} could not be measured on this holdout (one class only, or no rows), so it cannot pass`,
  };
}

/**
 * Judge a candidate against the policy and the champion (both scored on the same holdout). Every check is listed
 * with its value, threshold and outcome, whether it passed or not. With no champion, change checks are skipped
 * and `firstRun` decides; absolute and slice checks always apply.
 */
export function decideGate(
  spec: ModelSpec,
  candidate: ModelScore,
  champion: (ModelScore & { version: number }) | null,
  /** the champion exists but cannot be trusted: judge as a first run, and always ask a person */
  championProblem?: { version: number; detail: string },
): GateVerdict {
  const policy = spec.gate;
  const checks: GateCheck[] = policy.beatBaseline ? baselineChecks(spec, candidate) : [];
  for (const [metric, bounds] of Object.entries(policy.thresholds)) {
    const value = candidate.metrics[metric] ?? NaN;
    if (bounds.min !== undefined) checks.push(check('threshold', metric, value, '>=', bounds.min, `${metric} minimum`));
    if (bounds.max !== undefined) checks.push(check('threshold', metric, value, '<=', bounds.max, `${metric} maximum`));
  }
  for (const gaps of candidate.gaps) {
    for (const [kind, max] of Object.entries(policy.slices.maxGap)) {
      if (max === undefined) continue;
      const value = gaps[kind as keyof typeof policy.slices.maxGap];
      checks.push(
        check('slice-gap', kind, value, '<=', max, `${kind} gap across ${gaps.slices} "${gaps.column}" slices`),
      );
    }
  }
  // a spec written before the leakage policy existed (a run in flight since) has none: the defaults apply
  const leakage = (policy.leakage as GatePolicy['leakage'] | undefined) ?? GatePolicy.parse({}).leakage;
  if (leakage.action !== 'off' && candidate.columnPowers) {
    for (const leak of likelyLeaks(candidate.columnPowers, leakage)) {
      checks.push({
        name: 'leakage',
        metric: `power:${leak.column}`,
        value: leak.power,
        threshold: leakage.power,
        comparison: '<',
        outcome: leakage.action === 'fail' ? 'fail' : 'warn',
        detail: `column "${leak.column}" likely leaks the label: ${leak.why}; a model that reads it scores well only while it is there`,
      });
    }
  }
  const { name: metric, higherIsBetter: up } = comparedMetric(spec);
  if (champion) {
    const value = candidate.metrics[metric] ?? NaN;
    const incumbent = champion.metrics[metric] ?? NaN;
    const gain = up ? value - incumbent : incumbent - value;
    checks.push(
      check(
        'vs-champion',
        metric,
        gain,
        '>=',
        policy.vsChampion.minAbsoluteChange,
        `${metric} improvement over champion v${champion.version} (${fmt(value)} vs ${fmt(incumbent)})`,
      ),
    );
    if (policy.vsChampion.minRelativeChange !== 0) {
      checks.push(
        check(
          'vs-champion-relative',
          metric,
          gain / Math.abs(incumbent),
          '>=',
          policy.vsChampion.minRelativeChange,
          `relative ${metric} improvement over champion v${champion.version}`,
        ),
      );
    }
    for (const [other, allowed] of Object.entries(policy.vsChampion.maxDegradation)) {
      const c = candidate.metrics[other] ?? NaN;
      const i = champion.metrics[other] ?? NaN;
      const worse = higherIsBetter(other) ? i - c : c - i;
      checks.push(
        check('max-degradation', other, worse, '<=', allowed, `${other} degradation vs champion v${champion.version}`),
      );
    }
  } else {
    checks.push({
      name: 'vs-champion',
      metric,
      value: candidate.metrics[metric] ?? NaN,
      threshold: NaN,
      comparison: '>=',
      outcome: 'skipped',
      detail: championProblem
        ? `champion v${championProblem.version} cannot be trusted (${championProblem.detail}): not compared`
        : 'no champion yet: nothing to compare with',
    });
  }
  const failed = checks.filter((c) => c.outcome === 'fail');
  const firstRun = champion === null;
  const refusedFirst = firstRun && policy.firstRun === 'reject';
  const passed = failed.length === 0 && !refusedFirst;
  const approvalRequired =
    passed &&
    (championProblem !== undefined ||
      policy.approval.required === 'always' ||
      (firstRun && (policy.approval.required === 'firstRun' || policy.firstRun === 'requireApproval')));
  const noChampion = championProblem ? `champion v${championProblem.version} cannot be trusted` : 'no champion yet';
  const reason = refusedFirst
    ? `${noChampion}, and the policy does not promote a first model automatically`
    : failed.length
      ? `gate failed: ${failed.map((c) => c.detail).join('; ')}`
      : championProblem
        ? `${noChampion}: judged without it on the absolute checks; a person must approve the replacement`
        : firstRun
          ? `no champion yet: the first model that passes the absolute checks becomes champion${approvalRequired ? ' once approved' : ''}`
          : `gate passed: ${checks
              .filter((c) => c.name === 'vs-champion')
              .map((c) => c.detail)
              .join('; ')}${approvalRequired ? '; awaiting approval' : ''}`;
  return { passed, firstRun, approvalRequired, championVersion: champion?.version ?? null, checks, reason };
}

/** The metric a candidate is compared with its champion on, and which way is better. */
export function comparedMetric(spec: ModelSpec): { name: string; higherIsBetter: boolean } {
  const name = spec.gate.vsChampion.metric ?? primaryMetric(spec.task).name;
  return { name, higherIsBetter: higherIsBetter(name) };
}

/** a multiclass holdout whose commonest class is at least this share is imbalanced */
const IMBALANCED = 0.5;

/**
 * A model that does no better than ignoring its inputs is never promoted, whatever else the policy says: binary
 * models must rank better than chance and predict better than the base rate, multiclass ones beat the commonest
 * class, regression ones beat the mean (R² > 0).
 */
function baselineChecks(spec: ModelSpec, candidate: ModelScore): GateCheck[] {
  const m = candidate.metrics;
  const b = candidate.baseline ?? {};
  const nan = (x: number | undefined): number => x ?? NaN;
  switch (spec.task) {
    case 'binary':
      return [
        check('baseline', 'auc', nan(m.auc), '>', 0.5, 'auc better than chance'),
        check(
          'baseline',
          'logLoss',
          nan(m.logLoss),
          '<',
          nan(b.logLoss),
          'logLoss below always predicting the positive rate',
        ),
      ];
    case 'multiclass': {
      const checks = [
        check(
          'baseline',
          'accuracy',
          nan(m.accuracy),
          '>',
          nan(b.accuracy),
          'accuracy above always predicting the commonest class',
        ),
      ];
      // imbalanced classes: always predicting the commonest class scores a high accuracy and learns nothing of the
      // others, so the model must also beat that baseline's macro-F1
      if (b.commonestShare !== undefined && b.commonestShare >= IMBALANCED && b.macroF1 !== undefined) {
        checks.push(
          check(
            'baseline',
            'macroF1',
            nan(m.macroF1),
            '>',
            b.macroF1,
            `macroF1 above always predicting the commonest class (${(100 * b.commonestShare).toFixed(0)}% of the holdout)`,
          ),
        );
      }
      return checks;
    }
    case 'regression':
      return [check('baseline', 'r2', nan(m.r2), '>', 0, 'r2 above always predicting the mean')];
  }
}
