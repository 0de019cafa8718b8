import assert from 'node:assert/strict';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { startTrainingPipeline } from '../../client/pipeline';
import { parseModelSpec } from '../../lib/spec';
import { approveCandidate } from '../../workflows/definitions';
import { replayRuns } from '../../worker/replay-check';
import {
  eventually,
  tempHome,
  testClient,
  uniqueQueues,
  withWorkers,
  workflowBundle,
  type TestHome,
} from '../support/env';
import { waitForStage, weather, weatherYear } from '../support/weather';

/**
 * The check behind the patch life cycle (docs/architecture.md): before a build is deployed or a patch retired, the
 * history of every open run is replayed with the new code. A run waiting for its approval replays with this build,
 * and is refused by a build that would take another path.
 */
describe('replay-check: open runs against a build, before it is deployed', () => {
  let t: TestHome;
  let client: Client;
  const queues = uniqueQueues();

  before(async () => {
    t = tempHome();
    client = await testClient();
  });
  after(async () => {
    await client.connection.close();
    t.cleanup();
  });

  it('a run waiting for approval replays with this build; a build with another command sequence is refused', async () => {
    const spec = parseModelSpec({
      ...weather,
      name: 'weather-replay-check',
      training: { ...weather.training, epochs: 5 },
      gate: { approval: { required: 'always', timeout: '10m' } },
    });
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      const started = await startTrainingPipeline(
        client,
        spec,
        weatherYear(2012),
        { trainingTaskQueue: queues.training, actor: 'test' },
        queues.pipeline,
      );
      const waiting = await waitForStage(started, 'awaiting_approval');
      const query = `WorkflowId = "${started.workflowId}" AND ExecutionStatus = "Running"`;
      const replayed = await eventually('the waiting run in the visibility store', async () => {
        const runs = await replayRuns(client, { query, bundle: await workflowBundle() });
        return runs.length === 1 ? runs : undefined;
      });
      const { runId } = await started.handle.describe();
      assert.deepEqual(replayed, [{ workflowId: started.workflowId, runId }]);

      const variant = await bundleWorkflowCode({
        workflowsPath: require.resolve('./variant'),
        logger: new DefaultLogger('ERROR'),
      });
      const [refused] = await replayRuns(client, { query, bundle: variant });
      assert.equal(refused.workflowId, started.workflowId);
      assert.equal(refused.nondeterministic, true, refused.error);
      assert.match(refused.error ?? '', /nondetermin/i);

      const { version, artifactSha256 } = waiting.approval!;
      await started.handle.executeUpdate(approveCandidate, {
        args: [{ version, artifactSha256, by: 'ana', comment: 'replays' }],
      });
      assert.equal((await started.handle.result()).outcome, 'promoted');
      // an ended run is nothing a new build must continue
      await eventually('the ended run to leave the open runs', async () =>
        (await replayRuns(client, { query, bundle: variant })).length === 0 ? true : undefined,
      );
    });
  });
});
