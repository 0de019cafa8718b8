import type { ActivityOptions, RetryPolicy } from '@temporalio/common';

/**
 * Timeouts and retries of Lumen's activities, declared once. The rule: a worker that dies mid-activity costs at
 * most about half a minute. Work that can run long (reading and checking data, training, scoring, load checks)
 * heartbeats every second (activities/context.ts), so the server notices a dead worker after HEARTBEAT_TIMEOUT
 * and retries elsewhere; bookkeeping that takes milliseconds is bounded by a short start-to-close timeout instead.
 */

/** How soon a dead worker is noticed during long work. */
export const HEARTBEAT_TIMEOUT = '20 seconds';

/** Failures that retrying the same input can never fix. */
export const NON_RETRYABLE = [
  'SpecError',
  'SourceError',
  'DataValidationError',
  'ArtifactIntegrityError',
  'ChampionChangedError',
  'NotFoundError',
  'ConflictError',
  'LoadCheckFailed',
  'TrainingDiverged',
  'ResourceLimitError',
];

const retry: RetryPolicy = {
  initialInterval: '1 second',
  maximumInterval: '30 seconds',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE,
};

/** Registry reads and writes, alerts (a webhook call is capped at 10 s). */
export const BOOKKEEPING: ActivityOptions = { startToCloseTimeout: '30 seconds', retry };

/** Ingest and validation: minutes on a big batch, heartbeating all along. */
export const DATA_WORK: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry,
};

/** Reading a window of a Kafka topic: as long as a day's window takes to fill, heartbeating all along. */
export const STREAM_READ: ActivityOptions = { ...DATA_WORK, startToCloseTimeout: '26 hours' };

/** Training, scoring and load checks, on the training task queue. */
export function heavyWork(taskQueue: string, heartbeatTimeout: ActivityOptions['heartbeatTimeout']): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: heartbeatTimeout ?? HEARTBEAT_TIMEOUT,
    retry: { ...retry, initialInterval: '2 seconds', maximumInterval: '1 minute' },
  };
}
