import { Context } from '@temporalio/activity';
import { withRegisteredPolicy } from '../lib/access/model-policy';
import { NotFoundError } from '../lib/errors';
import type { ModelSpec } from '../lib/spec';
import { kafkaConnection } from '../lib/stream/connection';
import { commitOffsets, readWindow, type ReadWindowInput, type WindowResult } from '../lib/stream/ingest';
import { asActivity, reportProgress, type ActivityDeps } from './context';

export function streamActivities(deps: ActivityDeps) {
  /** The spec a window trains with: the stream's own, or the champion's at this window. */
  async function windowSpec(model: string, spec: ModelSpec | undefined): Promise<ModelSpec> {
    if (spec) return spec;
    const champion = await deps.registry.alias(model, 'champion');
    const record = champion === null ? undefined : await deps.registry.getVersion(model, champion);
    if (!record)
      throw new NotFoundError(`${model} has no champion to take the spec from; start the stream with a spec`);
    return withRegisteredPolicy(deps.registry, record.spec);
  }

  return {
    /**
     * Read one window of a topic from where the last one ended: refused events to the dead-letter topic, accepted
     * rows landed as a batch. Long (a window fills as fast as events come), heartbeating all along; a worker that
     * dies mid-window leaves no commit behind, so the retry reads the same events again.
     */
    async readStreamWindow(
      input: Omit<ReadWindowInput, 'spec'> & { spec?: ModelSpec },
    ): Promise<WindowResult & { spec: ModelSpec }> {
      return asActivity(async () => {
        const spec = await windowSpec(input.model, input.spec);
        const signal = Context.current().cancellationSignal;
        const result = await readWindow(
          kafkaConnection(),
          deps.store,
          { ...input, spec },
          { signal, progress: (read) => reportProgress({ eventsRead: read }) },
        );
        return { ...result, spec };
      });
    },

    /** Commit the offsets a durable window ends at (its batch stored, its run started). */
    async commitStreamOffsets(input: {
      model: string;
      topic: string;
      group: string;
      offsets: Record<string, string>;
    }): Promise<void> {
      return asActivity(() => commitOffsets(kafkaConnection(), input));
    },
  };
}
