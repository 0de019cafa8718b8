import {
  ApplicationFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  patched,
  continueAsNew,
  executeChild,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  setCurrentDetails,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { PipelineActivities } from '../activities';
// lib/access/statement is pure text building (no I/O, no imports): the policy change is signed as this text
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { canonical } from '../lib/access/statement';
import type { ReportSummary } from '../lib/monitor/report';
// lib/monitor/policy is a zod schema and nothing else (no I/O): the setPolicy update validates with it
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { DEFAULT_MONITOR_POLICY, parseMonitorPolicy } from '../lib/monitor/policy';
import { BOOKKEEPING, DATA_WORK } from './activity-options';
import { SIGNED_DECISIONS, verified } from './access';
import { guardedSignal, noDroppedMessages } from './messages';
import { championMovedPayload, personPayload, policyPayload, single } from './message-shapes';
import { championChange } from './champion-change';
import { LumenModel, LumenStage, championChangeWorkflowId, trainingWorkflowId } from './definitions';
import {
  championMovedSignal,
  checkNowSignal,
  monitorStatusQuery,
  pauseSignal,
  resumeSignal,
  retrainSignal,
  rollbackSignal,
  setPolicyUpdate,
  type MonitorInput,
  type MonitorStatus,
} from './monitor-definitions';
import {
  KEEP_ACTIONS,
  KEEP_REPORTS,
  KEEP_SEEN,
  championMoved,
  decide,
  initialState,
  monitorDetails,
  remember,
  takeRequest,
  withChanges,
  type ActionSummary,
  type ManualRequest,
  type MonitorState,
  type PlannedAction,
} from './monitor-logic';
import { trainingPipeline } from './training-pipeline';
import { failureMessage } from './failures';

const bookkeeping = proxyActivities<PipelineActivities>(BOOKKEEPING);
const checks = proxyActivities<PipelineActivities>(DATA_WORK);

const DEFAULT_HISTORY_LIMIT = 2000;
/** a window is at most this long, whatever the pause before it */
const MAX_WINDOW_MS = 86_400_000;
/**
 * A window ends this long before its check runs: serving instances write their log every second, so what was
 * served up to a few seconds ago may not be on disk yet, and a window must not close before it is.
 */
export const LOG_SETTLE_MS = 5_000;

/**
 * One monitor per served model (workflow id `monitor:<model>`), for as long as the model serves: a health check
 * every `everyMinutes` (a durable timer) or when asked; the policy applied with hysteresis and cooldowns; alerts,
 * retrains (the training pipeline on the newest accepted data plus labelled feedback, one run per content) and
 * rollbacks (the champion-change workflow) recorded with their evidence. People steer it with signals (rollback,
 * retrain, checkNow, pause, resume) and the setPolicy update; the status query shows what it knows. It continues
 * as new before its history grows large, carrying its state and any request not yet acted on.
 */
export async function modelMonitor(input: MonitorInput): Promise<void> {
  const info = workflowInfo();
  const model = input.model;
  // handlers are in place before the first await, so no signal or update waits on the set-up
  const state: MonitorState = input.state ?? initialState(model, DEFAULT_MONITOR_POLICY, Date.now());
  upsertSearchAttributes([
    { key: LumenModel, value: model },
    { key: LumenStage, value: state.paused ? 'paused' : 'monitoring' },
  ]);

  // every message is parsed by its declared shape (message-shapes.ts) where it enters: a malformed signal is dropped
  // and counted in the status, an update refused with the reason; no handler throws on what a sender wrote
  state.dropped ??= noDroppedMessages();
  const dropped = state.dropped;
  const person = (what: string) => (args: unknown[]) => personPayload(single(args, what));
  const signal = <T>(name: string, shape: (args: unknown[]) => T, act: (value: T) => void) =>
    guardedSignal(name, dropped, shape, act, { model });
  const request = (name: string, kind: ManualRequest['kind']) =>
    signal(name, person(`the ${name} signal`), (r) => {
      takeRequest(state, { ...r, kind });
    });
  setHandler(rollbackSignal, request('rollback', 'rollback'));
  setHandler(retrainSignal, request('retrain', 'retrain'));
  setHandler(checkNowSignal, request('checkNow', 'check'));
  // pause and resume act at once in runs recorded before decisions were verified; since, they wait their turn
  // with the other requests, which are verified before they act
  const pauseOrResume = (kind: 'pause' | 'resume') =>
    signal(kind, person(`the ${kind} signal`), (r) => {
      if (patched(SIGNED_DECISIONS)) {
        takeRequest(state, { ...r, kind });
        return;
      }
      if (state.seen.includes(r.requestId)) return;
      remember(state.seen, r.requestId, KEEP_SEEN);
      setPaused(kind, r.by, r.reason);
    });
  setHandler(pauseSignal, pauseOrResume('pause'));
  setHandler(resumeSignal, pauseOrResume('resume'));
  function setPaused(kind: 'pause' | 'resume', by: string, reason: string): void {
    if (kind === 'pause') {
      if (state.paused) return;
      state.paused = { by, reason, at: new Date(Date.now()).toISOString() };
      note({ kind: 'pause', trigger: 'manual', by, reason, outcome: 'paused: no checks or actions' });
      upsertSearchAttributes([{ key: LumenStage, value: 'paused' }]);
    } else {
      if (!state.paused) return;
      state.paused = null;
      state.checkRequested = true;
      note({ kind: 'resume', trigger: 'manual', by, reason, outcome: 'resumed; checking now' });
      upsertSearchAttributes([{ key: LumenStage, value: 'monitoring' }]);
    }
  }
  setHandler(
    championMovedSignal,
    signal(
      'championMoved',
      (args) => championMovedPayload(single(args, 'the championMoved signal')),
      (e) => {
        if (state.seenMoves.includes(e.eventId)) return;
        remember(state.seenMoves, e.eventId, KEEP_SEEN);
        championMoved(state, e.version);
        state.checkRequested = true;
      },
    ),
  );
  setHandler(
    setPolicyUpdate,
    async (r) => {
      let by = r.by;
      if (patched(SIGNED_DECISIONS)) {
        const verdict = await verified({
          action: 'policy',
          model,
          subject: { policy: canonical(r.policy) },
          by: r.by,
          comment: r.reason,
          proof: r.proof,
        });
        by = verdict.identity;
      }
      // checked by the validator; another change may have landed while this one was verified
      const parsed = parseMonitorPolicy(withChanges(state.policy, r.policy));
      if ('problems' in parsed) {
        throw ApplicationFailure.nonRetryable(`invalid monitor policy: ${parsed.problems.join('; ')}`, 'SpecError');
      }
      const merged = parsed.policy;
      state.policy = merged;
      state.policyFrom = 'update';
      // the next check keeps its time unless the new interval brings it closer
      state.nextCheckAt = Math.min(state.nextCheckAt, Date.now() + merged.everyMinutes * 60_000);
      note({ kind: 'policy', trigger: 'manual', by, reason: r.reason, outcome: JSON.stringify(r.policy) });
      return merged;
    },
    {
      validator: (...args: unknown[]) => {
        const r = policyPayload(single(args, 'the setPolicy update'));
        if (!r.by.trim() || !r.reason.trim()) throw new Error('a policy change needs who asks for it and why');
        const parsed = parseMonitorPolicy(withChanges(state.policy, r.policy));
        if ('problems' in parsed) throw new Error(`invalid monitor policy: ${parsed.problems.join('; ')}`);
      },
    },
  );
  setHandler(monitorStatusQuery, (): MonitorStatus => ({
    model,
    champion: state.champion,
    policy: state.policy,
    policyFrom: state.policyFrom,
    paused: state.paused,
    checks: state.checks,
    lastCheckTo: state.lastCheckTo,
    nextCheckAt: new Date(state.nextCheckAt).toISOString(),
    openIncidents: Object.values(state.incidents).filter((i) => i.open),
    reports: state.reports.slice(-5),
    actions: state.actions.slice(-20),
    pending: state.pending,
    historyLength: workflowInfo().historyLength,
    continuedAsNew: state.generation,
    dropped,
  }));

  function note(action: Omit<ActionSummary, 'at'>): void {
    remember(state.actions, { ...action, at: new Date(Date.now()).toISOString() }, KEEP_ACTIONS);
  }

  async function record(
    kind: 'alert' | 'retrain' | 'rollback',
    trigger: 'auto' | 'manual',
    by: string,
    reason: string,
    key: string,
    evidence: Record<string, unknown>,
    outcome: string,
    workflowId: string | null,
  ): Promise<void> {
    note({ kind, trigger, by, reason, outcome });
    await bookkeeping.recordMonitorAction({
      model,
      kind,
      trigger,
      by,
      reason,
      evidence,
      result: { outcome, monitor: info.workflowId },
      workflowId,
      // request ids are a person's; the model makes them unique across monitors
      key: `${model}:${key}`,
    });
  }

  async function alert(
    severity: 'info' | 'warning' | 'critical',
    kind: string,
    message: string,
    key: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await bookkeeping.alert({
      model,
      severity,
      kind,
      message,
      details,
      workflowId: info.workflowId,
      runId: info.runId,
      key,
    });
  }

  async function retrain(trigger: 'auto' | 'manual', by: string, reason: string, key: string, evidence: object) {
    let outcome: string;
    let child: string | null = null;
    try {
      const batch = await checks.prepareRetrain({ model });
      child = trainingWorkflowId(model, batch.fingerprint);
      try {
        await startChild(trainingPipeline, {
          workflowId: child,
          taskQueue: info.taskQueue,
          args: [
            {
              spec: batch.spec,
              source: batch.source,
              options: {
                actor: `${by} (monitor ${trigger === 'auto' ? 'policy' : 'request'})`,
                ...(trigger === 'manual' ? { requestedBy: by } : {}),
                trainingTaskQueue: input.trainingTaskQueue,
              },
            },
          ],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          // content trained on already is not trained again; a run that failed may be tried again
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        });
        outcome = `started ${child} on ${batch.rows.accepted} accepted rows and ${batch.rows.feedback} labelled predictions`;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        outcome = `not started: ${child} already ran on the same data and labels`;
      }
    } catch (err) {
      outcome = `failed: ${failureMessage(err)}`;
      await alert(
        'critical',
        'monitor-retrain-failed',
        `${model}: the retrain (${reason}) failed: ${failureMessage(err)}`,
        `${key}:failed`,
        {},
      );
    }
    await record('retrain', trigger, by, reason, key, { ...evidence }, outcome, child);
  }

  async function rollback(
    trigger: 'auto' | 'manual',
    by: string,
    reason: string,
    requestId: string,
    evidence: object,
    to?: number,
  ) {
    const child = championChangeWorkflowId(model, requestId);
    let outcome: string;
    try {
      const result = await executeChild(championChange, {
        workflowId: child,
        taskQueue: info.taskQueue,
        args: [
          {
            model,
            kind: 'rollback',
            to,
            reason,
            by,
            requestId,
            trainingTaskQueue: input.trainingTaskQueue,
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
      outcome = result.changed
        ? `rolled back from v${result.previous} to v${result.champion}`
        : `unchanged: v${result.champion} is champion`;
      if (result.changed) championMoved(state, result.champion);
      await alert(
        'critical',
        'monitor-rollback',
        `${model}: ${outcome} (${trigger === 'auto' ? 'automatically' : `asked by ${by}`}): ${reason}`,
        `${requestId}:alert`,
        { ...evidence, workflowId: child },
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        outcome = `already requested: ${child}`;
      } else {
        outcome = `failed: ${failureMessage(err)}`;
        await alert(
          'critical',
          'monitor-rollback-failed',
          `${model}: the rollback (${reason}) failed: ${failureMessage(err)}`,
          `${requestId}:failed`,
          {},
        );
      }
    }
    await record('rollback', trigger, by, reason, requestId, { ...evidence }, outcome, child);
  }

  async function act(planned: PlannedAction, report: ReportSummary): Promise<void> {
    const evidence = {
      report: report.id,
      window: { from: report.from, to: report.to },
      finding: planned.finding,
      summary: planned.reason,
      reportArtifact: report.report.uri,
      // the traced requests it is about, when the server traced some: an alert leads to their traces
      ...(planned.traces ? { traces: planned.traces } : {}),
    };
    const key = `report-${report.id}:${planned.kind}:${planned.finding}`;
    if (planned.kind === 'alert') {
      const message = `${model} v${report.champion ?? '?'}: ${planned.reason}`;
      await alert(planned.severity, `monitor-${planned.finding}`, message, `${info.workflowId}:${key}`, evidence);
      await record(
        'alert',
        'auto',
        'monitor',
        planned.reason,
        key,
        evidence,
        planned.opened ? 'incident opened' : 'incident still open',
        null,
      );
    } else if (planned.kind === 'retrain') {
      await retrain('auto', 'monitor', planned.reason, key, evidence);
    } else {
      await rollback('auto', 'monitor', planned.reason, `monitor-${report.id}`, evidence);
    }
  }

  /** One health check; says what came of it (for a person's request): the report, or why there is none. */
  async function check(): Promise<string> {
    const now = Date.now() - LOG_SETTLE_MS;
    const to = new Date(now).toISOString();
    const fromMs = Math.max(
      state.lastCheckTo ? Date.parse(state.lastCheckTo) : now - state.policy.everyMinutes * 60_000,
      now - MAX_WINDOW_MS,
    );
    let report: ReportSummary;
    try {
      report = await checks.monitorCheck({
        model,
        from: new Date(fromMs).toISOString(),
        to,
        policy: state.policy,
        previousUnusualRates: state.reports.map((r) => r.unusualRate).filter((r): r is number => r !== null),
        workflowId: info.workflowId,
      });
    } catch (err) {
      // the monitor outlives a failing check: it says so, and tries again at the next interval
      await alert(
        'critical',
        'monitor-check-failed',
        `${model}: the health check failed: ${failureMessage(err)}`,
        `${info.workflowId}:check-failed:${to}`,
        {},
      );
      return `check failed: ${failureMessage(err)}`;
    }
    state.lastCheckTo = to;
    state.checks++;
    remember(state.reports, report, KEEP_REPORTS);
    if (report.champion !== state.champion) championMoved(state, report.champion);
    if (state.paused) return `checked: report ${report.id}`;
    for (const planned of decide(state, report.findings, Date.now())) {
      await safely(`${planned.kind} (${planned.finding})`, () => act(planned, report));
    }
    return `checked: report ${report.id}`;
  }

  async function handle(request: ManualRequest): Promise<void> {
    let r = request;
    if (patched(SIGNED_DECISIONS)) {
      try {
        const verdict = await verified({
          action: r.kind,
          model,
          subject: { requestId: r.requestId, to: r.to ?? null },
          by: r.by,
          comment: r.reason,
          proof: r.proof,
        });
        r = { ...r, by: verdict.identity };
      } catch (err) {
        note({ kind: r.kind, trigger: 'manual', by: r.by, reason: r.reason, outcome: failureMessage(err) });
        return;
      }
    }
    const evidence = { requestId: r.requestId };
    if (r.kind === 'pause' || r.kind === 'resume') {
      setPaused(r.kind, r.by, r.reason);
    } else if (r.kind === 'check') {
      const outcome = await check();
      note({ kind: 'check', trigger: 'manual', by: r.by, reason: r.reason, outcome });
    } else if (r.kind === 'retrain') {
      await retrain('manual', r.by, r.reason, `request-${r.requestId}`, evidence);
    } else {
      await rollback('manual', r.by, r.reason, r.requestId, evidence, r.to);
    }
  }

  /**
   * Run one action; if it still fails after its activities' retries (a webhook down for minutes, the registry
   * unreachable), the monitor notes it and goes on: it must outlive any one failure.
   */
  async function safely(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.error('a monitor action failed', { model, what, error: failureMessage(err) });
      note({ kind: 'alert', trigger: 'auto', by: 'monitor', reason: what, outcome: `failed: ${failureMessage(err)}` });
    }
  }

  if (!input.state) {
    await safely('reading the champion and its policy', async () => {
      const ctx = await bookkeeping.monitorContext({ model });
      if (state.policyFrom === 'spec') {
        state.policy = ctx.policy;
        state.nextCheckAt = Date.now() + ctx.policy.everyMinutes * 60_000;
      }
      state.champion ??= ctx.champion;
    });
    state.checkRequested = true;
  }

  const historyLimit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const shouldContinueAsNew = (): boolean =>
    workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit;

  for (;;) {
    await condition(
      () => state.pending.length > 0 || state.checkRequested || shouldContinueAsNew(),
      Math.max(1, state.nextCheckAt - Date.now()),
    );
    while (state.pending.length > 0) {
      const next = state.pending.shift()!;
      await safely(`${next.kind} asked by ${next.by}`, () => handle(next));
    }
    const due = Date.now() >= state.nextCheckAt;
    if (due || state.checkRequested) {
      state.checkRequested = false;
      if (!state.paused) await check();
      if (due) state.nextCheckAt = Date.now() + state.policy.everyMinutes * 60_000;
    }
    setCurrentDetails(monitorDetails(state));
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      if (state.pending.length === 0 && !state.checkRequested) {
        state.generation++;
        await continueAsNew<typeof modelMonitor>({ ...input, state });
      }
    }
  }
}
