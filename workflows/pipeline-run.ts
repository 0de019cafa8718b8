import {
  ApplicationFailure,
  deprecatePatch,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
  type WorkflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities } from '../activities';
import type { ModelSpec } from '../lib/spec';
import {
  LumenOutcome,
  LumenStage,
  LumenVersion,
  type PipelineResult,
  type PipelineStatus,
  type Stage,
} from './definitions';
import { BOOKKEEPING } from './activity-options';
import { failureMessage, failureType } from './failures';

/**
 * The version, outcome and dataset search attributes, set by every run since the first days. Deprecated (the
 * patch life cycle in docs/architecture.md): no run from before it can be open, so every run sets them; the calls
 * remain so that runs recorded with the patch's marker replay, until the marker is in no open run.
 */
export const SEARCH_ATTRIBUTES_V2 = 'lumen-search-attributes-v2';

export type Severity = 'info' | 'warning' | 'critical';

/**
 * One pipeline run as the outside sees it: its status (the `status` query, the Web UI's stage search attribute and
 * "current details" panel), its steps with their times, the way it fails (one non-retryable failure naming the
 * stage), and its alerts (one per kind per run: a replayed or retried alert is the same row).
 */
export class PipelineRun {
  readonly info: WorkflowInfo = workflowInfo();
  readonly status: PipelineStatus;
  readonly bookkeeping = proxyActivities<PipelineActivities>(BOOKKEEPING);
  /**
   * Who started the run, for the records and for a four-eyes approval: verified when a person started it; a run a
   * Lumen workflow started (inbox, schedule, monitor) names the person it acts for, if any.
   */
  starter: string | null = null;

  constructor(
    readonly spec: ModelSpec,
    source: PipelineStatus['source'],
  ) {
    this.status = { model: spec.name, stage: 'ingest', source, steps: [] };
  }

  setStage(stage: Stage): void {
    this.status.stage = stage;
    upsertSearchAttributes([{ key: LumenStage, value: stage }]);
    setCurrentDetails(details(this.status));
  }

  /** Run one stage: its time is recorded, and a failure ends the run naming the stage. */
  async step<T>(stage: Stage, run: () => Promise<T>): Promise<T> {
    this.setStage(stage);
    const started = Date.now();
    try {
      return await run();
    } catch (err) {
      throw this.stopped(stage, err);
    } finally {
      this.record(stage, started);
    }
  }

  /** A wait or a step that took from `started` until now. */
  record(stage: Stage, started: number): void {
    this.status.steps.push({ stage, startedAt: new Date(started).toISOString(), milliseconds: Date.now() - started });
  }

  /** The run is over because of `err` at `label`: the status says so, and this is the failure to end it with. */
  stopped(label: string, err: unknown): ApplicationFailure {
    this.status.error = `${label}: ${failureMessage(err)}`;
    this.setStage('failed');
    return ApplicationFailure.create({
      message: this.status.error,
      type: failureType(err) ?? 'PipelineFailed',
      nonRetryable: true,
      cause: err as Error,
    });
  }

  alert(severity: Severity, kind: string, message: string, extra: object = {}): Promise<unknown> {
    const { workflowId, runId } = this.info;
    return this.bookkeeping.alert({
      model: this.spec.name,
      severity,
      kind,
      message,
      details: { dataset: this.status.dataset?.sha256, ...extra },
      workflowId,
      runId,
      key: `${workflowId}:${runId}:${kind}`,
    });
  }

  /** The run's result, with its stage and outcome set where the Web UI can search for them. */
  finish(result: PipelineResult): PipelineResult {
    this.status.stage = 'done';
    upsertSearchAttributes([
      {
        key: LumenStage,
        value: result.outcome === 'discarded' || result.outcome === 'rejected' ? result.outcome : 'done',
      },
    ]);
    deprecatePatch(SEARCH_ATTRIBUTES_V2);
    upsertSearchAttributes([
      { key: LumenOutcome, value: result.outcome },
      ...(result.version !== null ? [{ key: LumenVersion, value: result.version }] : []),
    ]);
    setCurrentDetails(details(this.status, result));
    return result;
  }
}

/** Markdown shown in the Web UI's "current details" panel. */
function details(status: PipelineStatus, result?: PipelineResult): string {
  const lines = [`**${status.model}** — stage: \`${status.stage}\``];
  if (status.dataset) lines.push(`dataset \`${status.dataset.sha256.slice(0, 12)}\` (${status.dataset.rows} rows)`);
  if (status.quarantine && !status.quarantine.decision && status.stage === 'quarantined') {
    lines.push(
      `**quarantined** until ${status.quarantine.deadline}: ${status.quarantine.summary}`,
      `release or discard: \`lumen quarantine release|discard <workflow id> --reason "…"\``,
    );
  }
  if (status.version !== undefined) lines.push(`version: v${status.version}`);
  if (status.metrics) {
    lines.push(
      Object.entries(status.metrics)
        // a metric the holdout could not measure (AUC of one class) arrives as null
        .map(
          ([k, v]) =>
            `${k}=${typeof v !== 'number' || !Number.isFinite(v) ? 'not measured' : Number.isInteger(v) ? v : v.toFixed(4)}`,
        )
        .join(', '),
    );
  }
  if (status.verdict) {
    lines.push(`gate: **${status.verdict.passed ? 'passed' : 'failed'}** — ${status.verdict.reason}`);
    lines.push(
      status.verdict.checks
        .map((c) => `- ${c.outcome === 'pass' ? '✓' : c.outcome === 'fail' ? '✗' : '·'} ${c.detail}`)
        .join('\n'),
    );
  }
  if (status.importance) {
    const c = status.importance;
    const vs = (f: (typeof c.features)[number]) =>
      f.champion
        ? ` (v${c.championVersion}: ${f.champion.mean.toFixed(3)}${f.shifted ? (f.change! > 0 ? ' ↑' : ' ↓') : ''})`
        : '';
    lines.push(
      `relies on (${c.metric} lost when shuffled): ${c.features.map((f) => `${f.feature} ${f.mean.toFixed(3)}${vs(f)}`).join(', ')}`,
    );
  }
  if (status.approval && !status.approval.decision && status.stage === 'awaiting_approval') {
    lines.push(
      `**awaiting approval** of v${status.approval.version} until ${status.approval.deadline}: \`lumen approve|reject <model> --version ${status.approval.version} --comment "…"\``,
    );
  }
  if (result) lines.push(`outcome: **${result.outcome}**`);
  if (status.error) lines.push(`error: ${status.error}`);
  return lines.join('\n\n');
}
