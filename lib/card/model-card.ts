import fs from 'node:fs';
import type { ArtifactRef, ArtifactStore } from '../artifacts';
import { describeSource } from '../data/source';
import type { Interval } from '../evaluation/calibration';
import type { FairnessGaps, SliceMetrics } from '../evaluation/slices';
import type { ImportanceComparison } from '../explain/importance';
import type { GateCheck, GateVerdict } from '../gate';
import { versionImportance, versionLineage, type VersionLineageView } from '../lineage';
import type { Metrics } from '../metrics';
import { describeTrial, type TrialOptions } from '../model/search';
import type { DatasetRecord, MonitorReportRecord, Registry } from '../registry/types';
import type { CardSection, LabelRule } from '../spec';
import { Profile } from '../validation/profile';

/**
 * A model card for one registered version: what it is, what it is for and not for, what it was trained and judged
 * on, how well it did (with intervals, by slice), what it relies on, who let it ship, what it is known not to do,
 * and how it has fared since it served. The sections and field names follow the Model Card Toolkit's schema
 * (model_details, model_parameters, quantitative_analysis, considerations); what that schema has no place for
 * (approvals, monitoring) is in sections of its own. Everything stated comes from the registry and the version's
 * artifacts; the declared parts (uses, owners, limitations) from the spec's `card` section as it was when the
 * version was trained.
 */
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

export interface ModelCard {
  format: typeof CARD_FORMAT;
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

interface EvaluationReport {
  holdoutRows?: number;
  candidate?: {
    metrics: Metrics;
    intervals: Record<string, Interval> | null;
    slices?: SliceMetrics[];
    gaps?: FairnessGaps[];
  };
}

interface CardEvaluation {
  holdoutRows?: number;
  champion?: (Metrics & { version: number }) | null;
  verdict?: GateVerdict;
  report?: ArtifactRef;
}

export async function buildModelCard(
  registry: Registry,
  store: ArtifactStore,
  model: string,
  versionNumber: number,
): Promise<ModelCard> {
  const view = await versionLineage(registry, store, model, versionNumber);
  const v = view.version;
  const evaluation = v.evaluation as CardEvaluation;
  const report = evaluation.report ? await readJson<EvaluationReport>(store, evaluation.report) : {};
  const declared = v.spec.card;
  const card: CardSection = declared ?? {
    owners: [],
    intendedUses: [],
    intendedUsers: [],
    outOfScopeUses: [],
    limitations: [],
    ethicalConsiderations: [],
    references: [],
  };
  const training = v.training as {
    trainingRows?: number;
    holdoutRows?: number;
    inputWidth?: number;
    rareClasses?: { class: string; rows: number }[];
    search?: { method: string; chosen: number; trials: { options: TrialOptions }[] };
  };
  const previous = view.promotions.find((p) => p.toVersion === versionNumber && p.alias === 'champion');
  // the period: of the column that cuts batches into windows, else of the first timestamp the source declares
  const timeColumn = v.spec.source.timeColumn ?? v.spec.source.columns.find((c) => c.type === 'timestamp')?.name;
  // the profile validation made of the batch when the data trained on has none of its own (its good rows)
  const profile = view.trainingDataset?.profile ?? v.lineage.validation.profile;
  const trainData = await describeData(store, view.trainingDataset ?? null, v.datasetSha256, profile, timeColumn);
  trainData.name = 'training data';
  trainData.description =
    `trained on ${training.trainingRows ?? '?'} of its ${trainData.rows ?? '?'} rows` +
    (view.sourceDataset && view.sourceDataset.sha256 !== v.datasetSha256
      ? ` (its rows that passed validation, from batch ${view.sourceDataset.sha256.slice(0, 12)})`
      : '') +
    `, a seeded ${(v.spec.training.holdoutFraction * 100).toFixed(0)}% held out for evaluation`;
  const evalData: DataDescription = {
    ...trainData,
    name: 'evaluation data',
    rows: evaluation.holdoutRows ?? report.holdoutRows ?? null,
    // the same batch as the training data: its profile is said there
    profile: [],
    description: `the holdout of the same batch: ${evaluation.holdoutRows ?? '?'} rows training never saw, scored for the candidate and the champion alike`,
  };
  const health = (await registry.listMonitorReports(model, { limit: 200 }))
    .filter((r) => r.champion === versionNumber)
    .sort((a, b) => b.at.localeCompare(a.at))
    .slice(0, CARD_HEALTH_CHECKS);
  return {
    format: CARD_FORMAT,
    model_details: {
      name: model,
      overview:
        card.overview ??
        v.spec.description ??
        `a ${v.task} model of "${v.spec.label.column}" (the spec declares no overview)`,
      task: v.task,
      version: {
        name: `v${v.version}`,
        date: v.createdAt,
        diff: previous
          ? previous.fromVersion
            ? `replaced v${previous.fromVersion} as champion`
            : 'the first champion'
          : 'never champion',
      },
      owners: card.owners,
      licenses: card.license ? [{ identifier: card.license }] : [],
      references: card.references.map((reference) => ({ reference })),
      path: v.artifact.uri,
      artifact_sha256: v.artifact.sha256,
      code_version: v.codeVersion,
      spec_hash: v.specHash,
      seed: v.seed,
      training_run: { workflowId: v.workflowId, runId: v.runId },
      champion: view.isChampion,
    },
    model_parameters: {
      model_architecture: architecture(v.spec.training, training, v.backend),
      input_format: v.spec.features.map((f) => ({
        feature: f.name,
        kind: f.transform.kind,
        columns:
          f.transform.kind === 'cross'
            ? f.transform.of.map((name) => v.spec.features.find((g) => g.name === name)?.column ?? name)
            : [f.column ?? f.name],
      })),
      output_format: outputFormat(v.spec),
      data: { train: trainData, eval: evalData },
    },
    quantitative_analysis: {
      performance_metrics: performance(v.metrics, report),
      champion: evaluation.champion ? (({ version, ...metrics }) => ({ version, metrics }))(evaluation.champion) : null,
      fairness_gaps: report.candidate?.gaps ?? [],
      gate: evaluation.verdict
        ? { passed: evaluation.verdict.passed, reason: evaluation.verdict.reason, checks: evaluation.verdict.checks }
        : null,
      importance: versionImportance(v),
    },
    considerations: {
      users: card.intendedUsers.map((description) => ({ description })),
      use_cases: card.intendedUses.map((description) => ({ description })),
      out_of_scope_uses: card.outOfScopeUses.map((description) => ({ description })),
      limitations: [
        ...card.limitations.map((description): CardConsideration => ({ description, source: 'spec' })),
        ...foundLimitations(view, evaluation, report, training, trainData),
      ],
      ethical_considerations: card.ethicalConsiderations.map((e) => ({
        name: e.name,
        mitigation_strategy: e.mitigation,
      })),
      declared: declared !== undefined,
    },
    approvals: {
      required: evaluation.verdict?.approvalRequired ?? false,
      records: view.approvals.map((a) => ({
        status: a.status,
        by: a.decidedBy,
        at: a.decidedAt,
        comment: a.comment,
      })),
      decisions: view.decisions.map((d) => ({
        at: d.at,
        action: d.action,
        identity: d.identity,
        proof: d.proof,
        outcome: d.outcome,
        detail: d.detail ?? '',
      })),
      promotions: view.promotions.map((p) => ({
        at: p.at,
        alias: p.alias,
        from: p.fromVersion,
        to: p.toVersion,
        actor: p.actor,
        reason: p.reason,
      })),
    },
    monitoring: monitoring(health),
  };
}

async function readJson<T>(store: ArtifactStore, ref: ArtifactRef): Promise<T> {
  return JSON.parse(fs.readFileSync(await store.verify(ref), 'utf8')) as T;
}

function architecture(
  settings: { hiddenUnits: number[]; activation: string; learningRate: number; epochs: number },
  training: { inputWidth?: number; search?: { method: string; chosen: number; trials: { options: TrialOptions }[] } },
  backend: string,
): string {
  const inputs = training.inputWidth ? `${training.inputWidth} encoded inputs` : 'encoded inputs';
  const chosen = training.search?.trials[training.search.chosen];
  if (chosen) {
    return `a dense network (tfjs, ${backend}) on ${inputs}, settings chosen by a ${training.search!.method} search of ${training.search!.trials.length} trials: ${describeTrial(chosen.options)}`;
  }
  const hidden = settings.hiddenUnits.length ? `hidden layers [${settings.hiddenUnits.join(', ')}]` : 'no hidden layer';
  return `a dense network (tfjs, ${backend}) on ${inputs}: ${hidden}, ${settings.activation}, learning rate ${settings.learningRate}, ${settings.epochs} epochs at most`;
}

function outputFormat(spec: { task: string; label: LabelRule }): string {
  switch (spec.task) {
    case 'binary':
      return `the probability that "${spec.label.column}" is positive, and a label at 0.5`;
    case 'multiclass':
      return `a probability per class of "${spec.label.column}", and the most probable class`;
    default:
      return `an estimate of "${spec.label.column}"`;
  }
}

function performance(metrics: Metrics, report: EvaluationReport): PerformanceMetric[] {
  const intervals = report.candidate?.intervals ?? {};
  const out: PerformanceMetric[] = Object.entries(metrics)
    // the rows scored are the evaluation data's rows, said there
    .filter(([type, value]) => typeof value === 'number' && type !== 'rows')
    .map(([type, value]) => {
      const interval = intervals[type];
      return {
        type,
        value,
        slice: null,
        ...(interval ? { confidence_interval: { lower_bound: interval.low, upper_bound: interval.high } } : {}),
      };
    });
  for (const s of report.candidate?.slices ?? []) {
    for (const type of ['auc', 'accuracy', 'truePositiveRate', 'falsePositiveRate', 'predictedPositiveRate'] as const) {
      out.push({ type, value: s[type], slice: `${s.column}=${s.value}` });
    }
  }
  return out;
}

async function describeData(
  store: ArtifactStore,
  dataset: DatasetRecord | null,
  sha256: string,
  profileRef: ArtifactRef | null,
  timeColumn: string | undefined,
): Promise<DataDescription> {
  const base: DataDescription = {
    name: '',
    sha256,
    source: dataset ? describeSource(dataset.source) : null,
    rows: dataset?.rows ?? null,
    period: null,
    profile: [],
    description: '',
  };
  if (!profileRef) return base;
  const profile = Profile.parse(await readJson(store, profileRef));
  const pct = (n: number, of: number) => `${of ? ((100 * n) / of).toFixed(1) : '0'}%`;
  const round = (x: number | null) => (x === null ? '–' : Number(x.toPrecision(4)).toString());
  base.profile = profile.columns.map((c) => {
    const missing = `${pct(c.missing, c.count)} missing`;
    switch (c.kind) {
      case 'numeric':
        return `${c.name}: ${missing}, ${round(c.min)} … ${round(c.max)}, mean ${round(c.mean)}`;
      case 'categorical': {
        const top = Object.entries(c.values)
          .slice(0, 3)
          .map(([value, n]) => `${value} ${pct(n, c.count)}`)
          .join(', ');
        return `${c.name}: ${missing}, ${c.distinct} values (${top})`;
      }
      case 'timestamp':
        return `${c.name}: ${missing}, ${c.min ?? '–'} … ${c.max ?? '–'}`;
    }
  });
  if (profile.duplicateRows) base.profile.push(`${profile.duplicateRows} duplicate rows`);
  if (dataset && profile.dataset !== dataset.sha256) {
    base.profile.unshift(`(profile of batch ${profile.dataset.slice(0, 12)} as validated, bad rows included)`);
  }
  const time = timeColumn ? profile.columns.find((c) => c.name === timeColumn) : undefined;
  if (time?.kind === 'timestamp') base.period = { column: time.name, from: time.min, to: time.max };
  return base;
}

/** What the evidence says the version does not do well: said on the card whether or not the spec declares it. */
function foundLimitations(
  view: VersionLineageView,
  evaluation: CardEvaluation,
  report: EvaluationReport,
  training: { rareClasses?: { class: string; rows: number }[] },
  data: DataDescription,
): CardConsideration[] {
  const found: CardConsideration[] = [];
  for (const c of evaluation.verdict?.checks ?? []) {
    if (c.outcome === 'warn' || c.outcome === 'fail') found.push({ description: c.detail, source: 'evaluation' });
  }
  for (const g of report.candidate?.gaps ?? []) {
    if (g.slices < 2) continue;
    found.push({
      description: `across ${g.slices} slices of ${g.column}, the true positive rate differs by up to ${g.truePositiveRate.toFixed(3)} and the predicted positive rate by up to ${g.predictedPositiveRate.toFixed(3)}`,
      source: 'evaluation',
    });
  }
  for (const r of training.rareClasses ?? []) {
    found.push({
      description: `class "${r.class}" had ${r.rows} rows, too few to learn: the model never predicts it`,
      source: 'training',
    });
  }
  if (data.period) {
    found.push({
      description: `trained on data from ${data.period.from ?? '?'} to ${data.period.to ?? '?'} (${data.period.column}): behaviour outside that period is unmeasured`,
      source: 'training',
    });
  }
  if (view.version.loadCheck && !view.version.loadCheck.passed) {
    found.push({ description: `its last load check failed: ${view.version.loadCheck.detail}`, source: 'evaluation' });
  }
  return found;
}

function monitoring(reports: MonitorReportRecord[]): ModelCard['monitoring'] {
  const checks = reports.map((r) => {
    const s = r.summary as {
      predictions?: number;
      labelled?: number;
      championError?: number | null;
      driftedShare?: number | null;
      p99?: number | null;
      findings?: { summary: string }[];
    };
    return {
      at: r.at,
      from: r.from,
      to: r.to,
      predictions: s.predictions ?? 0,
      labelled: s.labelled ?? 0,
      error: s.championError ?? null,
      driftedShare: s.driftedShare ?? null,
      p99: s.p99 ?? null,
      findings: (s.findings ?? []).map((f) => f.summary),
    };
  });
  if (checks.length === 0) {
    return { summary: 'no health check has run while this version was champion', checks };
  }
  const troubled = checks.filter((c) => c.findings.length > 0).length;
  return {
    summary: `${checks.length} recent health check(s) while champion, ${troubled} with findings; the latest at ${checks[0].at}`,
    checks,
  };
}
