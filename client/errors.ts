import type { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { LumenError } from '../lib/errors';
import { describeFailure } from './format';

/**
 * Exit codes of every `lumen` command (docs/operating.md, "Exit codes"):
 *   0  done (for `start`: the run ended; its outcome is printed)
 *   1  `check` only: the batch passes with warnings
 *   2  failed or refused: a run failed, a check failed, a verification or a change was refused
 *   3  `start` only: the run waits for a person (quarantine or approval); what to type is printed
 *   4  the command could not run: bad arguments, an invalid spec, a missing file, an unreachable server
 *   5  `start` only: the run ended without a new champion (the gate failed, approval was refused, the batch was
 *      discarded, or the policy registers without promoting)
 */
export const EXIT = { ok: 0, warn: 1, failed: 2, waiting: 3, usage: 4, notPromoted: 5 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI explains in one line, with the exit code it means. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.usage,
  ) {
    super(message);
  }
}

/** What to tell a person about an error, and which exit code it means: the cause, in one line, no stack. */
export function explain(err: unknown, address?: string): { message: string; exitCode: ExitCode } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (serverUnreachable(err)) {
    // one line naming the address, never gRPC's own text ("14 UNAVAILABLE: No connection established…")
    return {
      message:
        `cannot reach the Temporal server at ${address ?? 'the configured address'} (TEMPORAL_ADDRESS). ` +
        'Start one with `lumen server` (or `npm run demo -- --keep`), or point TEMPORAL_ADDRESS at yours.',
      exitCode: EXIT.usage,
    };
  }
  if (isTemporalError(err, 'WorkflowUpdateFailedError')) {
    // the update's validator (or handler) said why
    const why = innermost(err);
    return { message: /\brefused\b/.test(why) ? why : `refused: ${why}`, exitCode: EXIT.failed };
  }
  if (isTemporalError(err, 'WorkflowUpdateRPCTimeoutOrCancelledError')) {
    return { message: 'the request timed out: is a pipeline worker running?', exitCode: EXIT.failed };
  }
  if (isTemporalError<WorkflowFailedError>(err, 'WorkflowFailedError'))
    return { message: describeFailure(err), exitCode: EXIT.failed };
  if (isTemporalError<WorkflowNotFoundError>(err, 'WorkflowNotFoundError')) {
    return { message: `no workflow "${err.workflowId}" on this server`, exitCode: EXIT.usage };
  }
  if (err instanceof LumenError) return { message: err.message, exitCode: EXIT.usage };
  return { message: innermost(err), exitCode: EXIT.failed };
}

/**
 * Whether an error is one of the Temporal client's, by the name its class gives it: read without loading the client
 * (a quarter of a second), which commands that only read the registry never need.
 */
function isTemporalError<E extends Error = Error>(err: unknown, name: string): err is E {
  return err instanceof Error && err.name === name;
}

function innermost(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = String(err);
  while (e) {
    if (e.message) message = e.message;
    e = e.cause as typeof e;
  }
  return message;
}

/** A whole number ≥ 1 from a command-line option, or a clear refusal naming the option. */
export function parseVersion(text: string, option = '--version'): number {
  const v = Number(text.trim().replace(/^v/i, ''));
  if (!/^v?\d+$/i.test(text.trim()) || !Number.isSafeInteger(v) || v < 1) {
    throw new CliError(`${option} must be a version number (1, 2, … or v3), got "${text}"`);
  }
  return v;
}

/** A positive whole number from a command-line option. */
export function parseCount(text: string, option: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1) throw new CliError(`${option} must be a whole number ≥ 1, got "${text}"`);
  return n;
}

/** gRPC status codes that mean "the server could not be reached" (not "the server said no"). */
const UNREACHABLE = new Set([14 /* UNAVAILABLE */, 4 /* DEADLINE_EXCEEDED */]);

/** Whether an error, or any error it wraps, is the server being out of reach. */
export function serverUnreachable(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'number' && UNREACHABLE.has(e.code)) return true;
  }
  return false;
}
