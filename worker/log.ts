import type { LogEntry } from '@temporalio/worker';

/**
 * How a worker's log reads: one line per event — time, level, message, and what it is about (the workflow or
 * activity, the model, the numbers) — instead of the SDK's block of every context field; `--verbose` (or
 * LUMEN_LOG_VERBOSE=1) prints every field as JSON on the same line.
 */

/** Context fields the SDK adds to every line, shown only in verbose mode (the workflow id and activity type stay). */
const CONTEXT = new Set([
  'sdkComponent',
  'namespace',
  'taskQueue',
  'runId',
  'workflowType',
  'activityId',
  'isLocal',
  'attempt',
  'taskToken',
  'workflowNamespace',
  'workflowRunId',
]);

/** Lines that say nothing a person needs: the training worker runs no workflows on purpose. */
const QUIET = [/^No workflows registered, not polling for workflow tasks/, /^No Nexus services registered/];

function shown(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (typeof value === 'string') return value.length > 120 ? `${value.slice(0, 117)}…` : value;
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return null; // nested values are for --verbose
}

export function formatLogLine(entry: LogEntry, verbose: boolean): string | null {
  if (!verbose && QUIET.some((q) => q.test(entry.message))) return null;
  const at = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString().slice(11, 23);
  const meta = (entry.meta ?? {}) as Record<string, unknown>;
  let tail: string;
  if (verbose) {
    tail = Object.keys(meta).length
      ? ` ${JSON.stringify(meta, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`
      : '';
  } else {
    // what it is about: the workflow, and the activity when it is one of its activities
    const about = [meta.workflowId, meta.activityType].filter((x) => typeof x === 'string').join(' ');
    const fields = Object.entries(meta)
      .filter(([k]) => !CONTEXT.has(k) && k !== 'workflowId' && k !== 'activityType')
      .flatMap(([k, v]) => {
        const s = shown(v);
        return s === null ? [] : [`${k}=${s}`];
      });
    tail = `${about ? ` [${about}]` : ''}${fields.length ? ` ${fields.join(' ')}` : ''}`;
  }
  return `${at} ${entry.level.padEnd(5)} ${entry.message}${tail}`;
}

export function workerLogFunction(verbose: boolean): (entry: LogEntry) => void {
  return (entry) => {
    const line = formatLogLine(entry, verbose);
    if (line !== null) process.stderr.write(`${line}\n`);
  };
}
