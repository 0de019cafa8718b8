// A deliberately changed pipeline (validation step removed) used to prove the replay test can fail.
import { proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../../../activities';
import type { PipelineInput } from '../../../workflows/definitions';

const acts = proxyActivities<PipelineActivities>({ startToCloseTimeout: '1 minute' });

export async function trainingPipeline(input: PipelineInput): Promise<void> {
  const dataset = await acts.ingestDataset({ source: input.source });
  await acts.findTrainedVersion({ spec: input.spec, datasetSha256: dataset.sha256 });
}
