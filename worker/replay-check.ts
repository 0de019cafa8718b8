import type { Client } from '@temporalio/client';
import fs from 'node:fs';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { PAYLOAD_CONVERTER_PATH, PREBUILT_BUNDLE, WORKFLOW_INTERCEPTOR_MODULES } from './workers';

/** Every workflow of Lumen's that has not ended: the runs a new build of the workflow code must still replay. */
export const OPEN_RUNS = 'ExecutionStatus = "Running"';

export interface ReplayedRun {
  workflowId: string;
  runId: string;
  /** why this build cannot continue the run (absent: it replays) */
  error?: string;
  /** a determinism violation: the build would take another path than the one the run recorded */
  nondeterministic?: boolean;
}

/**
 * Replay the history of every run `query` finds (by default the open ones) with this build's workflow code — or
 * with `bundle` — before that code is deployed or a patch is retired. It is the check behind the patch life cycle
 * in docs/architecture.md: a patch may be deprecated, and later removed, only when every run that could still
 * reach it replays without it.
 */
export async function replayRuns(
  client: Client,
  options: { query?: string; bundle?: WorkflowBundleWithSourceMap } = {},
): Promise<ReplayedRun[]> {
  const histories = client.workflow.list({ query: options.query ?? OPEN_RUNS }).intoHistories();
  const results = Worker.runReplayHistories(
    {
      // the code the workers of this build run: the bundle set-up compiled, or the sources
      ...(options.bundle
        ? { workflowBundle: options.bundle }
        : fs.existsSync(PREBUILT_BUNDLE)
          ? { workflowBundle: { codePath: PREBUILT_BUNDLE } }
          : {
              workflowsPath: require.resolve('../workflows'),
              interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
            }),
      dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
      replayName: 'lumen-replay-check',
    },
    histories,
  );
  const replayed: ReplayedRun[] = [];
  for await (const r of results) {
    replayed.push({
      workflowId: r.workflowId,
      runId: r.runId,
      ...(r.error ? { error: r.error.message, nondeterministic: r.error.name === 'DeterminismViolationError' } : {}),
    });
  }
  return replayed;
}
