import {
  defaultPayloadConverter,
  WorkflowFailedError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import type { TrainHeartbeat } from '../activities/train';
import {
  LumenStage,
  statusQuery,
  type PipelineResult,
  type PipelineStatus,
  type Stage,
} from '../workflows/definitions';
import type { trainingPipeline } from '../workflows';
import { clientConfig, throughOutages, workflowUrl } from '../client/connection';
import { EXIT, type ExitCode } from '../client/errors';
import { describeFailure, formatResult } from '../client/format';
import { color, interactive, printJson } from '../client/output';

export interface FollowOptions {
  /** keep following while the run waits for a person (default: say what to type, and return) */
  wait: boolean;
  json: boolean;
  /** the spec's epoch count, for "epoch 3/6" */
  epochs: number;
  /** how often to look (ms) */
  every?: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const WAITING: Stage[] = ['quarantined', 'awaiting_approval'];

/**
 * How a finished run ends the command: a promotion (or a batch trained before, whose result stands) is 0, a run
 * that left no new champion is 5, so a CI job can tell the two apart, and a failed load check is a failure.
 */
export function exitFor(outcome: PipelineResult['outcome']): ExitCode {
  if (outcome === 'load-check-failed') return EXIT.failed;
  return outcome === 'promoted' || outcome === 'duplicate' ? EXIT.ok : EXIT.notPromoted;
}

/**
 * Follow a pipeline run as it goes: a live status line at a terminal (stage; epoch, batch and loss while it
 * trains; retries as they happen), one line per change otherwise. When the run waits for a person, say so and what
 * to type, and return EXIT.waiting — unless `wait`, then keep following. At the end, print the result.
 * Everything comes from the server's view of the run (search attributes, pending activities and their last
 * heartbeat), so it works from any machine and needs no worker to answer.
 */
export async function followRun(
  handle: WorkflowHandle<typeof trainingPipeline>,
  opts: FollowOptions,
): Promise<ExitCode> {
  const config = clientConfig();
  const started = Date.now();
  let printed = '';
  let announcedWait = '';
  let lastEpoch = 0;
  const status = (line: string): void => {
    if (opts.json) return;
    if (interactive) {
      process.stdout.write(`\r\x1b[2K${line}`);
      printed = line;
    } else if (line !== printed) {
      console.log(line);
      printed = line;
    }
  };
  const clear = (): void => {
    if (interactive && printed && !opts.json) process.stdout.write('\r\x1b[2K');
    printed = '';
  };
  // an outage of the server is not the run's failure: the run goes on there, and this follows it when it is back
  let outage = 0;
  const patiently = <T>(call: () => Promise<T>): Promise<T> =>
    throughOutages(config.address, call, (seconds, reason) => {
      if (!outage && !interactive) clear();
      outage = Math.max(outage, 1);
      status(color.yellow(`server unreachable at ${config.address}, retrying (${seconds} s): ${reason}`));
    }).then((value) => {
      if (outage) {
        clear();
        if (!opts.json) console.log(color.dim(`server back at ${config.address}; following the run again`));
        outage = 0;
      }
      return value;
    });
  for (let tick = 0; ; tick++) {
    const d = await patiently(() => handle.describe());
    if (d.status.name !== 'RUNNING') break;
    const stage = (d.typedSearchAttributes.get(LumenStage) ?? 'queued') as Stage | 'queued';
    const pending = d.raw.pendingActivities ?? [];
    let line = `${interactive ? `${SPINNER[tick % SPINNER.length]} ` : ''}${stage}`;
    const h = trainingBeat(d);
    if (stage === 'train' && h) {
      const epoch = h.epoch ?? h.epochsDone;
      line += `  epoch ${epoch}/${opts.epochs}`;
      if (h.batch && h.batches) line += `  batch ${h.batch}/${h.batches}`;
      if (h.loss !== undefined) line += `  loss ${h.loss.toFixed(4)}`;
      if (!interactive && h.epochsDone > lastEpoch) {
        lastEpoch = h.epochsDone;
        line = `train  epoch ${h.epochsDone}/${opts.epochs} done${h.loss !== undefined ? `  loss ${h.loss.toFixed(4)}` : ''}`;
      }
    }
    const retrying = pending.find((a) => (a.attempt ?? 1) > 1);
    if (retrying) {
      const why = retrying.lastFailure?.message?.split('\n')[0] ?? 'previous attempt lost';
      line += color.yellow(`  retrying ${retrying.activityType?.name} (attempt ${retrying.attempt}: ${why})`);
    }
    if (stage === 'queued' && Date.now() - started > 15_000) {
      line += color.yellow('  — no worker has picked this run up yet: is one running? (npm run worker)');
    }
    if (WAITING.includes(stage as Stage)) {
      if (announcedWait !== stage) {
        clear();
        announcedWait = stage;
        const s = await patiently(() => handle.query(statusQuery)).catch(() => undefined);
        if (!opts.json) console.log(waitingFor(stage as Stage, s, handle.workflowId, d.runId, config));
        if (!opts.wait) {
          if (opts.json) printJson({ workflowId: handle.workflowId, stage, status: s ?? null });
          return EXIT.waiting;
        }
        if (!opts.json)
          console.log(color.dim('waiting for the decision here (--wait); Ctrl-C stops watching, not the run'));
      }
    } else {
      announcedWait = '';
    }
    status(line);
    await new Promise((r) => setTimeout(r, opts.every ?? 1000));
  }
  clear();
  try {
    const result: PipelineResult = await patiently(() => handle.result());
    if (opts.json) printJson(result);
    else console.log(formatResult(result));
    return exitFor(result.outcome);
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    if (opts.json) printJson({ workflowId: handle.workflowId, failed: describeFailure(err) });
    else console.error(`pipeline failed: ${describeFailure(err)}`);
    return EXIT.failed;
  }
}

/** The last heartbeat of a run's training activity, if it is training (the first beats of an attempt carry none). */
export function trainingBeat(d: WorkflowExecutionDescription): TrainHeartbeat | undefined {
  const training = (d.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'trainModel');
  const beat = training?.heartbeatDetails?.payloads?.[0];
  return beat ? defaultPayloadConverter.fromPayload<TrainHeartbeat | undefined>(beat) : undefined;
}

/** What the run waits for, and the commands that decide it. */
function waitingFor(
  stage: Stage,
  s: PipelineStatus | undefined,
  workflowId: string,
  runId: string,
  config: ReturnType<typeof clientConfig>,
): string {
  const link = workflowUrl(config, workflowId, runId);
  if (stage === 'quarantined') {
    const q = s?.quarantine;
    return [
      color.bold(color.yellow(`⏸ the batch is in quarantine${q ? ` until ${q.deadline}` : ''}: a person decides`)),
      ...(q ? [`  ${q.summary}`, `  report   ${q.html.uri}`] : []),
      `  release  lumen quarantine release ${workflowId} --reason "…"   (train on it anyway)`,
      `  discard  lumen quarantine discard ${workflowId} --reason "…"   (drop it)`,
      `  web ui   ${link}`,
    ].join('\n');
  }
  const a = s?.approval;
  const model = s?.model ?? '<model>';
  const version = a?.version ?? '<version>';
  return [
    color.bold(color.yellow(`⏸ ${model} v${version} awaits approval${a ? ` until ${a.deadline}` : ''}`)),
    ...(s?.verdict ? [`  ${s.verdict.reason}`] : []),
    `  approve  lumen approve ${model} --version ${version} --comment "…"`,
    `  reject   lumen reject ${model} --version ${version} --comment "…"`,
    `  web ui   ${link}`,
  ].join('\n');
}
