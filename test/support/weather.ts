import assert from 'node:assert/strict';
import path from 'node:path';
import type { StartedPipeline } from '../../client/pipeline';
import type { SourceRef } from '../../lib/data/source';
import { loadModelSpec } from '../../lib/spec';
import { statusQuery, type PipelineStatus } from '../../workflows/definitions';
import { repoRoot } from './env';

/** The small example most workflow tests train: Seattle's weather, a year (or half a year) per batch. */
export const weather = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));

export function weatherYear(y: number, half?: 1 | 2): SourceRef {
  return {
    uri: 'vega-datasets:seattle-weather.csv',
    window: {
      column: 'date',
      start: half === 2 ? `${y}-07-01` : `${y}-01-01`,
      end: half === 1 ? `${y}-07-01` : `${y + 1}-01-01`,
    },
  };
}

/** Poll a run's status until it reaches `stage`; failing if it ends first or takes longer than `ms`. */
export async function waitForStage(
  started: StartedPipeline,
  stage: PipelineStatus['stage'],
  ms = 90_000,
): Promise<PipelineStatus> {
  const deadline = Date.now() + ms;
  for (;;) {
    const status = await started.handle.query(statusQuery);
    if (status.stage === stage) return status;
    assert.ok(status.stage !== 'done' && status.stage !== 'failed', `ended (${status.stage}) before ${stage}`);
    assert.ok(Date.now() < deadline, `not ${stage} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
