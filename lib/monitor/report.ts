import type { StreamLag } from '../stream/lag';
import type { ArtifactRef } from '../artifacts';
import type { ColumnDrift } from '../validation/drift';
import type { MonitorPolicy } from './policy';
import type { ErrorEstimate } from './stats';

/**
 * One health check of a served model over a window of its prediction log (and the labels that came back for it):
 * input drift against the champion's training data (the statistics and thresholds of batch validation), drift of
 * the predictions against the version's own earlier ones, error on labelled feedback with a 95% interval, for the
 * champion and the version it replaced, latency, unusual inputs and fairness across slices. Each measurement that
 * crosses the policy becomes a finding; the monitor workflow decides what to do about findings.
 */

export type FindingKind =
  | 'input-drift'
  | 'prediction-drift'
  | 'decay'
  | 'worse-than-previous'
  | 'latency'
  | 'unusual-inputs'
  | 'refused-rows'
  | 'fairness';

export interface Finding {
  kind: FindingKind;
  /** what the policy says to do: alert, retrain, rollback (none: recorded only) */
  action: 'alert' | 'retrain' | 'rollback' | 'none';
  severity: 'warning' | 'critical';
  /** one sentence with the numbers */
  summary: string;
  /**
   * traced requests the finding is about, when the server traced some (latency: the slowest; unusual inputs and
   * refused rows: the first of the window), one per trace: the trace, to open in the tracing UI, and the prediction
   * of it that shows what the finding is about
   */
  traces?: TracedExample[];
}

/** A request of the window that was traced: its trace id, and the id of one of its predictions (`lumen explain`). */
export interface TracedExample {
  trace: string;
  prediction: string;
}

/** How many traced requests a finding names at most. */
export const TRACED_EXAMPLES = 5;

export interface VersionOnFeedback {
  version: number;
  /** error rate (classification) or mean absolute error (regression) on labelled predictions, 95% interval */
  error: ErrorEstimate;
  /** what the version's evaluation measured on its holdout (same definition) */
  evaluated: number | null;
  /** when it became champion (null: not known from the alias history) */
  promotedAt: string | null;
}

/**
 * The champion against the version it replaced, on the same rows: the labelled requests the champion answered
 * since its promotion, scored again by the previous version through its own contract and preprocessor. Comparing
 * each version on the traffic it happened to serve would blame a model for the traffic changing after its
 * promotion; on the same rows, only the model differs.
 */
export interface PairedComparison {
  champion: number;
  previous: number;
  /** requests compared (labelled, answered by the champion since its promotion, accepted by both contracts) */
  rows: number;
  championError: number;
  previousError: number;
  /** the champion's error minus the previous version's, row by row: mean and 95% interval */
  difference: ErrorEstimate;
}

export interface HealthReport {
  model: string;
  /** the champion when the check ran (null: none) */
  champion: number | null;
  from: string;
  to: string;
  at: string;
  predictions: { total: number; byVersion: Record<string, number>; byArm: Record<string, number> };
  latency: { p50: number | null; p99: number | null };
  /** rows refused for breaking the contract (HTTP 400), against all rows sent */
  refused: { rows: number; rate: number | null; byCode: Record<string, number> };
  unusual: { rate: number | null; byCode: Record<string, number>; previousMedian: number | null };
  inputDrift: {
    measured: boolean;
    /** why it was not measured */
    note?: string;
    reference?: string;
    rows?: number;
    columns: ColumnDrift[];
    driftedShare: number;
  };
  predictionDrift: { measured: boolean; note?: string; wasserstein?: number; referenceRows?: number };
  feedback: {
    /** labels joined in the lookback (predictions of the last 7 days) */
    labelled: number;
    champion: VersionOnFeedback | null;
    previous: VersionOnFeedback | null;
    slices: { column: string; value: string; n: number; errorRate: number }[];
    fairnessGap: { column: string; gap: number } | null;
    /** null: no previous version, or nothing to compare yet; see pairedNote */
    paired: PairedComparison | null;
    pairedNote?: string;
  };
  findings: Finding[];
  /**
   * traced requests of the window: the slowest answered, the first answered with unusual inputs, the first refused;
   * at most TRACED_EXAMPLES each, one per trace (empty lists: nothing traced; absent: the window's segments are all
   * from before traces were kept, and in reports from then)
   */
  traces?: { slowest: TracedExample[]; unusual: TracedExample[]; refused: TracedExample[] };
  /**
   * how far the model's Kafka scorers (`lumen stream score`) are behind, per group and topic; absent in reports from
   * before streams
   */
  streams?: { measured: boolean; note?: string; lag: StreamLag[] };
  seconds: number;
}

export interface HealthCheckPaths {
  /** the prediction log's root (<home>/predictions) */
  predictions: string;
  feedback: string;
}

export interface HealthCheckInput {
  model: string;
  from: string;
  to: string;
  policy: MonitorPolicy;
  /** unusual-input rates of the previous checks, for surges */
  previousUnusualRates: number[];
}

/** The part of a report the workflow keeps (its history and queries stay small; the whole report is an artifact). */
export interface ReportSummary {
  id: number;
  at: string;
  from: string;
  to: string;
  champion: number | null;
  predictions: number;
  labelled: number;
  unusualRate: number | null;
  /** share of rows sent that were refused for breaking the contract */
  refusedRate: number | null;
  driftedShare: number | null;
  championError: number | null;
  p99: number | null;
  /** events the model's Kafka scorers have not answered yet, over all their topics (null: none, or not measured) */
  streamLag?: number | null;
  findings: Finding[];
  report: ArtifactRef;
}
