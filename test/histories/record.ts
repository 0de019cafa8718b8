/**
 * Records the workflow histories that test/workflow/replay.test.ts replays. Run after an intentional change to
 * the workflow's command sequence (and review the diff):  npm run record-histories
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { startTrainingPipeline } from '../../client/pipeline';
import { loadModelSpec } from '../../lib/spec';
import { startDevServer } from '../../tools/devserver';
import { LumenModel, LumenStage } from '../../workflows/definitions';
import { repoRoot, tempHome, testClient, uniqueQueues, vegaPath, withWorkers } from '../support/env';

export interface RecordedHistory {
  file: string;
  workflowId: string;
  scenario: string;
}

async function run(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const server = await startDevServer({ searchAttributes: { [LumenModel.name]: 'Keyword', [LumenStage.name]: 'Keyword' } });
  process.env.LUMEN_TEST_TEMPORAL_ADDRESS = server.address;
  const t = tempHome('lumen-record-');
  const client = await testClient();
  const queues = uniqueQueues();
  const spec = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
  const reencoded = path.join(t.home, 'weather-crlf.csv');
  fs.writeFileSync(reencoded, `\ufeff${fs.readFileSync(vegaPath('seattle-weather.csv'), 'utf8').replace(/\n/g, '\r\n')}`);
  const corrupt = path.join(t.home, 'corrupt.parquet');
  fs.writeFileSync(corrupt, fs.readFileSync(vegaPath('flights-3m.parquet')).subarray(0, 50_000));
  const scenarios = [
    { file: 'promoted.json', scenario: 'first model: trained, registered, promoted', source: { uri: 'vega-datasets:seattle-weather.csv' } },
    { file: 'duplicate.json', scenario: 'same content from a re-encoded file: recognised after ingest', source: { uri: reencoded } },
    {
      file: 'compared.json',
      scenario: 'a later batch judged against the champion',
      source: { uri: 'vega-datasets:seattle-weather.csv', window: { column: 'date', start: '2015-01-01', end: '2016-01-01' } },
    },
    { file: 'failed-ingest.json', scenario: 'corrupt source: non-retryable failure at ingest', source: { uri: corrupt } },
  ];
  const index: RecordedHistory[] = [];
  try {
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      for (const s of scenarios) {
        const started = await startTrainingPipeline(client, spec, s.source, { trainingTaskQueue: queues.training }, queues.pipeline);
        await started.handle.result().catch(() => undefined);
        const history = await started.handle.fetchHistory();
        fs.writeFileSync(path.join(__dirname, s.file), `${historyToJSON(history)}\n`);
        index.push({ file: s.file, workflowId: started.workflowId, scenario: s.scenario });
        console.log(`recorded ${s.file}: ${s.scenario}`);
      }
    });
    fs.writeFileSync(path.join(__dirname, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  } finally {
    await client.connection.close();
    t.cleanup();
    await server.stop();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
