import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { RecordedHistory } from '../histories/record';
import { workflowBundle } from '../support/env';

const dir = path.join(__dirname, '..', 'histories');
/** the tag of the histories recorded by the current workflow code (npm run record-histories -- <tag>) */
const CURRENT = 'v6';
/**
 * The oldest histories kept. Those recorded before a retired patch are runs that can no longer be open (checked with
 * `lumen replay-check`, docs/architecture.md): the v1 recordings went with lumen-search-attributes-v2.
 */
const OLDEST = 'v2';
const recorded = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as RecordedHistory[];

describe('replay of saved workflow histories (determinism)', () => {
  it('has histories for every scenario, from the oldest kept recordings and from the current code', () => {
    const scenarios = (files: string[]): string[] => [...new Set(files.map((f) => f.split('.')[0]))].sort();
    const first = recorded.filter((r) => r.file.endsWith(`.${OLDEST}.json`)).map((r) => r.file);
    const current = recorded.filter((r) => r.file.endsWith(`.${CURRENT}.json`)).map((r) => r.file);
    assert.deepEqual(scenarios(first), [
      'approved',
      'compared',
      'duplicate',
      'failed-ingest',
      'promoted',
      'rejected',
      'released',
      'rollback',
      'untrusted-champion',
      'verify',
      'verify-cleared',
    ]);
    assert.deepEqual(scenarios(current), [...scenarios(first), 'monitor', 'supervisor', 'scheduled', 'inbox'].sort());
    for (const r of recorded) assert.ok(fs.existsSync(path.join(dir, r.file)), `${r.file} exists`);
    // no history kept predates the retired patch: the oldest recordings already carry its marker
    assert.ok(patchesIn(`promoted.${OLDEST}.json`).includes('lumen-search-attributes-v2'));
    assert.ok(patchesIn(`promoted.${CURRENT}.json`).includes('lumen-registered-policy'));
    // people's decisions are verified (an activity) before they apply, in every run the current code recorded
    const verifiesDecisions = (file: string): boolean => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      return text.includes('"verifyDecision"');
    };
    for (const scenario of ['approved', 'released', 'rollback', 'monitor']) {
      assert.ok(verifiesDecisions(`${scenario}.${CURRENT}.json`), scenario);
      assert.ok(!verifiesDecisions(`${scenario}.v3.json`), `${scenario} (v3)`);
    }
  });

  for (const r of recorded) {
    it(`replays ${r.file}: ${r.scenario}`, async () => {
      const history: unknown = JSON.parse(fs.readFileSync(path.join(dir, r.file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, r.workflowId);
    });
  }

  it('a workflow whose command sequence changed fails replay', async () => {
    const variant = await bundleWorkflowCode({
      workflowsPath: require.resolve('./variant'),
      logger: new DefaultLogger('ERROR'),
    });
    const first = recorded.find((r) => r.file === `promoted.${OLDEST}.json`)!;
    const history: unknown = JSON.parse(fs.readFileSync(path.join(dir, first.file), 'utf8'));
    await assert.rejects(
      Worker.runReplayHistory({ workflowBundle: variant }, history, first.workflowId),
      DeterminismViolationError,
    );
  });
});

/** The ids of the patches a recorded history took (Temporal's "core_patch" markers). */
function patchesIn(file: string): string[] {
  const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {
    events: {
      markerRecordedEventAttributes?: {
        markerName?: string;
        details?: Record<string, { payloads?: { data?: string }[] }>;
      };
    }[];
  };
  return history.events.flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') return [];
    const data = Object.values(marker.details ?? {})[0]?.payloads?.[0]?.data;
    return data ? [(JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id: string }).id] : [];
  });
}
