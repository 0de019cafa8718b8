import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import { BOOKKEEPING, heavyWork } from './activity-options';
import {
  LumenModel,
  LumenOutcome,
  LumenStage,
  LumenVersion,
  TRAINING_QUEUE,
  type VerifyInput,
  type VerifyResult,
} from './definitions';

const registry = proxyActivities<PipelineActivities>(BOOKKEEPING);

/**
 * `lumen verify`: re-hash a registered version's bytes and, when they match, load it and predict its canary in a
 * fresh process. The result replaces the load check on record, so an artifact restored after corruption can be
 * trusted again (and one that broke is refused by every promotion and rollback until then).
 */
export async function verifyModel(input: VerifyInput): Promise<VerifyResult> {
  const info = workflowInfo();
  const heavy = proxyActivities<TrainingActivities>(heavyWork(input.trainingTaskQueue ?? TRAINING_QUEUE, undefined));
  upsertSearchAttributes([
    { key: LumenModel, value: input.model },
    { key: LumenStage, value: 'verify' },
  ]);
  const target = await registry.prepareVerification({ model: input.model, version: input.version });
  let passed = false;
  let detail = target.bytesProblem ?? '';
  if (!target.bytesProblem) {
    const check = await heavy.loadCheck({
      model: input.model,
      version: target.version,
      artifact: target.artifact,
      canary: target.canary,
    });
    passed = check.passed;
    detail = check.detail;
  }
  const name = `${input.model} v${target.version}`;
  if (!passed) {
    await registry.alert({
      model: input.model,
      severity: 'critical',
      kind: 'verify-failed',
      message: `${name} failed verification (asked by ${input.by}): ${detail}`,
      details: { version: target.version },
      workflowId: info.workflowId,
      runId: info.runId,
      key: `${info.workflowId}:verify-failed`,
    });
  } else if (target.previous && !target.previous.passed) {
    await registry.alert({
      model: input.model,
      severity: 'info',
      kind: 'verify-cleared',
      message: `${name} verified again (asked by ${input.by}); the load check that failed at ${target.previous.at} is cleared`,
      details: { version: target.version },
      workflowId: info.workflowId,
      runId: info.runId,
      key: `${info.workflowId}:verify-cleared`,
    });
  }
  upsertSearchAttributes([
    { key: LumenStage, value: 'done' },
    { key: LumenVersion, value: target.version },
    { key: LumenOutcome, value: passed ? 'verified' : 'verify-failed' },
  ]);
  return { model: input.model, version: target.version, passed, detail, previous: target.previous };
}
