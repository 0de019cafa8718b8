import type { ArtifactRef, ArtifactStore } from '../artifacts';
import { readJsonArtifact } from '../artifacts/store';
import { describeSource } from '../data/source';
import type { Interval } from '../evaluation/calibration';
import type { FairnessGaps, SliceMetrics } from '../evaluation/slices';
import type { GateVerdict } from '../gate';
import type { VersionLineageView } from '../lineage';
import type { Metrics } from '../metrics';
import { describeTrial, type TrialOptions } from '../model/search';
import type { DatasetRecord, MonitorReportRecord } from '../registry/types';
import type { ReportSummary } from '../monitor/report';
import type { LabelRule } from '../spec';
import { NOWHERE } from '../registry/rows';
import { Profile } from '../validation/profile';
import type { CardConsideration, DataDescription, ModelCard, PerformanceMetric } from './card-shape';

// What a model card says of a version, read from its records and artifacts: each piece of evidence in one place.

export interface EvaluationReport {
  holdoutRows?: number;
  candidate?: {
    metrics: Metrics;
    intervals: Record<string, Interval> | null;
    slices?: SliceMetrics[];
    gaps?: FairnessGaps[];
  };
}

export interface CardEvaluation {
  holdoutRows?: number;
  champion?: (Metrics & { version: number }) | null;
  verdict?: GateVerdict;
  report?: ArtifactRef;
}

/**
 * An artifact's JSON, verified against its digest; null when there is none to read (`NOWHERE`), and null with the
 * reason added to `missing` when it cannot be read or checked: a card says what it could not rest on.
 */
export async function readEvidence<T>(
  store: ArtifactStore,
  ref: ArtifactRef | null | undefined,
  what: string,
  missing: string[],
  parse: (raw: unknown) => T = (raw) => raw as T,
): Promise<T | null> {
  if (!ref || ref.uri === NOWHERE) return null;
  try {
    return parse(await readJsonArtifact(store, ref));
  } catch (err) {
    missing.push(`${what} (${ref.sha256.slice(0, 12)}) could not be read: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
}

export function architecture(
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

export function outputFormat(spec: { task: string; label: LabelRule }): string {
  switch (spec.task) {
    case 'binary':
      return `the probability that "${spec.label.column}" is positive, and a label at 0.5`;
    case 'multiclass':
      return `a probability per class of "${spec.label.column}", and the most probable class`;
    default:
      return `an estimate of "${spec.label.column}"`;
  }
}

export function performance(metrics: Metrics, report: EvaluationReport): PerformanceMetric[] {
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

export async function describeData(
  store: ArtifactStore,
  dataset: DatasetRecord | null,
  sha256: string,
  profileRef: ArtifactRef | null,
  timeColumn: string | undefined,
  missing: string[],
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
  const profile = await readEvidence(store, profileRef, 'the data profile', missing, (raw) => Profile.parse(raw));
  if (!profile) return base;
  const pct = (n: number, of: number) => `${of ? ((100 * n) / of).toFixed(1) : '0'}%`;
  const round = (x: number | null) => (x === null ? '–' : Number(x.toPrecision(4)).toString());
  base.profile = profile.columns.map((c) => {
    const missingShare = `${pct(c.missing, c.count)} missing`;
    switch (c.kind) {
      case 'numeric':
        return `${c.name}: ${missingShare}, ${round(c.min)} … ${round(c.max)}, mean ${round(c.mean)}`;
      case 'categorical': {
        const top = Object.entries(c.values)
          .slice(0, 3)
          .map(([value, n]) => `${value} ${pct(n, c.count)}`)
          .join(', ');
        return `${c.name}: ${missingShare}, ${c.distinct} values (${top})`;
      }
      case 'timestamp':
        return `${c.name}: ${missingShare}, ${c.min ?? '–'} … ${c.max ?? '–'}`;
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
export function foundLimitations(
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

export function monitoring(reports: MonitorReportRecord[]): ModelCard['monitoring'] {
  const checks = reports.map((r) => {
    // as the monitor stored it (activities/monitor.ts); a summary from an older release may lack a field
    const s = r.summary as Partial<ReportSummary>;
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
