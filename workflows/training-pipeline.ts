import {
  ApplicationFailure,
  condition,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import type { ValidateOutput } from '../activities/validate';
import {
  discardQuarantine,
  LumenModel,
  LumenStage,
  releaseQuarantine,
  statusQuery,
  TRAINING_QUEUE,
  type PipelineInput,
  type PipelineResult,
  type PipelineStatus,
  type QuarantineRequest,
  type Stage,
} from './definitions';

const NON_RETRYABLE = [
  'SpecError',
  'SourceError',
  'DataValidationError',
  'ArtifactIntegrityError',
  'ChampionChangedError',
  'NotFoundError',
  'ConflictError',
];

/** a promotion that keeps losing the race to other pipelines gives up after this many evaluations */
const MAX_PROMOTE_ATTEMPTS = 3;

const pipeline = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '1 minute',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
});

/**
 * Ingest → validate → (quarantine) → train → evaluate → register → promote, for one arriving batch of one model.
 * The workflow id is `train:<model>:<source fingerprint>`, so the same batch never trains twice; a batch whose
 * content matches an already-trained snapshot is recognised after ingest and not trained again either.
 * A batch that breaks its contract waits, durably, for a person to release or discard it.
 */
export async function trainingPipeline(input: PipelineInput): Promise<PipelineResult> {
  const { spec, source } = input;
  const info = workflowInfo();
  const heavy = proxyActivities<TrainingActivities>({
    taskQueue: input.options?.trainingTaskQueue ?? TRAINING_QUEUE,
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: input.options?.trainingHeartbeatTimeout ?? '60 seconds',
    retry: {
      initialInterval: '2 seconds',
      maximumInterval: '1 minute',
      maximumAttempts: 10,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });

  const status: PipelineStatus = { model: spec.name, stage: 'ingest', source, steps: [] };
  setHandler(statusQuery, () => status);
  upsertSearchAttributes([{ key: LumenModel, value: spec.name }]);

  const setStage = (stage: Stage): void => {
    status.stage = stage;
    upsertSearchAttributes([{ key: LumenStage, value: stage }]);
    setCurrentDetails(details(status));
  };
  const step = async <T>(stage: Stage, run: () => Promise<T>): Promise<T> => {
    setStage(stage);
    const started = Date.now();
    try {
      return await run();
    } catch (err) {
      status.error = `${stage}: ${messageOf(err)}`;
      setStage('failed');
      throw ApplicationFailure.create({
        message: status.error,
        type: failureType(err),
        nonRetryable: true,
        cause: err as Error,
      });
    } finally {
      status.steps.push({ stage, startedAt: new Date(started).toISOString(), milliseconds: Date.now() - started });
    }
  };
  const alert = (severity: 'info' | 'warning' | 'critical', kind: string, message: string, extra: object = {}) =>
    pipeline.alert({
      model: spec.name,
      severity,
      kind,
      message,
      details: { dataset: status.dataset?.sha256, ...extra },
      workflowId: info.workflowId,
      runId: info.runId,
      key: `${info.workflowId}:${info.runId}:${kind}`,
    });

  const ingested = await step('ingest', () => pipeline.ingestDataset({ source }));
  status.dataset = { sha256: ingested.sha256, rows: ingested.rows };

  let validation: ValidateOutput;
  try {
    validation = await step('validate', () =>
      pipeline.validateDataset({ dataset: ingested, spec, workflowId: info.workflowId, runId: info.runId }),
    );
  } catch (err) {
    await alert('critical', 'validation-failed', status.error ?? messageOf(err));
    throw err;
  }
  const validationSummary = (decision: string): PipelineResult['validation'] => ({
    id: validation.validationId,
    outcome: validation.outcome,
    decision,
    summary: validation.summary,
    report: validation.report,
    html: validation.html,
  });
  const datasetSummary = { sha256: ingested.sha256, rows: ingested.rows, uri: ingested.uri };

  let decision: string = validation.decision;
  let decidedBy: string | null = decision === 'accepted' ? 'contract' : null;
  let decisionReason: string | null = null;
  if (validation.outcome === 'warn') {
    await alert('warning', 'validation-warning', validation.summary, { report: validation.report.uri });
  }
  if (validation.decision === 'quarantined') {
    const ended = await quarantine(validation);
    if (ended.decision !== 'released') {
      return finish(status, {
        outcome: ended.decision,
        model: spec.name,
        version: null,
        artifact: null,
        dataset: datasetSummary,
        validation: validationSummary(ended.decision),
        metrics: null,
        decision: null,
        champion: null,
        resumedFromEpoch: null,
        steps: status.steps,
      });
    }
    decision = 'released';
    decidedBy = ended.by;
    decisionReason = ended.reason;
  }

  const dataset = validation.trainingDataset;
  const existing = await step('dedupe', () => pipeline.findTrainedVersion({ spec, datasetSha256: ingested.sha256 }));
  if (existing) {
    log.info('dataset already trained with this spec', { model: spec.name, version: existing.version });
    status.version = existing.version;
    status.metrics = existing.metrics;
    return finish(status, {
      outcome: 'duplicate',
      model: spec.name,
      version: existing.version,
      artifact: existing.artifact,
      dataset: datasetSummary,
      validation: validationSummary(decision),
      metrics: existing.metrics,
      decision: null,
      champion: null,
      resumedFromEpoch: null,
      steps: status.steps,
    });
  }

  const trained = await step('train', () => heavy.trainModel({ spec, dataset }));
  let champion = await pipeline.getChampion({ model: spec.name });
  let evaluation = await step('evaluate', () =>
    heavy.evaluateCandidate({ spec, dataset, candidate: trained.artifact, champion }),
  );
  status.metrics = evaluation.candidate;
  status.decision = evaluation.decision;

  const registered = await step('register', () =>
    pipeline.registerModelVersion({
      spec,
      dataset,
      lineage: {
        sourceDataset: ingested.sha256,
        contractHash: validation.contractHash,
        validation: {
          id: validation.validationId,
          outcome: validation.outcome,
          decision: decision as 'accepted' | 'released',
          decidedBy,
          reason: decisionReason,
          report: validation.report,
          html: validation.html,
          profile: validation.profile,
          quarantine: validation.quarantine,
        },
      },
      artifact: trained.artifact,
      backend: trained.backend,
      metrics: evaluation.candidate,
      training: { ...trained, artifact: undefined },
      evaluation: {
        holdoutRows: evaluation.holdoutRows,
        champion: evaluation.champion,
        decision: evaluation.decision,
      },
      workflowId: info.workflowId,
      runId: info.runId,
    }),
  );
  status.version = registered.version;
  const base = {
    model: spec.name,
    version: registered.version,
    artifact: registered.artifact,
    dataset: datasetSummary,
    validation: validationSummary(decision),
    resumedFromEpoch: trained.resumedFromEpoch,
  };
  if (registered.workflowId !== info.workflowId) {
    // a concurrent run registered a model from this exact batch and spec first; that version stands
    return finish(status, {
      ...base,
      outcome: 'duplicate',
      metrics: registered.metrics,
      decision: null,
      champion: null,
      steps: status.steps,
    });
  }

  let championAfter = champion?.version ?? null;
  if (evaluation.decision.promote) {
    const promoted = await step('promote', async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await pipeline.promoteModel({
            model: spec.name,
            version: registered.version,
            expectedChampion: champion?.version ?? null,
            reason: evaluation.decision.reason,
            actor: input.options?.actor ?? `workflow:${info.workflowId}`,
            workflowId: info.workflowId,
            runId: info.runId,
          });
        } catch (err) {
          if (failureType(err) !== 'ChampionChangedError' || attempt >= MAX_PROMOTE_ATTEMPTS) throw err;
          // another pipeline promoted since this one evaluated: judge again against the new champion
          log.info('champion changed during evaluation; re-evaluating', { model: spec.name, attempt });
          champion = await pipeline.getChampion({ model: spec.name });
          evaluation = await heavy.evaluateCandidate({ spec, dataset, candidate: trained.artifact, champion });
          status.decision = evaluation.decision;
          if (!evaluation.decision.promote) return null;
        }
      }
    });
    championAfter = promoted?.champion ?? champion?.version ?? null;
  }

  return finish(status, {
    ...base,
    outcome: evaluation.decision.promote ? 'promoted' : 'registered',
    metrics: evaluation.candidate,
    decision: evaluation.decision,
    champion: championAfter,
    steps: status.steps,
  });

  /**
   * Hold a failed batch until a person releases or discards it (Temporal updates, validated before they are
   * recorded), or until the spec's quarantine timeout rejects it. The wait is a durable timer: workers may
   * restart any number of times meanwhile.
   */
  async function quarantine(
    v: ValidateOutput,
  ): Promise<{ decision: 'released' | 'discarded' | 'rejected'; by: string; reason: string }> {
    const since = Date.now();
    const timeout = spec.validation.quarantine.timeout;
    const timeoutMs = durationMs(timeout);
    status.quarantine = {
      validationId: v.validationId,
      dataset: ingested.sha256,
      since: new Date(since).toISOString(),
      deadline: new Date(since + timeoutMs).toISOString(),
      summary: v.summary,
      report: v.report,
      html: v.html,
    };
    const validate = (request: QuarantineRequest): void => {
      if (status.stage !== 'quarantined' || status.quarantine?.decision) {
        throw new Error(`no batch is waiting in quarantine (stage: ${status.stage})`);
      }
      const prefix = request.dataset?.trim().toLowerCase() ?? '';
      if (prefix.length < 12 || !ingested.sha256.startsWith(prefix)) {
        throw new Error(
          `dataset "${request.dataset}" does not name the quarantined batch ${ingested.sha256.slice(0, 12)}… (give 12+ characters of its sha256)`,
        );
      }
      if (!request.by?.trim()) throw new Error('a decision needs the identity of who makes it ("by")');
      if (!request.reason?.trim()) throw new Error('a decision needs a reason');
    };
    const decide = (kind: 'released' | 'discarded') => (request: QuarantineRequest) => {
      status.quarantine!.decision = { kind, by: request.by.trim(), reason: request.reason.trim() };
      return { decision: kind, dataset: ingested.sha256 };
    };
    setHandler(releaseQuarantine, decide('released'), { validator: validate });
    setHandler(discardQuarantine, decide('discarded'), { validator: validate });
    setStage('quarantined');
    await alert('critical', 'quarantine', `batch ${ingested.sha256.slice(0, 12)} quarantined: ${v.summary}`, {
      report: v.report.uri,
      html: v.html.uri,
      deadline: status.quarantine.deadline,
    });
    const decided = await condition(() => status.quarantine?.decision !== undefined, timeoutMs);
    const ended = decided
      ? {
          decision: status.quarantine.decision!.kind,
          by: status.quarantine.decision!.by,
          reason: status.quarantine.decision!.reason,
        }
      : {
          decision: 'rejected' as const,
          by: 'timeout',
          reason: `nobody released or discarded the batch within ${timeout}`,
        };
    status.steps.push({
      stage: 'quarantined',
      startedAt: new Date(since).toISOString(),
      milliseconds: Date.now() - since,
    });
    await pipeline.decideQuarantine({ validationId: v.validationId, ...ended });
    if (ended.decision === 'rejected') {
      await alert('critical', 'quarantine-rejected', `batch ${ingested.sha256.slice(0, 12)} rejected: ${ended.reason}`);
    } else {
      await alert(
        'info',
        `quarantine-${ended.decision}`,
        `batch ${ingested.sha256.slice(0, 12)} ${ended.decision} by ${ended.by}: ${ended.reason}`,
      );
    }
    return ended;
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration like "72h", "90 minutes", "500ms" (the forms the spec accepts). */
export function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|seconds?|minutes?|hours?|days?)$/.exec(text.trim());
  if (!m) throw ApplicationFailure.nonRetryable(`not a duration: "${text}"`, 'SpecError');
  const unit = m[2] === 'ms' ? 'ms' : m[2][0];
  return Number(m[1]) * UNITS[unit];
}

function finish(status: PipelineStatus, result: PipelineResult): PipelineResult {
  status.stage = 'done';
  upsertSearchAttributes([
    {
      key: LumenStage,
      value: result.outcome === 'discarded' || result.outcome === 'rejected' ? result.outcome : 'done',
    },
  ]);
  setCurrentDetails(details(status, result));
  return result;
}

function messageOf(err: unknown): string {
  // ActivityFailure wraps the activity's ApplicationFailure; the cause carries the human message.
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause;
  return e?.message ?? String(err);
}

function failureType(err: unknown): string {
  let e = err as { type?: string; cause?: unknown } | undefined;
  while (e) {
    if (typeof e.type === 'string' && e.type) return e.type;
    e = e.cause as typeof e;
  }
  return 'PipelineFailed';
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
        .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`)
        .join(', '),
    );
  }
  if (status.decision) {
    lines.push(`decision: ${status.decision.promote ? 'promote' : 'keep champion'} — ${status.decision.reason}`);
  }
  if (result) lines.push(`outcome: **${result.outcome}**`);
  if (status.error) lines.push(`error: ${status.error}`);
  return lines.join('\n\n');
}
