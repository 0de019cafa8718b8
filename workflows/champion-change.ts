import {
  ApplicationFailure,
  log,
  deprecatePatch,
  patched,
  proxyActivities,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import {
  LumenModel,
  LumenOutcome,
  LumenStage,
  LumenVersion,
  TRAINING_QUEUE,
  type ChampionChangeInput,
  type ChampionChangeResult,
} from './definitions';
import { SIGNED_DECISIONS, verified } from './access';
import { BOOKKEEPING, heavyWork } from './activity-options';
import { failureType } from './failures';
import { SEARCH_ATTRIBUTES_V2 } from './pipeline-run';

const registry = proxyActivities<PipelineActivities>(BOOKKEEPING);

/**
 * Promotions since this patch check that the version is fit for traffic (or carry an override); those before it
 * replay without the check.
 */
const PROMOTE_FITNESS = 'lumen-promote-fitness';

/** how often a rollback to "previous" is retried when another change moved the champion in between */
const MAX_ATTEMPTS = 20;

/**
 * A manual promotion, or a rollback (to the previous champion unless a version is named), as a durable,
 * recorded workflow: the target's bytes are re-verified (and load-checked in a fresh process if that never passed),
 * then the alias moves in one registry transaction, idempotently per request. "Make vN champion" holds whatever
 * the champion is; "roll back to previous" depends on it, so it moves by compare-and-set and, when another change
 * won the race, re-reads the champion and tries again after a short random pause.
 */
export async function championChange(input: ChampionChangeInput): Promise<ChampionChangeResult> {
  const info = workflowInfo();
  const heavy = proxyActivities<TrainingActivities>(heavyWork(input.trainingTaskQueue ?? TRAINING_QUEUE, undefined));
  upsertSearchAttributes([
    { key: LumenModel, value: input.model },
    { key: LumenStage, value: input.kind },
  ]);
  if (input.kind === 'promote' && input.to === undefined) {
    throw ApplicationFailure.nonRetryable('a promotion must name the version to promote', 'ConflictError');
  }
  if (!input.reason?.trim() || !input.by?.trim()) {
    throw ApplicationFailure.nonRetryable(
      'a promotion or rollback needs a reason and who asks for it',
      'ConflictError',
    );
  }
  let by = input.by;
  // a person's request is verified; a change another Lumen workflow asks for (the monitor's rollback) was already
  if (!info.parent && patched(SIGNED_DECISIONS)) {
    const verdict = await verified({
      action: input.kind,
      model: input.model,
      subject: {
        to: input.to ?? 'previous',
        requestId: input.requestId,
        ...(input.override ? { override: input.override } : {}),
      },
      by: input.by,
      comment: input.reason,
      proof: input.proof,
    });
    by = verdict.identity;
  }
  // a promotion by hand is a route to all the traffic: a version unfit for it needs an override that says why
  if (input.kind === 'promote' && input.to !== undefined && patched(PROMOTE_FITNESS)) {
    const unfit = await registry.trafficFitness({ model: input.model, version: input.to });
    if (unfit && !input.override?.trim()) {
      throw ApplicationFailure.nonRetryable(
        `${input.model} v${input.to} may not take traffic: ${unfit}. Promote it anyway with --override "<why>" ` +
          `(signed and audited with the promotion)`,
        'ConflictError',
      );
    }
  }
  for (let attempt = 1; ; attempt++) {
    // the target's bytes are re-verified every time; a fresh-process load check runs when none has passed yet
    const target = await registry.resolveMoveTarget({
      model: input.model,
      to: input.to ?? 'previous',
      kind: input.kind,
    });
    let checked = `digest verified; load check passed earlier`;
    if (target.needsLoadCheck) {
      const check = await heavy.loadCheck({
        model: input.model,
        version: target.version,
        artifact: target.artifact,
        canary: target.canary,
      });
      if (!check.passed) {
        throw ApplicationFailure.nonRetryable(
          `${input.model} v${target.version} failed its load check: ${check.detail}`,
          'LoadCheckFailed',
        );
      }
      checked = check.detail;
    }
    try {
      const moved = await registry.moveChampion({
        model: input.model,
        to: target.version,
        // an explicit target is right whatever the champion is now; "previous" only relative to the champion read
        expectedChampion: input.to === undefined ? target.champion : 'any',
        kind: input.kind,
        reason: input.reason,
        actor: by,
        workflowId: info.workflowId,
        runId: info.runId,
        requestId: input.requestId,
      });
      upsertSearchAttributes([{ key: LumenStage, value: 'done' }]);
      deprecatePatch(SEARCH_ATTRIBUTES_V2);
      upsertSearchAttributes([
        { key: LumenVersion, value: moved.champion },
        { key: LumenOutcome, value: moved.changed ? input.kind : 'unchanged' },
      ]);
      return { model: input.model, kind: input.kind, ...moved, loadCheck: checked };
    } catch (err) {
      if (failureType(err) !== 'ChampionChangedError' || attempt >= MAX_ATTEMPTS) throw err;
      log.info('champion moved meanwhile; resolving the target again', { model: input.model, attempt });
      await sleep(50 + Math.floor(Math.random() * 200 * Math.min(attempt, 5)));
    }
  }
}
