import path from 'node:path';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { SourceRef } from '../lib/data/source';
import { LumenModel, LumenStage } from '../workflows/definitions';
import { scheduledRunWorkflowId, type ScheduledTrainingInput } from '../workflows/schedule-definitions';
import { clientConfig, taskQueues, withClient, workflowUrl } from '../client/connection';
import { CliError, EXIT, parseVersion } from '../client/errors';
import { openRegistry } from './registry-commands';
import { triggerSpec } from './sources';
import { printJson, table } from '../client/output';
import { decideHere } from '../client/signing';
import { policyOfSpec, weakenings } from '../lib/access/model-policy';
import { hashJson } from '../lib/hash';
import { primaryMetric } from '../lib/spec';

/**
 * lumen schedule create|list|show|pause|resume|trigger|delete: periodic training as Temporal Schedules. A run
 * trains on a source file as it is then (skipped when its content was trained on already), or on the newest
 * accepted data plus labelled feedback. Overlap policy: skip (one run at a time). After --max-failures failed runs
 * in a row the schedule pauses itself and raises a critical alert.
 */

const DURATION = /^\d+(\.\d+)?\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)$/i;

export async function scheduleCreate(
  model: string,
  opts: {
    every?: string;
    cron?: string;
    source?: string;
    format?: string;
    spec?: string;
    id?: string;
    maxFailures?: string;
    paused?: boolean;
    note?: string;
    actor?: string;
  },
): Promise<void> {
  if (!opts.every === !opts.cron) throw new CliError('give one of --every <duration> or --cron "<expression>"');
  if (opts.every && !DURATION.test(opts.every.trim())) {
    throw new CliError(`--every must be a duration such as "30 minutes", "6h" or "1 day", got "${opts.every}"`);
  }
  const spec = await triggerSpec(model, opts.spec);
  let source: SourceRef | undefined;
  if (opts.source) {
    // a path is resolved here: the worker that runs the schedule may have another working folder
    const uri = /^[a-z][a-z0-9+.-]*:/i.test(opts.source) ? opts.source : path.resolve(opts.source);
    source = { uri, ...(opts.format ? { format: opts.format as SourceRef['format'] } : {}) };
  }
  const scheduleId = opts.id ?? `train:${model}`;
  const input: ScheduledTrainingInput = {
    scheduleId,
    model,
    ...(source ? { source } : {}),
    ...(spec ? { spec } : {}),
    trainingTaskQueue: taskQueues().training,
    maxFailures: opts.maxFailures ? parseVersion(opts.maxFailures, '--max-failures') : 3,
  };
  // the creation is a decision: verified and audited here, and each run is checked against it (same content)
  async function decideCreation(): Promise<string> {
    const { registry } = await openRegistry();
    try {
      const earlier = await registry.standingGrant('schedule', scheduleId);
      if (earlier && earlier.model !== model) {
        throw new CliError(
          `schedule id ${scheduleId} was granted for ${earlier.model} (by ${earlier.grantedBy}); choose another --id`,
        );
      }
      const registered = spec ? await registry.modelPolicy(model) : null;
      const loosened = registered
        ? weakenings(registered.policy, policyOfSpec(spec!), primaryMetric(spec!.task).name)
        : [];
      if (loosened.length) {
        throw new CliError(
          `${opts.spec}: its runs would be refused: the spec would loosen the registered policy of ${model} ` +
            `(v${registered!.version}): ${loosened.join('; ')}`,
        );
      }
      const content = hashJson(input);
      const verdict = await decideHere(
        registry,
        { action: 'schedule', model, subject: { scheduleId, change: 'create', content }, comment: opts.note ?? '' },
        { actor: opts.actor, usedAt: `cli schedule create ${scheduleId}` },
      );
      await registry.grant({
        kind: 'schedule',
        id: scheduleId,
        model,
        contentSha256: content,
        grantedBy: verdict.identity,
        proof: verdict.proof,
      });
      return verdict.identity;
    } finally {
      registry.close();
    }
  }
  await withClient(async (client) => {
    // a schedule that exists is not granted anew (its grant would be overwritten before the create failed)
    const exists = await client.schedule
      .getHandle(scheduleId)
      .describe()
      .then(
        () => true,
        (err: unknown) => {
          if (err instanceof ScheduleNotFoundError) return false;
          throw err;
        },
      );
    if (exists)
      throw new CliError(`schedule ${scheduleId} exists already (lumen schedule show ${scheduleId}, or delete it)`);
    const by = await decideCreation();
    try {
      await client.schedule.create({
        scheduleId,
        spec: opts.every
          ? { intervals: [{ every: opts.every.trim() as `${number}s` }] }
          : { cronExpressions: [opts.cron!] },
        action: {
          type: 'startWorkflow',
          workflowType: 'scheduledTraining',
          args: [input],
          taskQueue: taskQueues().pipeline,
          workflowId: scheduledRunWorkflowId(scheduleId),
          typedSearchAttributes: [
            { key: LumenModel, value: model },
            { key: LumenStage, value: 'scheduled' },
          ],
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes', pauseOnFailure: false },
        state: {
          paused: opts.paused ?? false,
          note: opts.note ?? `created by ${by}: train ${model} on ${source ? source.uri : 'accepted data + feedback'}`,
        },
      });
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        throw new CliError(`schedule ${scheduleId} exists already (lumen schedule show ${scheduleId}, or delete it)`);
      }
      if ((err as Error).message?.includes('invalid')) {
        throw new CliError(`the server refused the schedule: ${(err as Error).message.split('\n')[0]}`);
      }
      throw err;
    }
    console.log(
      `schedule ${scheduleId}: train ${model} ${opts.every ? `every ${opts.every}` : `on "${opts.cron}"`} on ${source ? source.uri : 'the newest accepted data plus labelled feedback'}${opts.paused ? ' (paused)' : ''}`,
    );
    console.log(
      `runs are named ${scheduledRunWorkflowId(scheduleId)}-<time>; overlap: skip; pauses after ${input.maxFailures} failures in a row`,
    );
  });
}

export async function scheduleList(opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    const rows: Record<string, unknown>[] = [];
    for await (const s of client.schedule.list()) {
      const action = s.action as { workflowType?: string } | undefined;
      if (action?.workflowType !== 'scheduledTraining') continue;
      rows.push({
        id: s.scheduleId,
        paused: s.state.paused,
        note: s.state.note ?? '',
        next: s.info.nextActionTimes[0]?.toISOString() ?? null,
        last: s.info.recentActions.at(-1)?.takenAt.toISOString() ?? null,
      });
    }
    if (opts.json) return printJson(rows);
    if (rows.length === 0) return console.log('no training schedules (lumen schedule create <model> --every 1d)');
    console.log(
      table(
        ['schedule', 'state', 'next run', 'last run', 'note'],
        rows.map((r) => [
          r.id as string,
          r.paused ? 'paused' : 'active',
          r.next as string | null,
          r.last as string | null,
          r.note as string,
        ]),
      ),
    );
  });
}

export async function scheduleShow(scheduleId: string, opts: { json?: boolean }): Promise<void> {
  const config = clientConfig();
  await withClient(async (client) => {
    const d = await described(client.schedule.getHandle(scheduleId));
    const { registry } = await openRegistry();
    let runs;
    try {
      runs = await registry.listScheduleRuns(scheduleId, 20);
    } finally {
      registry.close();
    }
    if (opts.json) return printJson({ schedule: d, runs });
    console.log(`${scheduleId}: ${d.state.paused ? 'PAUSED' : 'active'}${d.state.note ? ` — ${d.state.note}` : ''}`);
    console.log(`next runs: ${d.info.nextActionTimes.map((t) => t.toISOString()).join(', ') || '–'}`);
    if (runs.length) {
      console.log(
        table(
          ['at', 'run', 'ok', 'detail'],
          runs.map((r) => [r.at, r.workflowId, r.ok ? 'yes' : 'FAILED', r.detail]),
        ),
      );
    } else console.log('no run recorded yet');
    for (const a of d.info.recentActions.slice(-3)) {
      console.log(`web ui  ${workflowUrl(config, a.action.workflow.workflowId)}`);
    }
  });
}

async function described(handle: ReturnType<import('@temporalio/client').ScheduleClient['getHandle']>) {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) {
      throw new CliError(`no schedule ${handle.scheduleId} (see: lumen schedule list)`, EXIT.failed);
    }
    throw err;
  }
}

export async function scheduleChange(
  kind: 'pause' | 'resume' | 'trigger' | 'delete',
  scheduleId: string,
  opts: { reason?: string; actor?: string },
): Promise<void> {
  await withClient(async (client) => {
    const handle = client.schedule.getHandle(scheduleId);
    const d = await described(handle);
    const model = (d.action as { args?: ScheduledTrainingInput[] }).args?.[0]?.model ?? '*';
    // a change of a schedule is a decision too: verified and audited; deleting one revokes what it was granted
    const { registry } = await openRegistry();
    let by: string;
    try {
      const verdict = await decideHere(
        registry,
        { action: 'schedule', model, subject: { scheduleId, change: kind }, comment: opts.reason ?? '' },
        { actor: opts.actor, usedAt: `cli schedule ${kind} ${scheduleId}` },
      );
      by = verdict.identity;
      if (kind === 'delete') await registry.revokeGrant('schedule', scheduleId, by);
    } finally {
      registry.close();
    }
    const note = `${kind} by ${by}${opts.reason ? `: ${opts.reason}` : ''}`;
    if (kind === 'pause') await handle.pause(note);
    else if (kind === 'resume') await handle.unpause(note);
    else if (kind === 'trigger') await handle.trigger(ScheduleOverlapPolicy.SKIP);
    else await handle.delete();
    console.log(`${scheduleId}: ${kind === 'trigger' ? 'a run starts now (unless one is running)' : note}`);
  });
}
