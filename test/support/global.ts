/**
 * Mocha global fixture: one real Temporal dev server for the whole run, started here and waited for with
 * `temporal operator cluster health` (not the SDK's fixed 5 s wait). LUMEN_TEST_TEMPORAL_ADDRESS points the tests
 * at an existing server instead.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startDevServer, type DevServer } from '../../tools/devserver';
import { searchAttributeTypes } from '../../workflows/definitions';

let server: DevServer | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  // ERROR: activity failures that tests provoke on purpose are logged by the SDK at WARN
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  if (process.env.LUMEN_TEST_TEMPORAL_ADDRESS) return;
  server = await startDevServer({
    searchAttributes: searchAttributeTypes(),
  });
  process.env.LUMEN_TEST_TEMPORAL_ADDRESS = server.address;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await server?.stop();
}
