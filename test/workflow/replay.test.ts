import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { RecordedHistory } from '../histories/record';
import { workflowBundle } from '../support/env';

const dir = path.join(__dirname, '..', 'histories');
const recorded = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as RecordedHistory[];

describe('replay of saved pipeline histories (determinism)', () => {
  it('has histories for every scenario', () => {
    assert.deepEqual(recorded.map((r) => r.file).sort(), [
      'approved.json',
      'compared.json',
      'duplicate.json',
      'failed-ingest.json',
      'promoted.json',
      'rejected.json',
      'released.json',
      'rollback.json',
    ]);
  });

  for (const r of recorded) {
    it(`replays: ${r.scenario}`, async () => {
      const history: unknown = JSON.parse(fs.readFileSync(path.join(dir, r.file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, r.workflowId);
    });
  }

  it('a workflow whose command sequence changed fails replay', async () => {
    const variant = await bundleWorkflowCode({
      workflowsPath: require.resolve('./variant'),
      logger: new DefaultLogger('ERROR'),
    });
    const first = recorded.find((r) => r.file === 'promoted.json')!;
    const history: unknown = JSON.parse(fs.readFileSync(path.join(dir, first.file), 'utf8'));
    await assert.rejects(
      Worker.runReplayHistory({ workflowBundle: variant }, history, first.workflowId),
      DeterminismViolationError,
    );
  });
});
