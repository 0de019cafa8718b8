import {
  deprecatePatch,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import type { EvaluateOutput } from '../activities/evaluate';
import type { ValidateOutput } from '../activities/validate';
import type { DatasetRef } from '../lib/data/snapshot';
import type { TrainOutcome } from '../lib/training';
import {
  LumenDataset,
  LumenModel,
  LumenVersion,
  statusQuery,
  TRAINING_QUEUE,
  type PipelineInput,
  type PipelineResult,
  type SearchSummary,
} from './definitions';
import { DATA_WORK, heavyWork } from './activity-options';
import { SIGNED_DECISIONS, verified } from './access';
import { failureMessage, failureType } from './failures';
import { batchQuarantine, candidateApproval } from './pipeline-decisions';
import { PipelineRun, SEARCH_ATTRIBUTES_V2 } from './pipeline-run';
import { trainWithSearch } from './search';

/**
 * A promotion that keeps losing the race to other pipelines of its model (each loss is another run's promotion)
 * judges again against each new champion, up to this many times. Runs started before PROMOTE_CONTENTION failed
 * after 3; runs since then go on to 10 and then end registered, with a warning, instead of failing.
 */
const MAX_PROMOTE_ATTEMPTS = 3;
const MAX_PROMOTE_ATTEMPTS_CONTENDED = 10;
const PROMOTE_CONTENTION = 'lumen-promote-contention';

/**
 * Runs since this patch keep a training's checkpoints until the pipeline has recorded its result, then release
 * them: a completion lost in an outage is followed by a retry that returns the same model instead of training again.
 * Runs before it had them removed by the training itself.
 */
export const KEEP_CHECKPOINTS = 'lumen-checkpoints-until-recorded';

/**
 * Runs since this patch are held to the model's registered policy before they read any data (and record its version
 * in lineage); runs before it replay without the check.
 */
export const REGISTERED_POLICY = 'lumen-registered-policy';

const dataWork = proxyActivities<PipelineActivities>(DATA_WORK);

/**
 * Ingest → validate → (quarantine) → train → evaluate → register → promote, for one arriving batch of one model.
 * The workflow id is `train:<model>:<source fingerprint>[:<spec hash>]`, so the same spec never trains twice on
 * the same batch; a batch whose content matches a snapshot already trained with this spec is recognised after
 * ingest and not trained again either.
 * A batch that breaks its contract waits, durably, for a person to release or discard it.
 */
export async function trainingPipeline(input: PipelineInput): Promise<PipelineResult> {
  const { spec, source } = input;
  const run = new PipelineRun(spec, source);
  const { status, info, bookkeeping } = run;
  const heavy = proxyActivities<TrainingActivities>(
    heavyWork(input.options?.trainingTaskQueue ?? TRAINING_QUEUE, input.options?.trainingHeartbeatTimeout),
  );

  // what a run answers: its status at any time, and the decisions a person may take while it waits for one
  setHandler(statusQuery, () => status);
  const quarantine = batchQuarantine(run);
  const awaitApproval = candidateApproval(run);
  upsertSearchAttributes([{ key: LumenModel, value: spec.name }]);

  run.starter = await whoStarted(run, input);
  const policy = await bindPolicy(run);

  const ingested = await run.step('ingest', () => dataWork.ingestDataset({ source }));
  status.dataset = { sha256: ingested.sha256, rows: ingested.rows };
  deprecatePatch(SEARCH_ATTRIBUTES_V2);
  upsertSearchAttributes([{ key: LumenDataset, value: ingested.sha256.slice(0, 12) }]);

  const validation = await validate(run, ingested);
  // how the batch came to be trained on, as lineage records it: its contract accepted it, or a person released it
  let judged: Judgement = { decision: 'accepted', decidedBy: 'contract', reason: null };
  if (validation.decision === 'quarantined') {
    const ended = await quarantine(validation);
    if (ended.decision !== 'released') {
      return run.finish(unfinished(ended.decision, { validation: summaryOf(ended.decision) }));
    }
    judged = { decision: 'released', decidedBy: ended.by, reason: ended.reason };
  }

  const dataset = validation.trainingDataset;
  const existing = await run.step('dedupe', () =>
    bookkeeping.findTrainedVersion({ spec, datasetSha256: ingested.sha256 }),
  );
  if (existing) {
    log.info('dataset already trained with this spec', { model: spec.name, version: existing.version });
    status.version = existing.version;
    status.metrics = existing.metrics;
    return run.finish(
      unfinished('duplicate', {
        version: existing.version,
        artifact: existing.artifact,
        metrics: existing.metrics,
        champion: existing.champion ?? null,
      }),
    );
  }

  const keepCheckpoints = patched(KEEP_CHECKPOINTS);
  const trained: TrainOutcome & { search?: SearchSummary } = await run.step('train', () =>
    spec.training.search
      ? trainWithSearch(heavy, spec, dataset, status, keepCheckpoints ? release : undefined)
      : heavy.trainModel({ spec, dataset, ...(keepCheckpoints ? { keepCheckpoints } : {}) }),
  );
  if (keepCheckpoints && trained.checkpoints) await release([trained.checkpoints]);
  let champion = await bookkeeping.getChampion({ model: spec.name });
  let evaluation = await run.step('evaluate', () =>
    heavy.evaluateCandidate({ spec, dataset, candidate: trained.artifact, champion }),
  );
  status.metrics = evaluation.candidate;
  status.verdict = evaluation.verdict;
  status.importance = evaluation.importance ?? undefined;
  await alertUntrustedChampion(evaluation);

  const registered = await run.step('register', () =>
    bookkeeping.registerModelVersion({
      spec,
      dataset,
      lineage: {
        sourceDataset: ingested.sha256,
        contractHash: validation.contractHash,
        ...(policy ? { policy } : {}),
        validation: {
          id: validation.validationId,
          outcome: validation.outcome,
          ...judged,
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
        verdict: evaluation.verdict,
        importance: evaluation.importance,
        report: evaluation.report,
        canary: evaluation.canary,
      },
      workflowId: info.workflowId,
      runId: info.runId,
    }),
  );
  status.version = registered.version;
  deprecatePatch(SEARCH_ATTRIBUTES_V2);
  upsertSearchAttributes([{ key: LumenVersion, value: registered.version }]);
  const end = (outcome: PipelineResult['outcome'], extra: Partial<PipelineResult> = {}): PipelineResult =>
    run.finish({
      ...unfinished(outcome, {
        version: registered.version,
        artifact: registered.artifact,
        metrics: evaluation.candidate,
        verdict: evaluation.verdict,
        champion: champion?.version ?? null,
        resumedFromEpoch: trained.resumedFromEpoch,
      }),
      importance: evaluation.importance ?? null,
      training: trainingSummary(trained),
      ...extra,
    });
  if (registered.workflowId !== info.workflowId) {
    // a concurrent run registered a model from this exact batch and spec first; that version stands
    return end('duplicate', { metrics: registered.metrics, verdict: null, champion: null });
  }
  if (!evaluation.verdict.passed) return end('registered');

  const loadCheck = await run.step('load-check', () =>
    heavy.loadCheck({
      model: spec.name,
      version: registered.version,
      artifact: registered.artifact,
      canary: evaluation.canary,
    }),
  );
  if (!loadCheck.passed) {
    await run.alert(
      'critical',
      'load-check-failed',
      `${spec.name} v${registered.version} failed its load check: ${loadCheck.detail}`,
    );
    return end('load-check-failed');
  }

  let approval: PipelineResult['approval'] = null;
  if (evaluation.verdict.approvalRequired) {
    approval = await awaitApproval(registered.version, registered.artifact.sha256, evaluation.verdict.reason);
    if (approval.status !== 'approved') return end('not-approved', { approval });
  }

  const promoted = await run.step('promote', promote);
  if (!promoted) return end('registered');
  return end('promoted', { approval, champion: promoted.champion });

  /** A result for a run that ends before (or without) registering a version of its own. */
  function unfinished(outcome: PipelineResult['outcome'], extra: Partial<PipelineResult>): PipelineResult {
    return {
      outcome,
      model: spec.name,
      version: null,
      artifact: null,
      dataset: { sha256: ingested.sha256, rows: ingested.rows, uri: ingested.uri },
      validation: summaryOf(judged.decision),
      metrics: null,
      verdict: null,
      approval: null,
      champion: null,
      resumedFromEpoch: null,
      steps: status.steps,
      ...extra,
    };
  }

  function summaryOf(decision: string): PipelineResult['validation'] {
    return {
      id: validation.validationId,
      outcome: validation.outcome,
      decision,
      summary: validation.summary,
      report: validation.report,
      html: validation.html,
    };
  }

  /**
   * Move the champion to this run's version, compare-and-set against the champion it was judged with. Another run
   * of the model may promote first: then this one is judged again against the new champion, up to a limit.
   */
  async function promote(): Promise<{ champion: number } | null> {
    const version = registered.version;
    for (let attempt = 1; ; attempt++) {
      try {
        return await bookkeeping.moveChampion({
          model: spec.name,
          to: version,
          expectedChampion: champion?.version ?? null,
          kind: 'promote',
          reason: evaluation.verdict.reason,
          actor: approval?.by ? `${approval.by} (approved)` : (input.options?.actor ?? `workflow:${info.workflowId}`),
          workflowId: info.workflowId,
          runId: info.runId,
          requestId: `${info.workflowId}:promote:v${version}`,
        });
      } catch (err) {
        if (failureType(err) !== 'ChampionChangedError') throw err;
        if (attempt >= MAX_PROMOTE_ATTEMPTS && !patched(PROMOTE_CONTENTION)) throw err;
        if (attempt >= MAX_PROMOTE_ATTEMPTS_CONTENDED) {
          await run.alert(
            'warning',
            'promotion-contended',
            `${spec.name} v${version} passed its gate ${attempt} times, but each time another run of ` +
              `${spec.name} had promoted first; it stays registered. Promote it by hand if it should serve: ` +
              `lumen promote ${spec.name} --version ${version} --reason <why>`,
            { version, attempts: attempt },
          );
          return null;
        }
        // another pipeline promoted since this one evaluated: judge again against the new champion
        log.info('champion changed during evaluation; re-evaluating', { model: spec.name, attempt });
        champion = await bookkeeping.getChampion({ model: spec.name });
        evaluation = await heavy.evaluateCandidate({ spec, dataset, candidate: trained.artifact, champion });
        status.verdict = evaluation.verdict;
        status.importance = evaluation.importance ?? undefined;
        await alertUntrustedChampion(evaluation);
        if (!evaluation.verdict.passed) return null;
      }
    }
  }

  /**
   * The result is on record (this workflow's history): its checkpoints may go. A failure to remove them costs disk
   * space, not the run, and is said in the worker's log.
   */
  async function release(kinds: string[]): Promise<void> {
    try {
      await bookkeeping.releaseCheckpoints({ kinds });
    } catch (err) {
      log.warn('checkpoints not released', { kinds, error: failureMessage(err) });
    }
  }

  /** A champion that cannot be trusted is never silent: it is named, with what to do about it. */
  async function alertUntrustedChampion(e: EvaluateOutput): Promise<void> {
    if (!e.championProblem) return;
    const { version, detail } = e.championProblem;
    await run.alert(
      'critical',
      'champion-untrusted',
      `${spec.name} v${version} (champion) cannot be trusted: ${detail}. The new candidate was judged without it ` +
        `and needs a person's approval. Restore the artifact and run \`lumen verify ${spec.name}@${version}\`, ` +
        `or move the champion with \`lumen rollback ${spec.name} --to <version>\`.`,
      { champion: version },
    );
  }
}

/**
 * Who started the run: verified when a person started it (a signed start, where access control is on); a run a
 * Lumen workflow started (inbox, schedule, monitor) names the person it acts for, if any.
 */
async function whoStarted(run: PipelineRun, input: PipelineInput): Promise<string | null> {
  if (run.info.parent || !patched(SIGNED_DECISIONS)) return input.options?.requestedBy ?? null;
  try {
    const verdict = await verified({
      action: 'start',
      model: run.spec.name,
      subject: { workflowId: run.info.workflowId },
      by: input.options?.actor ?? '(not named)',
      comment: '',
      proof: input.options?.proof,
    });
    return verdict.identity;
  } catch (err) {
    run.stopped('start', err);
    throw err;
  }
}

/** The model's registered policy binds every run, whatever started it: a spec may tighten it, never loosen it. */
async function bindPolicy(run: PipelineRun): Promise<{ version: number; sha256: string } | undefined> {
  if (!patched(REGISTERED_POLICY)) return undefined;
  const { spec, status, info } = run;
  try {
    const bound = await run.bookkeeping.bindModelPolicy({ spec, starter: run.starter });
    status.policy = { version: bound.version, sha256: bound.sha256 };
    if (bound.firstPolicyReason)
      log.info('registered the model policy', { model: spec.name, reason: bound.firstPolicyReason });
    return status.policy;
  } catch (err) {
    const failure = run.stopped('policy', err);
    await run.alert(
      'warning',
      'policy-refused',
      `${spec.name}: run ${info.workflowId} refused: ${failureMessage(err)}`,
    );
    throw failure;
  }
}

/** Check the batch against the model's data contract; a batch that cannot be checked is a critical alert. */
async function validate(run: PipelineRun, dataset: DatasetRef): Promise<ValidateOutput> {
  const { spec, status, info } = run;
  let validation: ValidateOutput;
  try {
    validation = await run.step('validate', () =>
      dataWork.validateDataset({ dataset, spec, workflowId: info.workflowId, runId: info.runId }),
    );
  } catch (err) {
    await run.alert('critical', 'validation-failed', status.error ?? failureMessage(err));
    throw err;
  }
  if (validation.outcome === 'warn') {
    await run.alert('warning', 'validation-warning', validation.summary, { report: validation.report.uri });
  }
  return validation;
}

interface Judgement {
  decision: 'accepted' | 'released';
  decidedBy: string;
  reason: string | null;
}

/** What the result says of the training: rows by role, epochs, early stopping, the search. */
function trainingSummary(trained: TrainOutcome & { search?: SearchSummary }): PipelineResult['training'] {
  return {
    rows: trained.trainingRows,
    holdoutRows: trained.holdoutRows,
    unlabelledRows: trained.unlabelledRows,
    ...(trained.rareClasses ? { rareClasses: trained.rareClasses } : {}),
    sampledOutRows: trained.sampledOutRows,
    epochs: trained.epochs,
    ...(trained.bestEpoch !== undefined
      ? { validationRows: trained.validationRows, bestEpoch: trained.bestEpoch, stoppedEarly: trained.stoppedEarly }
      : {}),
    ...(trained.search ? { search: trained.search } : {}),
  };
}
