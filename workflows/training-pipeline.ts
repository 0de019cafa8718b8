import {
  ApplicationFailure,
  condition,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import type { EvaluateOutput } from '../activities/evaluate';
import type { ValidateOutput } from '../activities/validate';
import {
  approveCandidate,
  discardQuarantine,
  rejectCandidate,
  LumenDataset,
  LumenModel,
  LumenOutcome,
  LumenStage,
  LumenVersion,
  releaseQuarantine,
  statusQuery,
  TRAINING_QUEUE,
  type PipelineInput,
  type PipelineResult,
  type PipelineStatus,
  type ApprovalRequest,
  type QuarantineRequest,
  type SearchSummary,
  type Stage,
} from './definitions';
import type { TrainOutcome } from '../lib/training';
import { BOOKKEEPING, DATA_WORK, heavyWork } from './activity-options';
import { oneAtATime, SIGNED_DECISIONS, verified } from './access';
import { approvalPayload, quarantinePayload, single } from './message-shapes';
import { trainWithSearch } from './search';
import { failureMessage, failureType } from './failures';
// lib/duration is pure (no I/O, no imports): the timeouts are read by the grammar the spec was checked with
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { durationMs } from '../lib/duration';

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

const bookkeeping = proxyActivities<PipelineActivities>(BOOKKEEPING);

/**
 * Runs since this patch are held to the model's registered policy before they read any data (and record its version
 * in lineage); runs before it replay without the check.
 */
export const REGISTERED_POLICY = 'lumen-registered-policy';

/**
 * Runs started before the version, outcome and dataset search attributes existed replay without setting them;
 * every new run sets them (Temporal's patching: the marker is in the new histories only).
 */
const SEARCH_ATTRIBUTES_V2 = 'lumen-search-attributes-v2';
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
  const info = workflowInfo();
  const heavy = proxyActivities<TrainingActivities>(
    heavyWork(input.options?.trainingTaskQueue ?? TRAINING_QUEUE, input.options?.trainingHeartbeatTimeout),
  );

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
      status.error = `${stage}: ${failureMessage(err)}`;
      setStage('failed');
      throw ApplicationFailure.create({
        message: status.error,
        type: failureType(err) ?? 'PipelineFailed',
        nonRetryable: true,
        cause: err as Error,
      });
    } finally {
      status.steps.push({ stage, startedAt: new Date(started).toISOString(), milliseconds: Date.now() - started });
    }
  };
  const alert = (severity: 'info' | 'warning' | 'critical', kind: string, message: string, extra: object = {}) =>
    bookkeeping.alert({
      model: spec.name,
      severity,
      kind,
      message,
      details: { dataset: status.dataset?.sha256, ...extra },
      workflowId: info.workflowId,
      runId: info.runId,
      key: `${info.workflowId}:${info.runId}:${kind}`,
    });

  // who started the run, for the records and for a four-eyes approval: verified when a person started it; a run a
  // Lumen workflow started (inbox, schedule, monitor) names the person it acts for, if any
  let starter: string | null = input.options?.requestedBy ?? null;
  if (!info.parent && patched(SIGNED_DECISIONS)) {
    try {
      const verdict = await verified({
        action: 'start',
        model: spec.name,
        subject: { workflowId: info.workflowId },
        by: input.options?.actor ?? '(not named)',
        comment: '',
        proof: input.options?.proof,
      });
      starter = verdict.identity;
    } catch (err) {
      status.error = `start: ${failureMessage(err)}`;
      setStage('failed');
      throw err;
    }
  }

  // the model's registered policy binds every run, whatever started it: a spec may tighten it, never loosen it
  let policy: { version: number; sha256: string } | undefined;
  if (patched(REGISTERED_POLICY)) {
    try {
      const bound = await bookkeeping.bindModelPolicy({ spec, starter });
      policy = { version: bound.version, sha256: bound.sha256 };
      status.policy = policy;
      if (bound.firstPolicyReason)
        log.info('registered the model policy', { model: spec.name, reason: bound.firstPolicyReason });
    } catch (err) {
      status.error = `policy: ${failureMessage(err)}`;
      setStage('failed');
      await alert('warning', 'policy-refused', `${spec.name}: run ${info.workflowId} refused: ${failureMessage(err)}`);
      throw ApplicationFailure.create({
        message: status.error,
        type: failureType(err) ?? 'PipelineFailed',
        nonRetryable: true,
        cause: err as Error,
      });
    }
  }

  const ingested = await step('ingest', () => dataWork.ingestDataset({ source }));
  status.dataset = { sha256: ingested.sha256, rows: ingested.rows };
  if (patched(SEARCH_ATTRIBUTES_V2))
    upsertSearchAttributes([{ key: LumenDataset, value: ingested.sha256.slice(0, 12) }]);

  let validation: ValidateOutput;
  try {
    validation = await step('validate', () =>
      dataWork.validateDataset({ dataset: ingested, spec, workflowId: info.workflowId, runId: info.runId }),
    );
  } catch (err) {
    await alert('critical', 'validation-failed', status.error ?? failureMessage(err));
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
        verdict: null,
        approval: null,
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
  const existing = await step('dedupe', () => bookkeeping.findTrainedVersion({ spec, datasetSha256: ingested.sha256 }));
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
      verdict: null,
      approval: null,
      champion: existing.champion ?? null,
      resumedFromEpoch: null,
      steps: status.steps,
    });
  }

  const keepCheckpoints = patched(KEEP_CHECKPOINTS);
  const trained: TrainOutcome & { search?: SearchSummary } = await step('train', () =>
    spec.training.search
      ? trainWithSearch(heavy, spec, dataset, status, keepCheckpoints ? release : undefined)
      : heavy.trainModel({ spec, dataset, ...(keepCheckpoints ? { keepCheckpoints } : {}) }),
  );
  if (keepCheckpoints && trained.checkpoints) await release([trained.checkpoints]);
  let champion = await bookkeeping.getChampion({ model: spec.name });
  let evaluation = await step('evaluate', () =>
    heavy.evaluateCandidate({ spec, dataset, candidate: trained.artifact, champion }),
  );
  status.metrics = evaluation.candidate;
  status.verdict = evaluation.verdict;
  await alertUntrustedChampion(evaluation);

  const registered = await step('register', () =>
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
        verdict: evaluation.verdict,
        report: evaluation.report,
        canary: evaluation.canary,
      },
      workflowId: info.workflowId,
      runId: info.runId,
    }),
  );
  status.version = registered.version;
  if (patched(SEARCH_ATTRIBUTES_V2)) upsertSearchAttributes([{ key: LumenVersion, value: registered.version }]);
  const base = {
    model: spec.name,
    version: registered.version,
    artifact: registered.artifact,
    dataset: datasetSummary,
    validation: validationSummary(decision),
    resumedFromEpoch: trained.resumedFromEpoch,
    training: {
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
    },
  };
  const end = (outcome: PipelineResult['outcome'], extra: Partial<PipelineResult> = {}): PipelineResult =>
    finish(status, {
      ...base,
      outcome,
      metrics: evaluation.candidate,
      verdict: evaluation.verdict,
      approval: null,
      champion: champion?.version ?? null,
      steps: status.steps,
      ...extra,
    });
  if (registered.workflowId !== info.workflowId) {
    // a concurrent run registered a model from this exact batch and spec first; that version stands
    return end('duplicate', { metrics: registered.metrics, verdict: null, champion: null });
  }
  if (!evaluation.verdict.passed) return end('registered');

  const loadCheck = await step('load-check', () =>
    heavy.loadCheck({
      model: spec.name,
      version: registered.version,
      artifact: registered.artifact,
      canary: evaluation.canary,
    }),
  );
  if (!loadCheck.passed) {
    await alert(
      'critical',
      'load-check-failed',
      `${spec.name} v${registered.version} failed its load check: ${loadCheck.detail}`,
    );
    return end('load-check-failed');
  }

  let approval: PipelineResult['approval'] = null;
  if (evaluation.verdict.approvalRequired) {
    approval = await awaitApproval(registered.version, registered.artifact.sha256);
    if (approval.status !== 'approved') return end('not-approved', { approval });
  }

  const promoted = await step('promote', async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await bookkeeping.moveChampion({
          model: spec.name,
          to: registered.version,
          expectedChampion: champion?.version ?? null,
          kind: 'promote',
          reason: evaluation.verdict.reason,
          actor: approval?.by ? `${approval.by} (approved)` : (input.options?.actor ?? `workflow:${info.workflowId}`),
          workflowId: info.workflowId,
          runId: info.runId,
          requestId: `${info.workflowId}:promote:v${registered.version}`,
        });
      } catch (err) {
        if (failureType(err) !== 'ChampionChangedError') throw err;
        if (attempt >= MAX_PROMOTE_ATTEMPTS && !patched(PROMOTE_CONTENTION)) throw err;
        if (attempt >= MAX_PROMOTE_ATTEMPTS_CONTENDED) {
          await alert(
            'warning',
            'promotion-contended',
            `${spec.name} v${registered.version} passed its gate ${attempt} times, but each time another run of ` +
              `${spec.name} had promoted first; it stays registered. Promote it by hand if it should serve: ` +
              `lumen promote ${spec.name} --version ${registered.version} --reason <why>`,
            { version: registered.version, attempts: attempt },
          );
          return null;
        }
        // another pipeline promoted since this one evaluated: judge again against the new champion
        log.info('champion changed during evaluation; re-evaluating', { model: spec.name, attempt });
        champion = await bookkeeping.getChampion({ model: spec.name });
        evaluation = await heavy.evaluateCandidate({ spec, dataset, candidate: trained.artifact, champion });
        status.verdict = evaluation.verdict;
        await alertUntrustedChampion(evaluation);
        if (!evaluation.verdict.passed) return null;
      }
    }
  });
  if (!promoted) return end('registered');
  return end('promoted', { approval, champion: promoted.champion });

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
    await alert(
      'critical',
      'champion-untrusted',
      `${spec.name} v${version} (champion) cannot be trusted: ${detail}. The new candidate was judged without it ` +
        `and needs a person's approval. Restore the artifact and run \`lumen verify ${spec.name}@${version}\`, ` +
        `or move the champion with \`lumen rollback ${spec.name} --to <version>\`.`,
      { champion: version },
    );
  }

  /**
   * Wait, durably, for a person to approve or reject the candidate (Temporal updates whose validator insists on
   * the exact version and artifact digest, an identity and a comment), or for the spec's approval timeout.
   */
  async function awaitApproval(
    version: number,
    artifactSha256: string,
  ): Promise<NonNullable<PipelineResult['approval']>> {
    const since = Date.now();
    const timeout = spec.gate.approval.timeout;
    const ms = timeoutMs(timeout);
    const request = await bookkeeping.requestApproval({
      model: spec.name,
      version,
      artifactSha256,
      workflowId: info.workflowId,
      runId: info.runId,
    });
    status.approval = {
      version,
      artifactSha256,
      since: new Date(since).toISOString(),
      deadline: new Date(since + ms).toISOString(),
    };
    const validate = (...args: unknown[]): void => {
      const r = approvalPayload(single(args, 'an approval or rejection'));
      if (status.stage !== 'awaiting_approval' || status.approval?.decision) {
        throw new Error(`no candidate is waiting for approval (stage: ${status.stage})`);
      }
      if (r.version !== version)
        throw new Error(`version ${r.version} is not the candidate awaiting approval (v${version})`);
      if (r.artifactSha256 !== artifactSha256) {
        throw new Error(
          `artifact digest ${String(r.artifactSha256).slice(0, 12)}… is not the candidate's (${artifactSha256.slice(0, 12)}…)`,
        );
      }
      if (!r.by.trim()) throw new Error('an approval needs the identity of who gives it ("by")');
      if (!r.comment.trim()) throw new Error('an approval needs a comment');
    };
    const needed = spec.gate.approval.approvers ?? 1;
    if (needed > 1) status.approval.approversNeeded = needed;
    const serially = oneAtATime();
    const decide = (kind: 'approved' | 'rejected') => async (r: ApprovalRequest) => {
      let by = r.by.trim();
      if (patched(SIGNED_DECISIONS)) {
        const awaiting = await serially(async () => {
          // another decision may have landed while this one waited its turn
          if (status.approval!.decision) {
            throw ApplicationFailure.nonRetryable(
              `no candidate is waiting for approval: v${version} was already ${status.approval!.decision.kind} by ${status.approval!.decision.by}`,
              'ConflictError',
            );
          }
          const verdict = await verified(
            {
              action: kind === 'approved' ? 'approve' : 'reject',
              model: spec.name,
              subject: { version, artifactSha256 },
              by: r.by,
              comment: r.comment,
              proof: r.proof,
            },
            kind === 'approved' ? fourEyes(needed) : undefined,
          );
          by = verdict.identity;
          if (kind === 'approved') {
            const approvals = (status.approval!.approvals ??= []);
            approvals.push({ by, comment: r.comment.trim(), at: new Date(Date.now()).toISOString() });
            if (approvals.length < needed) {
              await alert(
                'info',
                'approval-partial',
                `${spec.name} v${version} approved by ${by} (${approvals.length} of ${needed} approvers)`,
              );
              return needed - approvals.length;
            }
            by = approvals.map((a) => a.by).join(' + ');
          }
          status.approval!.decision = { kind, by, comment: r.comment.trim() };
          return 0;
        });
        return awaiting ? { decision: kind, version, awaiting } : { decision: kind, version };
      }
      status.approval!.decision = { kind, by, comment: r.comment.trim() };
      return { decision: kind, version };
    };
    /** Who may not approve, and why: four eyes, as the spec's gate asks (checked with the signature, and audited). */
    const fourEyes = (n: number): Record<string, string> => {
      const excluded: Record<string, string> = {};
      for (const a of status.approval!.approvals ?? []) {
        excluded[a.by] = `four eyes: ${a.by} has approved v${version} already; it needs ${n} different approvers`;
      }
      if (spec.gate.approval.distinctFromStarter && starter !== null) {
        excluded[starter] =
          `four eyes: ${starter} started this run and may not approve its candidate (gate.approval.distinctFromStarter)`;
      }
      return excluded;
    };
    setHandler(approveCandidate, decide('approved'), { validator: validate });
    setHandler(rejectCandidate, decide('rejected'), { validator: validate });
    setStage('awaiting_approval');
    await alert(
      'info',
      'approval-requested',
      `${spec.name} v${version} awaits approval until ${status.approval.deadline}: ${evaluation.verdict.reason}`,
    );
    const decided = await condition(() => status.approval?.decision !== undefined, ms);
    const outcome = decided
      ? {
          status: status.approval.decision!.kind,
          by: status.approval.decision!.by,
          comment: status.approval.decision!.comment,
        }
      : { status: 'expired' as const, by: 'timeout', comment: `nobody approved within ${timeout}` };
    status.steps.push({
      stage: 'awaiting_approval',
      startedAt: new Date(since).toISOString(),
      milliseconds: Date.now() - since,
    });
    await bookkeeping.decideApproval({
      id: request.id,
      status: outcome.status,
      by: outcome.by,
      comment: outcome.comment,
    });
    if (outcome.status !== 'approved') {
      await alert(
        'warning',
        `approval-${outcome.status}`,
        `${spec.name} v${version} not promoted: ${outcome.status} by ${outcome.by} — ${outcome.comment}`,
      );
    }
    return outcome;
  }

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
    const ms = timeoutMs(timeout);
    status.quarantine = {
      validationId: v.validationId,
      dataset: ingested.sha256,
      since: new Date(since).toISOString(),
      deadline: new Date(since + ms).toISOString(),
      summary: v.summary,
      report: v.report,
      html: v.html,
    };
    const validate = (...args: unknown[]): void => {
      const request = quarantinePayload(single(args, 'a quarantine decision'));
      if (status.stage !== 'quarantined' || status.quarantine?.decision) {
        throw new Error(`no batch is waiting in quarantine (stage: ${status.stage})`);
      }
      const prefix = request.dataset.trim().toLowerCase();
      if (prefix.length < 12 || !ingested.sha256.startsWith(prefix)) {
        throw new Error(
          `dataset "${request.dataset}" does not name the quarantined batch ${ingested.sha256.slice(0, 12)}… (give 12+ characters of its sha256)`,
        );
      }
      if (!request.by.trim()) throw new Error('a decision needs the identity of who makes it ("by")');
      if (!request.reason.trim()) throw new Error('a decision needs a reason');
    };
    const serially = oneAtATime();
    const decide = (kind: 'released' | 'discarded') => async (request: QuarantineRequest) => {
      let by = request.by.trim();
      if (patched(SIGNED_DECISIONS)) {
        await serially(async () => {
          if (status.quarantine!.decision) {
            throw ApplicationFailure.nonRetryable(
              `no batch is waiting in quarantine: it was already ${status.quarantine!.decision.kind} by ${status.quarantine!.decision.by}`,
              'ConflictError',
            );
          }
          const verdict = await verified({
            action: kind === 'released' ? 'release' : 'discard',
            model: spec.name,
            subject: { dataset: ingested.sha256 },
            by: request.by,
            comment: request.reason,
            proof: request.proof,
          });
          by = verdict.identity;
          status.quarantine!.decision = { kind, by, reason: request.reason.trim() };
        });
      } else {
        status.quarantine!.decision = { kind, by, reason: request.reason.trim() };
      }
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
    const decided = await condition(() => status.quarantine?.decision !== undefined, ms);
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
    await bookkeeping.decideQuarantine({ validationId: v.validationId, ...ended });
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

/** Milliseconds of a spec's duration (lib/duration.ts); a spec that slipped past its schema fails for good. */
function timeoutMs(text: string): number {
  const ms = durationMs(text);
  if (Number.isNaN(ms)) throw ApplicationFailure.nonRetryable(`not a duration: "${text}"`, 'SpecError');
  return ms;
}

function finish(status: PipelineStatus, result: PipelineResult): PipelineResult {
  status.stage = 'done';
  upsertSearchAttributes([
    {
      key: LumenStage,
      value: result.outcome === 'discarded' || result.outcome === 'rejected' ? result.outcome : 'done',
    },
  ]);
  if (patched(SEARCH_ATTRIBUTES_V2)) {
    upsertSearchAttributes([
      { key: LumenOutcome, value: result.outcome },
      ...(result.version !== null ? [{ key: LumenVersion, value: result.version }] : []),
    ]);
  }
  setCurrentDetails(details(status, result));
  return result;
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
  if (status.approval && !status.approval.decision && status.stage === 'awaiting_approval') {
    lines.push(
      `**awaiting approval** of v${status.approval.version} until ${status.approval.deadline}: \`lumen approve|reject <model> --version ${status.approval.version} --comment "…"\``,
    );
  }
  if (result) lines.push(`outcome: **${result.outcome}**`);
  if (status.error) lines.push(`error: ${status.error}`);
  return lines.join('\n\n');
}
