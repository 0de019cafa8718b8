import path from 'node:path';
import { ApplicationFailure, type Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';
import { raiseAlert } from '../lib/alerts';
import { withTemporaryFiles } from '../lib/artifacts/temporary';
import { needsAPerson, storeWriteError, type WriteErrno } from '../lib/artifacts/write-failure';
import type { ActivityDeps } from './context';

/**
 * Every activity of a worker runs inside this: the temporary files it was handed are removed once it ends, however
 * it ends; and a write that failed because the disk is full, the volume read-only or a quota reached becomes one
 * failure that names the store, the path, the errno and the free space — retryable, since a person can fix it and
 * the next attempt goes on — with a critical alert at its first occurrence, not after the retries are spent.
 */
export function storeFailures(deps: ActivityDeps): (ctx: Context) => ActivityInterceptors {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        try {
          return await withTemporaryFiles(() => next(input));
        } catch (err) {
          const failure = storeWriteError(where(deps, err), deps.store.root, err);
          if (!failure) throw err;
          const code = failure.details.code as WriteErrno;
          if (needsAPerson(code)) await alertOnce(deps, ctx, failure.message, code, input.args[0]);
          throw ApplicationFailure.retryable(failure.message, 'StoreWriteError', failure.details);
        }
      },
    },
  });
}

/** Which of Lumen's places the failed write was in, for the message. */
function where(deps: ActivityDeps, err: unknown): string {
  const home = path.resolve(deps.store.home);
  const text = String((err as Error)?.message ?? err);
  if (text.includes(path.resolve(deps.store.root))) return `the artifact store ${deps.store.location}`;
  if (text.includes(home)) return `Lumen's home ${home}`;
  return `the artifact store ${deps.store.location}`;
}

async function alertOnce(
  deps: ActivityDeps,
  ctx: Context,
  message: string,
  code: WriteErrno,
  firstArg: unknown,
): Promise<void> {
  const info = ctx.info;
  const workflowId = info.workflowExecution?.workflowId ?? '(no workflow)';
  const arg = (firstArg ?? {}) as { model?: unknown; spec?: { name?: unknown } };
  const model =
    typeof arg.model === 'string' ? arg.model : typeof arg.spec?.name === 'string' ? arg.spec.name : '(all models)';
  try {
    await raiseAlert(deps.registry, {
      model,
      severity: 'critical',
      kind: code === 'ENOSPC' || code === 'EDQUOT' ? 'store-full' : 'store-read-only',
      message:
        `${message}. ${info.activityType} (${workflowId}) is retried meanwhile, for about five minutes: free space ` +
        'or make the volume writable and it goes on by itself.',
      details: { code, activity: info.activityType, attempt: info.attempt },
      workflowId,
      runId: info.workflowExecution?.runId ?? null,
      // once per activity, however many attempts meet the same wall
      key: `store-write:${code}:${workflowId}:${info.activityId}`,
    });
  } catch (err) {
    // the registry may be on the same full disk: the worker's log says it at least
    console.error(`[lumen] ALERT critical ${model} store: ${message} (not recorded: ${(err as Error).message})`);
  }
}
