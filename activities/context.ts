import { ApplicationFailure } from '@temporalio/activity';
import type { ArtifactStore } from '../lib/artifacts';
import { LumenError } from '../lib/errors';
import type { Registry } from '../lib/registry/types';

/** What activities need from the process they run in; built once per worker. */
export interface ActivityDeps {
  store: ArtifactStore;
  registry: Registry;
  /** git commit (or LUMEN_CODE_VERSION) of the code the worker runs */
  codeVersion: string;
}

/**
 * Run an activity body, turning Lumen's non-retryable errors into non-retryable Temporal failures of the same
 * type name, with the message a person needs. Anything else stays retryable.
 */
export async function asActivity<T>(fn: () => Promise<T>): Promise<T> {
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
  }
}
