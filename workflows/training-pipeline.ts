import {
  ApplicationFailure,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import {
  LumenModel,
  LumenStage,
  statusQuery,
  TRAINING_QUEUE,
  type PipelineInput,
  type PipelineResult,
  type PipelineStatus,
  type Stage,
} from './definitions';

/** a promotion that keeps losing the race to other pipelines gives up after this many evaluations */
const MAX_PROMOTE_ATTEMPTS = 3;

const NON_RETRYABLE = [
  'SpecError',
  'SourceError',
  'DataValidationError',
  'ArtifactIntegrityError',
  'ChampionChangedError',
  'NotFoundError',
];

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
 * Ingest → validate → train → evaluate → register → promote, for one arriving batch of one model.
 * The workflow id is `train:<model>:<source fingerprint>`, so the same batch never trains twice; a batch whose
 * content matches an already-trained snapshot is recognised after ingest and not trained again either.
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

  const step = async <T>(stage: Stage, run: () => Promise<T>): Promise<T> => {
    status.stage = stage;
    upsertSearchAttributes([{ key: LumenStage, value: stage }]);
    setCurrentDetails(details(status));
    const started = Date.now();
    try {
      return await run();
    } catch (err) {
      status.stage = 'failed';
      status.error = `${stage}: ${messageOf(err)}`;
      upsertSearchAttributes([{ key: LumenStage, value: 'failed' }]);
      setCurrentDetails(details(status));
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

  const dataset = await step('ingest', () => pipeline.ingestDataset({ source }));
  status.dataset = { sha256: dataset.sha256, rows: dataset.rows };
  const { report } = await step('validate', () => pipeline.validateDataset({ dataset, spec }));

  const existing = await step('dedupe', () => pipeline.findTrainedVersion({ spec, datasetSha256: dataset.sha256 }));
  if (existing) {
    log.info('dataset already trained with this spec', { model: spec.name, version: existing.version });
    status.version = existing.version;
    status.metrics = existing.metrics;
    return finish(status, {
      outcome: 'duplicate',
      model: spec.name,
      version: existing.version,
      artifact: existing.artifact,
      dataset: { sha256: dataset.sha256, rows: dataset.rows, uri: dataset.uri },
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
      validation: report,
      artifact: trained.artifact,
      backend: trained.backend,
      metrics: evaluation.candidate,
      training: { ...trained, artifact: undefined },
      evaluation: { holdoutRows: evaluation.holdoutRows, champion: evaluation.champion, decision: evaluation.decision },
      workflowId: info.workflowId,
      runId: info.runId,
    }),
  );
  status.version = registered.version;
  const base = {
    model: spec.name,
    version: registered.version,
    artifact: registered.artifact,
    dataset: { sha256: dataset.sha256, rows: dataset.rows, uri: dataset.uri },
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
}

function finish(status: PipelineStatus, result: PipelineResult): PipelineResult {
  status.stage = 'done';
  upsertSearchAttributes([{ key: LumenStage, value: 'done' }]);
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
  if (status.version !== undefined) lines.push(`version: v${status.version}`);
  if (status.metrics) {
    lines.push(
      Object.entries(status.metrics)
        .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`)
        .join(', '),
    );
  }
  if (status.decision)
    lines.push(`decision: ${status.decision.promote ? 'promote' : 'keep champion'} — ${status.decision.reason}`);
  if (result) lines.push(`outcome: **${result.outcome}**`);
  if (status.error) lines.push(`error: ${status.error}`);
  return lines.join('\n\n');
}
