import type { FairnessGaps } from '../evaluation/slices';
import type { ImportanceComparison } from '../explain/importance';
import type { GateCheck } from '../gate';
import type { Metrics } from '../metrics';

/** The card's format, said in every card (JSON) so a reader can tell which fields to expect. */
export const CARD_FORMAT = 'lumen-model-card/1';

/** health checks of the version shown on its card, newest first */
export const CARD_HEALTH_CHECKS = 10;

export interface DataDescription {
  name: string;
  sha256: string;
  source: string | null;
  rows: number | null;
  /** the span of the source's time column in the data, when it has one */
  period: { column: string; from: string | null; to: string | null } | null;
  /** a line per column: missing values, range or commonest values (from the batch's validation profile) */
  profile: string[];
  description: string;
}

export interface PerformanceMetric {
  type: string;
  value: number;
  /** null: the whole holdout; "column=value": one slice of it */
  slice: string | null;
  confidence_interval?: { lower_bound: number; upper_bound: number };
}

export interface CardConsideration {
  description: string;
  /** declared in the spec, or found in the evidence (the gate's warnings, fairness gaps, left-out classes) */
  source: 'spec' | 'evaluation' | 'training';
}

/**
 * A model card for one registered version: what it is, what it is for and not for, what it was trained and judged
 * on, how well it did (with intervals, by slice), what it relies on, who let it ship, what it is known not to do,
 * and how it has fared since it served. The sections and field names follow the Model Card Toolkit's schema
 * (model_details, model_parameters, quantitative_analysis, considerations); what that schema has no place for
 * (approvals, monitoring) is in sections of its own. Everything stated comes from the registry and the version's
 * artifacts; the declared parts (uses, owners, limitations) from the spec's `card` section as it was when the
 * version was trained.
 */
export interface ModelCard {
  format: typeof CARD_FORMAT;
  /** evidence the card should rest on and could not read (a missing or changed artifact): said, never skipped */
  missing_evidence: string[];
  model_details: {
    name: string;
    overview: string;
    task: string;
    version: { name: string; date: string; diff: string };
    owners: { name: string; contact?: string }[];
    licenses: { identifier: string }[];
    references: { reference: string }[];
    path: string;
    artifact_sha256: string;
    code_version: string;
    spec_hash: string;
    seed: number;
    training_run: { workflowId: string; runId: string };
    champion: boolean;
  };
  model_parameters: {
    model_architecture: string;
    input_format: { feature: string; kind: string; columns: string[] }[];
    output_format: string;
    data: { train: DataDescription; eval: DataDescription };
  };
  quantitative_analysis: {
    performance_metrics: PerformanceMetric[];
    /** the champion it was judged against, on the same rows */
    champion: { version: number; metrics: Metrics } | null;
    fairness_gaps: FairnessGaps[];
    gate: { passed: boolean; reason: string; checks: GateCheck[] } | null;
    importance: ImportanceComparison | null;
  };
  considerations: {
    users: { description: string }[];
    use_cases: { description: string }[];
    out_of_scope_uses: { description: string }[];
    limitations: CardConsideration[];
    ethical_considerations: { name: string; mitigation_strategy: string }[];
    /** false: the spec declared no card section, so uses, owners and declared limitations are unknown */
    declared: boolean;
  };
  approvals: {
    required: boolean;
    records: { status: string; by: string | null; at: string | null; comment: string | null }[];
    decisions: { at: string; action: string; identity: string; proof: string; outcome: string; detail: string }[];
    promotions: { at: string; alias: string; from: number | null; to: number | null; actor: string; reason: string }[];
  };
  monitoring: {
    summary: string;
    checks: {
      at: string;
      from: string;
      to: string;
      predictions: number;
      labelled: number;
      /** error on the labels that came back: share wrong, or mean absolute error (regression) */
      error: number | null;
      driftedShare: number | null;
      p99: number | null;
      findings: string[];
    }[];
  };
}
