import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../support/env';

/**
 * `npm run demo -- --loop` as a user runs it, to the end (about four minutes; `npm run test:demo`, and in CI after
 * `npm test`): the compiled command line in a fresh LUMEN_HOME, its own Temporal dev server and workers. The
 * timeline must show what the demo promises, and nothing may be left running.
 */
describe('lumen demo --loop', () => {
  it('runs to the end: a quarantined batch, an automatic rollback, a drift-triggered retrain resumed after a killed worker', async function () {
    this.timeout(15 * 60_000);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-demo-loop-'));
    const env: NodeJS.ProcessEnv = { ...process.env, LUMEN_HOME: home, CI: 'true' };
    delete env.FORCE_COLOR;
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'lumen.js'), 'demo', '--loop'], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      assert.equal(code, 0, `the demo failed:\n${out.slice(-6000)}`);
      const timeline = out.slice(out.indexOf('\nTimeline'));
      assert.match(timeline, /quarantined by its contract: .*column "delay" drifted/);
      assert.match(timeline, /an operator promotes the rejected v2 by hand with an override/);
      assert.match(timeline, /monitor rolled back automatically to v1: v2, .* does measurably worse than v1/);
      assert.match(timeline, /March: accepted, v3 promoted/);
      assert.match(timeline, /monitor retrains: served inputs drifted from the champion's training data/);
      assert.match(timeline, /the training worker is killed \(SIGKILL\) after epoch \d/);
      assert.match(timeline, /retrain: resumed from epoch \d/);
      assert.match(out, /predictions served \(.*\), [\d,]+ labelled, 0 failed requests/);
      // every process it started has stopped: its Temporal server, its training worker
      const left = fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/environ`, 'utf8').includes(`LUMEN_HOME=${home}`);
          } catch {
            return false;
          }
        });
      assert.deepEqual(left, [], 'nothing of the demo still runs');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
