import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { localClientConfig } from '../../client/connection';
import { startTrainingPipeline, type StartedPipeline } from '../../client/pipeline';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { startServer, type RunningServer } from '../../serve/server';
import { statusQuery } from '../../workflows/definitions';
import { monitorStatusQuery, monitorWorkflowId } from '../../workflows/monitor-definitions';
import type { modelMonitor } from '../../workflows';
import {
  eventually,
  repoRoot,
  tempHome,
  temporalAddress,
  testClient,
  uniqueQueues,
  vegaPath,
  withWorkers,
  workflowBundle,
  type TestHome,
} from '../support/env';
import { testServeOptions, weatherRows } from '../support/serving';

const TOKEN = 'console-test-token';
const weather = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
const spec = parseModelSpec({
  ...weather,
  name: 'weather-console',
  training: { ...weather.training, epochs: 15 },
  // a person approves every promotion, the first one too; the monitor checks every 3 s
  gate: { approval: { required: 'always', timeout: '10m' } },
  monitor: { everyMinutes: 0.05, minPredictions: 40, minLabels: 30 },
  card: {
    intendedUses: ["Tomorrow's weather type in Seattle, for planning outdoor work"],
    outOfScopeUses: ['Any other city', 'Severe weather warnings'],
    owners: [{ name: 'Weather desk', contact: 'weather@example.org' }],
  },
});

/** The browser set-up found (or installed), or the one LUMEN_CHROMIUM names; null when there is none. */
function browserPath(): string | null {
  if (process.env.LUMEN_CHROMIUM) return process.env.LUMEN_CHROMIUM;
  try {
    const state = JSON.parse(fs.readFileSync(path.join(repoRoot, '.tools', 'toolchain-state.json'), 'utf8')) as {
      browser?: { path: string | null };
    };
    return state.browser?.path ?? null;
  } catch {
    return null;
  }
}

describe('the web console in a real browser (headless Chromium)', () => {
  let t: TestHome;
  let client: Client;
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  const queues = uniqueQueues();
  const executable = browserPath();
  const screenshots = process.env.LUMEN_SCREENSHOTS;

  before(async function () {
    if (!executable) {
      // set-up installs Debian's chromium: without it the console is untested, which must not pass unnoticed
      throw new Error(
        "no Chromium on this machine (set-up could not install Debian's chromium; set LUMEN_CHROMIUM): the console cannot be tested in a browser",
      );
    }
    this.timeout(120_000);
    t = tempHome('lumen-console-');
    client = await testClient();
    await workflowBundle();
    browser = await chromium.launch({ executablePath: executable, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await client?.connection.close();
    t?.cleanup();
  });

  /** A page that records every console error and uncaught exception. */
  async function openPage(errors: string[]): Promise<Page> {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
    return page;
  }

  async function shot(page: Page, name: string): Promise<void> {
    if (!screenshots) return;
    fs.mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
  }

  async function waitForStage(started: StartedPipeline, stage: string): Promise<void> {
    await eventually(`the pipeline to reach ${stage}`, async () => {
      const s = await started.handle.query(statusQuery);
      assert.ok(s.stage !== 'failed' && s.stage !== 'done', `the pipeline ended at ${s.stage} instead`);
      return s.stage === stage ? true : undefined;
    });
  }

  it('pages load without errors, charts hold data, an approval and a discard made in the page take effect', async function () {
    this.timeout(600_000);
    const errors: string[] = [];
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      server = await startServer(
        t.deps,
        testServeOptions(t.home, TOKEN, {
          batch: { maxBatch: 256, maxWaitMs: 0 },
          temporal: localClientConfig(temporalAddress()),
        }),
      );
      const ui = `${server.url}/ui`;
      const page = await openPage(errors);

      // 1. the first candidate waits for a person
      const first = await startTrainingPipeline(
        client,
        spec,
        {
          uri: 'vega-datasets:seattle-weather.csv',
          window: { column: 'date', start: '2012-01-01', end: '2013-01-01' },
        },
        { trainingTaskQueue: queues.training, actor: 'test' },
        queues.pipeline,
      );
      await waitForStage(first, 'awaiting_approval');
      await page.goto(`${ui}/`);
      assert.match(await page.locator('main').innerText(), /1 candidate\(s\) wait for approval/);
      await page.click('text=1 candidate(s) wait for approval');
      const card = page.locator('[data-approval="weather-console:v1"]');
      assert.equal(await card.count(), 1, 'the candidate is listed');
      const link = await card.locator('a', { hasText: 'pipeline run' }).getAttribute('href');
      assert.match(link!, /^http:\/\/localhost:8233\/namespaces\/default\/workflows\/train%3Aweather-console%3A/);
      await shot(page, 'console-approvals');
      // the gate report beside the decision: what the candidate relies on, and its model card
      await card.locator('summary', { hasText: 'What it relies on' }).click();
      assert.equal(await card.locator('table.importance tr[data-feature]').count(), spec.features.length);
      assert.equal(
        await card.locator('a', { hasText: 'model card' }).getAttribute('href'),
        '/ui/models/weather-console/versions/1/card',
      );

      // a wrong token decides nothing, and says so
      await card.locator('input[name=token]').fill('not-the-token');
      await card.locator('input[name=by]').fill('ana');
      await card.locator('textarea[name=comment]').fill('holdout metrics look right');
      const refused = await Promise.all([page.waitForNavigation(), card.locator('button[value=approve]').click()]);
      assert.equal(refused[0]!.status(), 401);
      assert.match(await page.locator('.flash.error').innerText(), /admin token is missing or wrong/);
      assert.equal((await t.deps.registry.listApprovals({ status: 'pending' })).length, 1, 'still waiting');

      // the right one promotes
      const again = page.locator('[data-approval="weather-console:v1"]');
      await again.locator('input[name=token]').fill(TOKEN);
      await again.locator('input[name=by]').fill('ana');
      await again.locator('textarea[name=comment]').fill('holdout metrics look right');
      await Promise.all([page.waitForNavigation(), again.locator('button[value=approve]').click()]);
      assert.match(page.url(), /\/ui\/models\/weather-console\?flash=[0-9a-f-]{36}$/);
      assert.match(await page.locator('.flash.done').innerText(), /approved weather-console v1 by ana/);
      const result = await first.handle.result();
      assert.equal(result.outcome, 'promoted');
      assert.deepEqual(result.approval, { status: 'approved', by: 'ana', comment: 'holdout metrics look right' });
      assert.equal(await t.deps.registry.alias(spec.name, 'champion'), 1);

      // 2. served traffic with labels, checked by the monitor the promotion started
      const rows = await weatherRows(2012);
      const served: string[] = [];
      await eventually('the served champion', async () => (server!.host.served(spec.name) ? true : undefined));
      const monitor = client.workflow.getHandle<typeof modelMonitor>(monitorWorkflowId(spec.name));
      for (let i = 0; (await monitor.query(monitorStatusQuery).catch(() => ({ checks: 0 }))).checks < 4; i++) {
        const batch = Array.from({ length: 60 }, (_, k) => rows[(i * 60 + k * 7) % rows.length]);
        const res = await fetch(`${server.url}/v1/models/${spec.name}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(batch.map(({ weather: _label, ...input }) => input)),
        });
        const answer = (await res.json()) as { predictions: { id: string }[] };
        assert.equal(res.status, 200);
        served.push(answer.predictions[0].id);
        await fetch(`${server.url}/v1/feedback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify(answer.predictions.map((p, k) => ({ predictionId: p.id, label: batch[k].weather }))),
        });
        await new Promise((r) => setTimeout(r, 1000));
      }

      await page.goto(`${ui}/models/${spec.name}`);
      const charted = async (caption: RegExp): Promise<number> => {
        const figure = page.locator('figure.chart', { has: page.locator('figcaption', { hasText: caption }) }).first();
        return Number(await figure.getAttribute('data-points'));
      };
      assert.ok((await charted(/error rate on labelled feedback/)) > 0, 'the live metric is charted');
      assert.ok((await charted(/^latency /)) > 0, 'latency is charted');
      assert.ok((await charted(/unusual-input rate/)) > 0, 'the unusual-input rate is charted');
      assert.ok((await charted(/drift of temp_max/)) > 0, 'drift per column is charted');
      assert.equal(await charted(/champion over time/), 1, 'one stint as champion');
      assert.ok((await page.locator('polyline.limit').count()) >= 4, 'limits are drawn');
      assert.match(await page.locator('main').innerText(), /v1 ★/);
      await shot(page, 'console-model');

      // the champion's model card, linked from its row: rendered whole, declared and measured parts, its health
      await Promise.all([
        page.waitForNavigation(),
        page.locator('tr', { hasText: 'v1 ★' }).locator('a', { hasText: 'card' }).click(),
      ]);
      assert.equal(new URL(page.url()).pathname, '/ui/models/weather-console/versions/1/card');
      assert.equal(await page.locator('h1').innerText(), 'Model card: weather-console v1 champion');
      assert.equal(await page.locator('#undeclared').count(), 0, 'the spec declares a card section');
      const uses = await page.locator('#uses').innerText();
      assert.match(uses, /Tomorrow's weather type in Seattle/);
      assert.match(uses, /Out-of-scope uses\s+Any other city\s+Severe weather warnings/);
      assert.match(uses, /Intended users\s+not declared/);
      assert.match(await page.locator('#details').innerText(), /Weather desk <weather@example\.org>/);
      assert.equal(await page.locator('#importance tr[data-feature]').count(), spec.features.length);
      assert.match(await page.locator('#metrics').innerText(), /macroF1/);
      assert.match(await page.locator('#approvals').innerText(), /approved\s+ana\s+.*holdout metrics look right/);
      assert.match(await page.locator('#monitoring').innerText(), /\d+ recent health check\(s\) while champion/);
      assert.match(await page.locator('#considerations').innerText(), /trained on data from 2012-01-01/);
      await shot(page, 'console-card');
      const json = (await (await fetch(`${ui}/models/weather-console/versions/1/card.json`)).json()) as {
        format: string;
        considerations: { use_cases: { description: string }[] };
        approvals: { records: { by: string }[] };
      };
      assert.equal(json.format, 'lumen-model-card/1');
      assert.deepEqual(json.considerations.use_cases, [{ description: spec.card!.intendedUses[0] }]);
      assert.deepEqual(
        json.approvals.records.map((a) => a.by),
        ['ana'],
      );
      await page.goto(`${ui}/models/weather-console/versions/7/card`);
      assert.match(await page.locator('body').innerText(), /weather-console v7 is not registered/);
      await page.goto(`${ui}/models/${spec.name}`);

      // a served prediction, looked up by its id from the model's page: its record and why
      await page.locator('form.lookup input[name=id]').fill(served[0]);
      await Promise.all([page.waitForNavigation(), page.locator('form.lookup button').click()]);
      assert.equal(new URL(page.url()).pathname, `/ui/predictions/${served[0]}`);
      const record = await page.locator('main').innerText();
      assert.match(record, /weather-console v1 \(champion\)/);
      assert.match(record, /How v1 was made/);
      assert.match(record, /The probability of \w+: /);
      assert.equal(await page.locator('tr[data-feature]').count(), spec.features.length, 'every feature attributed');
      await shot(page, 'console-prediction');
      await page.goto(`${ui}/predictions/${'0'.repeat(26)}`);
      assert.match(await page.locator('main').innerText(), /No prediction 0{26}/);
      await page.goto(`${ui}/models/${spec.name}`);
      await page.goto(`${ui}/`);
      assert.match(await page.locator('main table').innerText(), /weather-console\s+v1/);
      await shot(page, 'console-models');

      // 3. a batch in Fahrenheit is held back; discarded from the page
      const fahrenheit = path.join(t.home, 'weather-2013-fahrenheit.csv');
      await withDuckDB((con) =>
        con.run(
          `COPY (SELECT * REPLACE (temp_max * 9 / 5 + 32 AS temp_max, temp_min * 9 / 5 + 32 AS temp_min)
                   FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))}) WHERE year(CAST(date AS DATE)) = 2013)
             TO ${sqlString(fahrenheit)} (HEADER)`,
        ),
      );
      const second = await startTrainingPipeline(
        client,
        spec,
        { uri: fahrenheit },
        { trainingTaskQueue: queues.training, actor: 'test' },
        queues.pipeline,
      );
      await waitForStage(second, 'quarantined');
      await page.goto(`${ui}/quarantine`);
      const held = page.locator(`[data-quarantine="${second.workflowId}"]`);
      assert.equal(await held.count(), 1, 'the batch is listed');
      await held.locator('a', { hasText: 'validation report' }).click();
      assert.match(await page.locator('body').innerText(), /temp_max/);
      await page.goBack();
      await shot(page, 'console-quarantine');
      await held.locator('input[name=token]').fill(TOKEN);
      await held.locator('input[name=by]').fill('ben');
      await held.locator('textarea[name=reason]').fill('temperatures in Fahrenheit; resend in Celsius');
      await Promise.all([page.waitForNavigation(), held.locator('button[value=discard]').click()]);
      assert.match(await page.locator('.flash.done').innerText(), /discarded batch .* of weather-console by ben/);
      assert.equal((await second.handle.result()).outcome, 'discarded');
      assert.match(await page.locator('main').innerText(), /Nothing in quarantine/);
      await page.close();
    });
    // the errors a browser reports are the refusal and the unknown prediction asked for above
    const expected = errors.filter(
      (e) =>
        /\/ui\/approvals\/weather-console\/1: .*status of 401/.test(e) ||
        /\/ui\/predictions\/0{26}: .*status of 404/.test(e) ||
        /\/ui\/models\/weather-console\/versions\/7\/card: .*status of 404/.test(e),
    );
    assert.equal(
      expected.length,
      3,
      'the wrong token was refused with 401, the unknown prediction and the unknown version are 404s',
    );
    assert.deepEqual(
      errors.filter((e) => !expected.includes(e)),
      [],
      'no other console errors on any page',
    );
  });
});
