import { ApplicationFailure } from '@temporalio/workflow';
import type { ValidateOutput } from '../activities/validate';
import {
  approveCandidate,
  discardQuarantine,
  rejectCandidate,
  releaseQuarantine,
  type ApprovalAnswer,
  type ApprovalRequest,
  type ApprovalStatus,
  type QuarantineAnswer,
  type QuarantineRequest,
  type QuarantineStatus,
} from './definitions';
import { verified } from './access';
import { approvalPayload, quarantinePayload } from './message-shapes';
import { awaitPerson, listenForPerson, waitMs } from './person-wait';
import type { PipelineRun } from './pipeline-run';

export interface ApprovalOutcome {
  status: 'approved' | 'rejected' | 'expired';
  by: string;
  comment: string;
}
export interface QuarantineOutcome {
  decision: 'released' | 'discarded' | 'rejected';
  by: string;
  reason: string;
}

/**
 * A candidate's approval: `approve` and `reject` must name the exact version and artifact digest waiting, an
 * identity and a comment. A gate may ask for several different approvers (four eyes), and that the person who
 * started the run is not one of them. Returns the function that opens the wait.
 */
export function candidateApproval(
  run: PipelineRun,
): (version: number, artifactSha256: string, reason: string) => Promise<ApprovalOutcome> {
  const { spec, status, info, bookkeeping } = run;
  const needed = spec.gate.approval.approvers ?? 1;

  /** Who may not approve, and why: four eyes, as the spec's gate asks (checked with the signature, and audited). */
  const fourEyes = (version: number): Record<string, string> => {
    const excluded: Record<string, string> = {};
    for (const a of status.approval!.approvals ?? []) {
      excluded[a.by] = `four eyes: ${a.by} has approved v${version} already; it needs ${needed} different approvers`;
    }
    if (spec.gate.approval.distinctFromStarter && run.starter !== null) {
      excluded[run.starter] =
        `four eyes: ${run.starter} started this run and may not approve its candidate (gate.approval.distinctFromStarter)`;
    }
    return excluded;
  };

  listenForPerson<'approved' | 'rejected', ApprovalRequest, ApprovalAnswer>({
    what: 'an approval or rejection',
    parse: approvalPayload,
    refusal: (r) => {
      const waiting = status.approval;
      if (status.stage !== 'awaiting_approval' || !waiting || waiting.decision) {
        return `no candidate is waiting for approval (stage: ${status.stage})`;
      }
      if (waiting.expired) return `v${waiting.version} was not approved in time: the wait ended at ${waiting.deadline}`;
      if (r.version !== waiting.version)
        return `version ${r.version} is not the candidate awaiting approval (v${waiting.version})`;
      if (r.artifactSha256 !== waiting.artifactSha256) {
        return `artifact digest ${String(r.artifactSha256).slice(0, 12)}… is not the candidate's (${waiting.artifactSha256.slice(0, 12)}…)`;
      }
      if (!r.by.trim()) return 'an approval needs the identity of who gives it ("by")';
      if (!r.comment.trim()) return 'an approval needs a comment';
      return null;
    },
    decisions: [
      ['approved', approveCandidate],
      ['rejected', rejectCandidate],
    ],
    decide: async (kind, r, signed) => {
      const waiting = status.approval!;
      const { version, artifactSha256 } = waiting;
      if (!signed) {
        waiting.decision = { kind, by: r.by.trim(), comment: r.comment.trim() };
        return { decision: kind, version };
      }
      // another decision may have landed while this one waited its turn
      if (waiting.decision) {
        throw ApplicationFailure.nonRetryable(
          `no candidate is waiting for approval: v${version} was already ${waiting.decision.kind} by ${waiting.decision.by}`,
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
        kind === 'approved' ? fourEyes(version) : undefined,
      );
      // the deadline may have passed while the signature was checked
      if (waiting.expired) {
        throw ApplicationFailure.nonRetryable(
          `v${version} was not approved in time: the wait ended at ${waiting.deadline}`,
          'ConflictError',
        );
      }
      let by = verdict.identity;
      if (kind === 'approved') {
        const approvals = (waiting.approvals ??= []);
        approvals.push({ by, comment: r.comment.trim(), at: new Date(Date.now()).toISOString() });
        if (approvals.length < needed) {
          await run.alert(
            'info',
            'approval-partial',
            `${spec.name} v${version} approved by ${by} (${approvals.length} of ${needed} approvers)`,
          );
          return { decision: kind, version, awaiting: needed - approvals.length };
        }
        by = approvals.map((a) => a.by).join(' + ');
      }
      waiting.decision = { kind, by, comment: r.comment.trim() };
      return { decision: kind, version };
    },
  });

  return async (version, artifactSha256, reason) => {
    const since = Date.now();
    const timeout = spec.gate.approval.timeout;
    const ms = waitMs(timeout);
    const request = await bookkeeping.requestApproval({
      model: spec.name,
      version,
      artifactSha256,
      workflowId: info.workflowId,
      runId: info.runId,
    });
    const waiting: ApprovalStatus = (status.approval = {
      version,
      artifactSha256,
      since: new Date(since).toISOString(),
      deadline: new Date(since + ms).toISOString(),
      ...(needed > 1 ? { approversNeeded: needed } : {}),
    });
    const decided = await awaitPerson(
      run,
      { stage: 'awaiting_approval', since, ms },
      () => waiting.decision !== undefined,
      () =>
        run.alert(
          'info',
          'approval-requested',
          `${spec.name} v${version} awaits approval until ${waiting.deadline}: ${reason}`,
        ),
      () => (waiting.expired = true),
    );
    const outcome: ApprovalOutcome = decided
      ? { status: waiting.decision!.kind, by: waiting.decision!.by, comment: waiting.decision!.comment }
      : { status: 'expired', by: 'timeout', comment: `nobody approved within ${timeout}` };
    await bookkeeping.decideApproval({ id: request.id, ...outcome });
    if (outcome.status !== 'approved') {
      await run.alert(
        'warning',
        `approval-${outcome.status}`,
        `${spec.name} v${version} not promoted: ${outcome.status} by ${outcome.by} — ${outcome.comment}`,
      );
    }
    return outcome;
  };
}

/**
 * A batch that broke its contract, held until a person releases it (its good rows train) or discards it, or until
 * the spec's quarantine timeout rejects it. `release` and `discard` must name the batch (12+ characters of its
 * sha256), an identity and a reason. Returns the function that opens the wait.
 */
export function batchQuarantine(run: PipelineRun): (v: ValidateOutput) => Promise<QuarantineOutcome> {
  const { spec, status, bookkeeping } = run;

  listenForPerson<'released' | 'discarded', QuarantineRequest, QuarantineAnswer>({
    what: 'a quarantine decision',
    parse: quarantinePayload,
    refusal: (request) => {
      const held = status.quarantine;
      if (status.stage !== 'quarantined' || !held || held.decision) {
        return `no batch is waiting in quarantine (stage: ${status.stage})`;
      }
      if (held.expired) return `the batch was rejected: nobody decided by its deadline ${held.deadline}`;
      const prefix = request.dataset.trim().toLowerCase();
      if (prefix.length < 12 || !held.dataset.startsWith(prefix)) {
        return `dataset "${request.dataset}" does not name the quarantined batch ${held.dataset.slice(0, 12)}… (give 12+ characters of its sha256)`;
      }
      if (!request.by.trim()) return 'a decision needs the identity of who makes it ("by")';
      if (!request.reason.trim()) return 'a decision needs a reason';
      return null;
    },
    decisions: [
      ['released', releaseQuarantine],
      ['discarded', discardQuarantine],
    ],
    decide: async (kind, request, signed) => {
      const held = status.quarantine!;
      let by = request.by.trim();
      if (signed) {
        if (held.decision) {
          throw ApplicationFailure.nonRetryable(
            `no batch is waiting in quarantine: it was already ${held.decision.kind} by ${held.decision.by}`,
            'ConflictError',
          );
        }
        const verdict = await verified({
          action: kind === 'released' ? 'release' : 'discard',
          model: spec.name,
          subject: { dataset: held.dataset },
          by: request.by,
          comment: request.reason,
          proof: request.proof,
        });
        // the deadline may have passed while the signature was checked
        if (held.expired) {
          throw ApplicationFailure.nonRetryable(
            `the batch was rejected: nobody decided by its deadline ${held.deadline}`,
            'ConflictError',
          );
        }
        by = verdict.identity;
      }
      held.decision = { kind, by, reason: request.reason.trim() };
      return { decision: kind, dataset: held.dataset };
    },
  });

  return async (v) => {
    const since = Date.now();
    const timeout = spec.validation.quarantine.timeout;
    const ms = waitMs(timeout);
    const batch = status.dataset!.sha256;
    const held: QuarantineStatus = (status.quarantine = {
      validationId: v.validationId,
      dataset: batch,
      since: new Date(since).toISOString(),
      deadline: new Date(since + ms).toISOString(),
      summary: v.summary,
      report: v.report,
      html: v.html,
    });
    const decided = await awaitPerson(
      run,
      { stage: 'quarantined', since, ms },
      () => held.decision !== undefined,
      () =>
        run.alert('critical', 'quarantine', `batch ${batch.slice(0, 12)} quarantined: ${v.summary}`, {
          report: v.report.uri,
          html: v.html.uri,
          deadline: held.deadline,
        }),
      () => (held.expired = true),
    );
    const ended: QuarantineOutcome = decided
      ? { decision: held.decision!.kind, by: held.decision!.by, reason: held.decision!.reason }
      : { decision: 'rejected', by: 'timeout', reason: `nobody released or discarded the batch within ${timeout}` };
    await bookkeeping.decideQuarantine({ validationId: v.validationId, ...ended });
    if (ended.decision === 'rejected') {
      await run.alert('critical', 'quarantine-rejected', `batch ${batch.slice(0, 12)} rejected: ${ended.reason}`);
    } else {
      await run.alert(
        'info',
        `quarantine-${ended.decision}`,
        `batch ${batch.slice(0, 12)} ${ended.decision} by ${ended.by}: ${ended.reason}`,
      );
    }
    return ended;
  };
}
