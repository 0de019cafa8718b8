import { withClient } from '../client/connection';
import { CliError, EXIT } from '../client/errors';
import { color, printJson } from '../client/output';

/**
 * `lumen replay-check`: replay every open run's history with this build's workflow code, before deploying it or
 * retiring a patch (docs/architecture.md, "Changing workflow code"). Exit 0 when every run replays, 2 when one
 * does not.
 */
export async function replayCommand(opts: { query?: string; json?: boolean }): Promise<void> {
  const { replayRuns, OPEN_RUNS } = await import('../worker/replay-check');
  const { DefaultLogger, Runtime } = await import('@temporalio/worker');
  // the replaying worker's own comings and goings are not the check's output
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const runs = await withClient((client) =>
    replayRuns(client, { query: opts.query }).catch((err: Error) => {
      // the server's reason is in the cause: "3 INVALID_ARGUMENT: invalid query: …"
      const reason = err.cause instanceof Error ? err.cause.message : err.message;
      if (opts.query && /invalid query/i.test(reason)) {
        throw new CliError(`--query "${opts.query}" is not a visibility query: ${reason.replace(/^\d+ \w+: /, '')}`);
      }
      throw err;
    }),
  );
  const failed = runs.filter((r) => r.error !== undefined);
  process.exitCode = failed.length ? EXIT.failed : EXIT.ok;
  if (opts.json) {
    printJson({ query: opts.query ?? OPEN_RUNS, runs });
    return;
  }
  for (const r of runs) {
    const verdict = r.error
      ? color.red(r.nondeterministic ? 'takes another path' : 'does not replay')
      : color.green('replays');
    console.log(`${verdict}  ${r.workflowId} ${color.dim(r.runId)}${r.error ? `\n    ${r.error}` : ''}`);
  }
  console.log(
    runs.length === 0
      ? `no run matches ${opts.query ?? OPEN_RUNS}: nothing this build must continue`
      : failed.length
        ? color.red(`${failed.length} of ${runs.length} runs cannot be continued by this build: do not deploy it yet`)
        : `${runs.length === 1 ? 'the one run replays' : `all ${runs.length} runs replay`} with this build`,
  );
}
