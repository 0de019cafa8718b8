import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AccessPolicy } from '../lib/access/policy';
import type { ArtifactStore } from '../lib/artifacts';
import { LumenError } from '../lib/errors';
import type { EpochStats } from '../lib/model/trainer';
import type { Finding } from '../lib/monitor/report';
import type { Registry } from '../lib/registry/types';
import type { ChampionMovedEvent } from '../workflows/monitor-definitions';

/** What activities need from the process they run in; built once per worker. */
export interface ActivityDeps {
  store: ArtifactStore;
  registry: Registry;
  /** git commit (or LUMEN_CODE_VERSION) of the code the worker runs */
  codeVersion: string;
  /** who may decide what (read on every decision, so an edit of access.json applies without a restart) */
  access?: () => AccessPolicy;
  /** what activities ask of Temporal itself (set by createWorkers; absent in unit tests: nobody is told) */
  temporal?: TemporalOps;
  /** what the worker measures for its `/metrics` (worker/metrics.ts); absent: nothing is measured */
  metrics?: ActivityMetrics;
}

/** What activities report to their worker's metrics. */
export interface ActivityMetrics {
  /** one finished epoch of a model's training */
  epoch(model: string, stats: EpochStats): void;
  /** one monitor check and what it found */
  monitorChecked(model: string, findings: readonly Finding[]): void;
  /** an alert, retrain or rollback a monitor recorded, by its policy (auto) or asked by a person (manual) */
  monitorAction(model: string, kind: string, trigger: string): void;
}

export interface TemporalOps {
  /** tell the model's monitor that its champion moved, starting the monitor if it is not running */
  championMoved(model: string, event: ChampionMovedEvent): Promise<void>;
  /** whether the model's monitor runs now (false: never started, or ended: terminated, failed, timed out) */
  monitorRunning(model: string): Promise<boolean>;
  /** pause a schedule, with a note saying why */
  pauseSchedule(scheduleId: string, note: string): Promise<void>;
}

/**
 * How often a running activity tells the server it is alive. Far below every heartbeat timeout the workflows set
 * (20 s), so a live worker is never mistaken for a dead one; the SDK batches the calls (see the workers'
 * maxHeartbeatThrottleInterval), so a short period costs nothing.
 */
export const HEARTBEAT_PERIOD_MS = 1000;

/** The details each running activity last reported, resent by its keep-alive. */
const lastDetails = new WeakMap<Context, unknown>();

/**
 * Record progress details (e.g. a checkpoint reference) and send them now. The keep-alive that `asActivity`
 * runs resends the latest details, so progress is never overwritten by an empty heartbeat.
 */
export function reportProgress(details: unknown): void {
  const ctx = Context.current();
  lastDetails.set(ctx, details);
  ctx.heartbeat(details);
}

/**
 * Heartbeat on a timer while an activity works. A worker that dies stops heartbeating, and the server retries the
 * activity elsewhere after the heartbeat timeout instead of waiting out the start-to-close timeout. Work that
 * keeps the event loop busy for long stretches must yield now and then (see lib/evaluation's bootstrap).
 */
function keepAlive(): () => void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return () => undefined; // called outside an activity (unit tests, the CLI's local check)
  }
  const beat = (): void => ctx.heartbeat(lastDetails.get(ctx));
  beat();
  const timer = setInterval(beat, HEARTBEAT_PERIOD_MS);
  return () => clearInterval(timer);
}

/**
 * Run an activity body with a heartbeat going, turning Lumen's non-retryable errors into non-retryable Temporal
 * failures of the same type name, with the message a person needs. Anything else stays retryable.
 */
export async function asActivity<T>(fn: () => Promise<T>): Promise<T> {
  const stop = keepAlive();
  try {
    return await fn();
  } catch (err) {
    if (err instanceof LumenError && !err.retryable) {
      throw ApplicationFailure.create({
        message: err.message,
        type: err.name,
        nonRetryable: true,
        details: [err.details],
      });
    }
    throw err;
  } finally {
    stop();
  }
}
