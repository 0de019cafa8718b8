import fs from 'node:fs';
import path from 'node:path';
import { lumenPaths } from '../lib/config';
import { startDevServer } from '../tools/devserver';
import { searchAttributeTypes } from '../workflows/definitions';
import { clientConfig, serverRecordFile } from '../client/connection';
import { CliError, parseCount } from '../client/errors';

/**
 * `lumen server`: a local Temporal dev server for Lumen, in the foreground — persistence in LUMEN_HOME (so runs
 * survive a restart), Lumen's search attributes registered, the Web UI on 8233 — until Ctrl-C.
 */
export async function serverCommand(opts: { port?: string; uiPort: string; headless?: boolean }): Promise<void> {
  const paths = lumenPaths();
  const port = opts.port ? parseCount(opts.port, '--port') : Number(clientConfig().address.split(':').pop());
  if (!Number.isInteger(port)) throw new CliError(`TEMPORAL_ADDRESS has no port: give --port`);
  const server = await startDevServer({
    port,
    ...(opts.headless ? {} : { uiPort: parseCount(opts.uiPort, '--ui-port') }),
    dbFile: path.join(paths.home, 'temporal', 'dev.sqlite'),
    logFile: path.join(paths.home, 'temporal', 'server.log'),
    searchAttributes: searchAttributeTypes(),
  });
  // listen before saying it is up: a Ctrl-C right after the message must stop it cleanly
  const ended = new Promise<string>((resolve) => {
    // `on`, not `once`: while it stops, the server may signal its process group again, and a second Ctrl-C
    // must not kill this process before the server has shut down
    process.on('SIGINT', () => resolve('stopped'));
    process.on('SIGTERM', () => resolve('stopped'));
    server.process.once('exit', (code) => resolve(`the server exited (${code}); see ${server.logFile}`));
  });
  // the CLI's links follow this UI while the server runs (client/connection.ts)
  const record = serverRecordFile();
  fs.writeFileSync(
    record,
    JSON.stringify({ address: server.address, uiUrl: server.uiUrl ?? null, pid: process.pid }, null, 2),
  );
  console.log(`Temporal dev server at ${server.address}${server.uiUrl ? `, Web UI ${server.uiUrl}` : ''}`);
  console.log(`state in ${path.join(paths.home, 'temporal')}, log ${server.logFile}`);
  // the worker must be pointed at this server when it is not where TEMPORAL_ADDRESS (or the default) says
  const worker =
    clientConfig().address === server.address ? 'npm run worker' : `TEMPORAL_ADDRESS=${server.address} npm run worker`;
  console.log(`start workers with \`${worker}\`; Ctrl-C stops the server (its state stays)`);
  const why = await ended;
  fs.rmSync(record, { force: true });
  await server.stop();
  console.log(why);
}
