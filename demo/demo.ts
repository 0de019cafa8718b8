import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { workerLogFunction } from '../worker/log';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { lumenPaths, projectRoot } from '../lib/config';
import { monthWindow } from '../lib/data/source';
import { loadTf, preferSingleThreadedOps } from '../lib/model/tf';
import { loadModelSpec } from '../lib/spec';
import { isHealthy, portInUse, startDevServer, type DevServer } from '../tools/devserver';
import { createWorkers, defaultDeps } from '../worker/workers';
import { searchAttributeTypes } from '../workflows/definitions';
import { clientConfig, connectClient, workflowUrl } from '../client/connection';
import { describeFailure, formatResult } from '../client/format';
import { startTrainingPipeline } from '../client/pipeline';

/**
 * The whole loop on real data, on this machine: a Temporal dev server (SQLite under LUMEN_HOME, Web UI on 8233),
 * both workers in this process, and one pipeline run per month of the 2001 US flights.
 */
export async function runDemo(opts: { months: string; keep?: boolean }): Promise<void> {
  // the demo handles Ctrl-C itself: it stops its workers, then its server, in that order
  Runtime.install({ logger: new DefaultLogger('WARN', workerLogFunction(false)), shutdownSignals: [] });
  const paths = lumenPaths();
  const config = clientConfig();
  let server: DevServer | undefined;
  if (isHealthy(config.address)) {
    console.log(`[demo] using the Temporal server already running at ${config.address}`);
  } else {
    const [, portText] = config.address.split(':');
    const port = Number(portText);
    if (await portInUse(port)) throw new Error(`port ${port} is taken by something that is not a Temporal server`);
    server = await startDevServer({
      port,
      uiPort: Number(new URL(config.uiUrl).port || 8233),
      dbFile: path.join(paths.home, 'temporal', 'dev.sqlite'),
      logFile: path.join(paths.home, 'temporal', 'server.log'),
      searchAttributes: searchAttributeTypes(),
    });
    console.log(`[demo] Temporal dev server at ${server.address}, Web UI ${server.uiUrl}, state in ${paths.home}`);
  }
  let failed = false;
  try {
    failed = await runMonths(config, opts);
  } finally {
    await server?.stop();
  }
  if (failed) process.exitCode = 2;
}

/** Run the pipelines with in-process workers; returns whether any run failed. */
async function runMonths(
  config: ReturnType<typeof clientConfig>,
  opts: { months: string; keep?: boolean },
): Promise<boolean> {
  // this process trains every month's model
  preferSingleThreadedOps();
  const { backend } = await loadTf();
  console.log(`[demo] tfjs backend: ${backend}`);
  const connection = await NativeConnection.connect(config.connection);
  const client = await connectClient(config);
  const workers = await createWorkers({
    connection,
    namespace: config.namespace,
    roles: ['pipeline', 'training'],
    deps: await defaultDeps(),
  });
  const running = workers.map((w) => w.run());
  const spec = loadModelSpec(path.join(projectRoot(), 'examples', 'models', 'flights-delay.json'));
  let failed = false;
  try {
    for (const month of opts.months.split(',').map((m) => m.trim())) {
      const source = { uri: 'vega-datasets:flights-3m.parquet', window: monthWindow('date', month) };
      const started = await startTrainingPipeline(client, spec, source, { actor: 'demo' });
      const runId = (await started.handle.describe()).runId;
      const said = {
        started: 'started',
        running: 'joined the run already in flight',
        finished: 'already trained; the earlier result of',
      };
      console.log(`\n[demo] ${month}: ${said[started.state]} ${started.workflowId}`);
      try {
        console.log(formatResult(await started.handle.result()));
      } catch (err) {
        if (!(err instanceof WorkflowFailedError)) throw err;
        failed = true;
        console.error(`[demo] pipeline failed: ${describeFailure(err)}`);
      }
      console.log(`web ui     ${workflowUrl(config, started.workflowId, runId)}`);
    }
    if (opts.keep) {
      // listen before saying so: a Ctrl-C that follows the message at once must find the handler there
      const stopped = new Promise<void>((resolve) => {
        // `on`, not `once`: a second signal while workers drain and the server stops must not kill the process
        process.on('SIGINT', () => resolve());
        process.on('SIGTERM', () => resolve());
      });
      console.log(`\n[demo] running; explore ${config.uiUrl} — press Ctrl-C to stop`);
      await stopped;
      console.log('\n[demo] stopping workers and server');
    }
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    await connection.close();
    await client.connection.close();
  }
  return failed;
}
