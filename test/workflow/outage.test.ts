import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseModelSpec } from '../../lib/spec';
import { freePort, startDevServer, stopProcess, type DevServer } from '../../tools/devserver';
import { searchAttributeTypes } from '../../workflows/definitions';
import { repoRoot, tempHome, uniqueQueues, type TestHome } from '../support/env';
import { spawnWorker, until, type WorkerProcess } from '../support/worker-process';
import { weather } from '../support/weather';

/**
 * The Temporal server goes away for 20 s while `lumen start` follows a run (its own dev server here, persisting to
 * SQLite, stopped and started again on the same file and port). The run goes on, and the command follows it
 * through: it says the server is unreachable and that it retries, and its exit code is the run's outcome — not
 * exit 2 with gRPC's own text, as before.
 */
describe('outage: `lumen start` follows its run through a Temporal server outage', () => {
  let t: TestHome;
  let server: DevServer;
  let port: number;
  let dbFile: string;
  const workers: WorkerProcess[] = [];
  const startServer = () => startDevServer({ port, dbFile, searchAttributes: searchAttributeTypes() });

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-outage-');
    port = await freePort();
    dbFile = path.join(t.home, 'temporal', 'temporal.sqlite');
    server = await startServer();
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopProcess(w.child, 2000)));
    await server?.stop();
    t.cleanup();
  });

  it('20 s without the server mid-run: "server unreachable, retrying", then the outcome and exit 0', async function () {
    this.timeout(600_000);
    const queues = uniqueQueues();
    workers.push(spawnWorker(t.home, queues, 'pipeline,training', server.address));
    const specFile = path.join(t.home, 'weather-outage.json');
    fs.writeFileSync(
      specFile,
      JSON.stringify(
        parseModelSpec({ ...weather, name: 'weather-outage', training: { ...weather.training, epochs: 150 } }),
      ),
    );
    const cli = spawn(
      process.execPath,
      [path.join(repoRoot, 'bin', 'lumen.js'), 'start', specFile, '--source', 'vega-datasets:seattle-weather.csv'],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          LUMEN_HOME: t.home,
          TEMPORAL_ADDRESS: server.address,
          LUMEN_PIPELINE_QUEUE: queues.pipeline,
          LUMEN_TRAINING_QUEUE: queues.training,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.once('close', resolve));

    await until('the run trains', 180_000, () => Promise.resolve(/epoch \d+\/150/.test(stdout) ? true : undefined));
    await server.stop();
    await new Promise((r) => setTimeout(r, 20_000));
    server = await startServer();
    const code = await exited;

    assert.match(stdout, new RegExp(`server unreachable at ${server.address.replace(/\./g, '\\.')}, retrying`));
    assert.match(stdout, /server back at .*; following the run again/);
    assert.equal(code, 0, `exit ${code}\n${stdout}\n${stderr}`);
    assert.match(stdout, /promoted/);
    assert.doesNotMatch(stdout + stderr, /UNAVAILABLE|Resolution note/);
  });
});
