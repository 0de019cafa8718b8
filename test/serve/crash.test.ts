import assert from 'node:assert/strict';
import path from 'node:path';
import { withDuckDB } from '../../lib/data/duckdb';
import { logFiles, parquetScan } from '../../lib/serving/log-segments';
import { freePort } from '../../tools/devserver';
import { exited, startUntil } from '../support/cli';
import { tempHome, type TestHome } from '../support/env';
import { trainAndRegister, weatherRows, type WeatherRow } from '../support/serving';
import { weather, weatherYear } from '../support/weather';
import { parseModelSpec } from '../../lib/spec';

/**
 * `lumen serve` killed with SIGKILL under traffic, as a crashed machine's process would be, with the defaults a
 * user gets. Every prediction it answered is in the log once it is started again — before, the last second of
 * answers (those not yet written) was lost, and feedback for them was accepted all the same.
 */
describe('serving crash: nothing answered is lost', () => {
  let t: TestHome;
  let rows: WeatherRow[];
  const spec = parseModelSpec({ ...weather, name: 'weather-crash', training: { ...weather.training, epochs: 5 } });

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-crash-');
    await trainAndRegister(t.deps, spec, weatherYear(2012), { champion: true, workflowId: 'crash' });
    rows = await weatherRows(2013);
  });
  after(() => t.cleanup());

  it('SIGKILL after hundreds of answers at 16 connections: every answered id is logged exactly once after the restart', async function () {
    this.timeout(300_000);
    const env = { ...process.env, LUMEN_HOME: t.home, LUMEN_ADMIN_TOKEN: 'crash-test-token' };
    const port = await freePort();
    const serve = () => startUntil(['serve', '--port', String(port)], env, /predictions logged to/, 60_000);
    let server = await serve();
    const answered: string[] = [];
    let stop = false;
    const client = async (k: number): Promise<void> => {
      for (let i = k; !stop; i += 16) {
        const { weather: _label, ...input } = rows[i % rows.length];
        try {
          const res = await fetch(`http://127.0.0.1:${port}/v1/models/${spec.name}/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(input),
          });
          const body = (await res.json()) as { predictions?: { id: string }[] };
          if (res.status === 200) answered.push(body.predictions![0].id);
        } catch {
          return; // the server is gone: what it answered is counted
        }
      }
    };
    const clients = Array.from({ length: 16 }, (_, k) => client(k));
    while (answered.length < 1500) await new Promise((r) => setTimeout(r, 5));
    server.child.kill('SIGKILL');
    await exited(server.child);
    stop = true;
    await Promise.all(clients);

    server = await serve();
    try {
      assert.match(server.output(), /recovered \d+ records written ahead by processes that stopped/);
      const logged = await withDuckDB(async (con) =>
        (
          await con.runAndReadAll(
            `SELECT id, count(*) AS n FROM ${parquetScan(logFiles(path.join(t.home, 'predictions'), spec.name))} GROUP BY id`,
          )
        )
          .getRowsJS()
          .map((r) => [r[0] as string, Number(r[1])] as const),
      );
      const counts = new Map(logged);
      const lost = answered.filter((id) => !counts.has(id));
      assert.equal(lost.length, 0, `${lost.length} of ${answered.length} answered predictions are not in the log`);
      assert.deepEqual(
        answered.filter((id) => counts.get(id)! > 1),
        [],
        'none twice',
      );
    } finally {
      server.child.kill('SIGINT');
      assert.equal(await exited(server.child), 0, server.output());
    }
  });
});
