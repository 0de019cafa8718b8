import type { ArtifactStore } from '../artifacts';
import { columnOf, crossedFeatures } from '../features/columns';
import { versionImportance, versionLineage } from '../lineage';
import type { Registry } from '../registry/types';
import type { TrialOptions } from '../model/search';
import { CardSection } from '../spec';
import {
  CARD_FORMAT,
  CARD_HEALTH_CHECKS,
  type CardConsideration,
  type DataDescription,
  type ModelCard,
} from './card-shape';
import {
  architecture,
  describeData,
  foundLimitations,
  monitoring,
  outputFormat,
  performance,
  readEvidence,
  type CardEvaluation,
  type EvaluationReport,
} from './evidence';

/** A registered version's model card (lib/card/card-shape.ts says what it holds), from the registry and its artifacts. */
export async function buildModelCard(
  registry: Registry,
  store: ArtifactStore,
  model: string,
  versionNumber: number,
): Promise<ModelCard> {
  const view = await versionLineage(registry, store, model, versionNumber);
  const v = view.version;
  const evaluation = v.evaluation as CardEvaluation;
  const missing: string[] = [];
  const report =
    (await readEvidence<EvaluationReport>(store, evaluation.report, 'the evaluation report', missing)) ?? {};
  const declared = v.spec.card;
  const card: CardSection = declared ?? CardSection.parse({});
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
  const trainData = await describeData(
    store,
    view.trainingDataset ?? null,
    v.datasetSha256,
    profile,
    timeColumn,
    missing,
  );
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
  const health = (
    await registry.listMonitorReports(model, { champion: versionNumber, limit: CARD_HEALTH_CHECKS })
  ).reverse();
  return {
    format: CARD_FORMAT,
    missing_evidence: missing,
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
        columns: f.transform.kind === 'cross' ? crossedFeatures(v.spec, f).map(columnOf) : [columnOf(f)],
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
