import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { ModelVersion } from '../../lib/registry/types';
import { EXPLAIN_SHARE, MAX_YIELD_MS, PredictionTraffic } from '../../lib/serving/explainer';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { startServer, type RunningServer } from '../../serve/server';
import { repoRoot, tempHome, type TestHome } from '../support/env';
import { testServeOptions, trainAndRegister, weatherRows, type WeatherRow } from '../support/serving';

/**
 * POST /v1/models/:model/explain on a served model: each row's output, attributed to the spec's features (five for
 * Seattle's weather: four measurements and the month), against a background drawn from the version's own training
 * data; the contract checks of a prediction; nothing logged.
 */
const TOKEN = 'test-admin-token';
const weather = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
const spec = parseModelSpec({ ...weather, name: 'weather-explain', training: { ...weather.training, epochs: 20 } });
const cars = parseModelSpec({
  ...loadModelSpec(path.join(repoRoot, 'examples', 'models', 'cars-mpg.json')),
  name: 'cars-explain',
});

interface Explained {
  class?: string;
  probabilities?: Record<string, number>;
  value?: number;
  flags: { code: string }[];
  attribution: {
    class?: string;
    output: number;
    base: number;
    method: string;
    features: { feature: string; columns: string[]; value: number }[];
  };
}

async function post(server: RunningServer, model: string, body: unknown) {
  const res = await fetch(`${server.url}/v1/models/${model}/explain`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as {
      version: number;
      background: { dataset: string; rows: number[]; seed: number };
      explanations: Explained[];
      error?: string;
      problems?: { row: number; field: string; code: string }[];
      id?: string;
    },
  };
}

describe('serving: explanations', () => {
  let t: TestHome;
  let server: RunningServer;
  let version: ModelVersion;
  let rows: WeatherRow[];

  before(async () => {
    t = tempHome('lumen-explain-');
    const year = (y: number) => ({
      uri: 'vega-datasets:seattle-weather.csv',
      window: { column: 'date', start: `${y}-01-01`, end: `${y + 1}-01-01` },
    });
    version = await trainAndRegister(t.deps, spec, year(2013), { champion: true, workflowId: 'w-explain' });
    await trainAndRegister(t.deps, cars, { uri: 'vega-datasets:cars.json' }, { champion: true, workflowId: 'w-cars' });
    rows = (await weatherRows(2014)).slice(0, 5);
    server = await startServer(t.deps, testServeOptions(t.home, TOKEN));
  });
  after(async () => {
    await server?.close();
    t.cleanup();
  });

  it("attributes each row's output to the spec's features, adding up to it from the background's average", async () => {
    const input = rows.map(({ weather: _label, ...r }) => r);
    const res = await post(server, spec.name, input);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.version, version.version);
    assert.equal(res.body.background.dataset, version.datasetSha256);
    assert.equal(res.body.background.rows.length, 32);
    assert.equal(res.body.explanations.length, input.length);
    for (const e of res.body.explanations) {
      const a = e.attribution;
      assert.deepEqual(
        a.features.map((f) => f.feature),
        spec.features.map((f) => f.name),
      );
      assert.equal(a.method, 'exact');
      // what is explained is what was predicted: the chosen class's probability
      assert.equal(a.class, e.class);
      assert.ok(Math.abs(a.output - e.probabilities![e.class!]) < 1e-5, `${a.output} vs ${e.probabilities![e.class!]}`);
      const sum = a.features.reduce((s, f) => s + f.value, 0);
      assert.ok(Math.abs(a.base + sum - a.output) < 1e-9);
      assert.ok(
        a.features.some((f) => Math.abs(f.value) > 1e-3),
        'a trained model moves its output with some feature',
      );
      assert.equal((e as { id?: string }).id, undefined, 'an explanation is not a served prediction: no id');
    }
    // the same rows, the same background and values
    const again = await post(server, spec.name, input);
    assert.deepEqual(again.body, res.body);
    // and nothing of it in the prediction log
    await server.log?.flush();
    assert.equal(fs.existsSync(path.join(t.home, 'predictions', spec.name)), false, 'an explanation was logged');
  });

  it("a regression's value, in the label's units, is explained the same way", async () => {
    const res = await post(server, cars.name, {
      Name: 'test',
      Miles_per_Gallon: null,
      Cylinders: 4,
      Displacement: 120,
      Horsepower: 90,
      Weight_in_lbs: 2400,
      Acceleration: 15,
      Year: '1975-01-01',
      Origin: 'Europe',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [e] = res.body.explanations;
    assert.ok(Math.abs(e.attribution.output - e.value!) < 1e-4, `${e.attribution.output} vs ${e.value}`);
    const sum = e.attribution.features.reduce((s, f) => s + f.value, 0);
    assert.ok(Math.abs(e.attribution.base + sum - e.attribution.output) < 1e-9);
  });

  it('refuses what a prediction refuses, naming the row and column; an unknown model is a 404', async () => {
    const { wind: _wind, weather: _label, ...noWind } = rows[0];
    const bad = await post(server, spec.name, [rows[1], noWind]);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error ?? '', /break the contract of weather-explain/);
    assert.deepEqual(
      bad.body.problems?.map((p) => [p.row, p.field]),
      [[1, 'wind']],
    );
    assert.equal((await post(server, 'nobody', rows[0])).status, 404);
    assert.equal((await post(server, spec.name, [])).status, 400);
    assert.equal((await post(server, spec.name, Array(101).fill(rows[0]))).status, 413);
  });

  it('a client that goes away abandons its rows: they stop waiting at once and are never explained', async () => {
    const input = rows.map(({ weather: _label, ...r }) => r);
    const many = Array.from({ length: 100 }, (_, i) => input[i % input.length]);
    const waiting = async () =>
      (
        (await (await fetch(`${server.url}/v1/models`)).json()) as {
          models: Record<string, { explainWaiting: number }>;
        }
      ).models[spec.name].explainWaiting;
    const metric = async () =>
      /lumen_explain_rows_waiting\{model="weather-explain"\} (\d+)/.exec(
        await (await fetch(`${server.url}/metrics`)).text(),
      )?.[1];
    // the first request's 100 rows are explained while the second's wait behind them
    let firstAnswered = false;
    const first = post(server, spec.name, many).finally(() => (firstAnswered = true));
    const gone = new AbortController();
    const second = fetch(`${server.url}/v1/models/${spec.name}/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(many),
      signal: gone.signal,
    }).catch((err: Error) => err);
    let peak = 0;
    for (let i = 0; i < 200 && peak < 200; i++) {
      peak = Math.max(peak, await waiting());
      if (peak < 200) await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(peak, 200, 'both requests wait');
    assert.equal(await metric(), '200', 'and the metric says so');
    gone.abort();
    assert.ok((await second) instanceof Error);
    // the server hears of the closed connection a moment later; the first request's rows are still being explained
    let after = await waiting();
    for (let i = 0; i < 100 && after > 100; i++) {
      await new Promise((r) => setTimeout(r, 5));
      after = await waiting();
    }
    assert.equal(firstAnswered, false, 'the first request was still being explained (else this proves nothing)');
    assert.ok(after <= 100, `the abandoned rows left the queue: ${after} wait`);
    // a third request fits where the abandoned one was, and the first is answered whole
    const third = post(server, spec.name, input[0]);
    const answered = await first;
    assert.equal(answered.status, 200);
    assert.equal(answered.body.explanations.length, 100);
    assert.equal((await third).status, 200);
    assert.equal(await waiting(), 0, 'nothing waits once the answers are sent');
  });
});

describe('serving: explanations yield to predictions', () => {
  it('an explained row waits while a prediction is in progress, and runs once it ends', async () => {
    const traffic = new PredictionTraffic();
    traffic.begin();
    let ran = false;
    const row = traffic.turn(MAX_YIELD_MS, () => (ran = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ran, false, 'ran during a prediction');
    traffic.end();
    await row;
    assert.equal(ran, true);
  });

  it('is never starved: a row runs after its longest wait, however busy predictions keep the process', async () => {
    const traffic = new PredictionTraffic();
    traffic.begin();
    const started = Date.now();
    await traffic.turn(60, () => undefined);
    assert.ok(Date.now() - started >= 55, 'waited for its turn first');
    traffic.end();
  });

  it('with predictions being served, rows keep to their share of the time', async () => {
    const traffic = new PredictionTraffic();
    // a prediction every 100 ms, throughout
    const predictions = setInterval(() => {
      traffic.begin();
      traffic.end();
    }, 100);
    try {
      traffic.begin();
      traffic.end();
      // rows of 10 ms against a share of 5% of a second (50 ms): rows run at once while they fit in the share,
      // then one waits for the first to leave the window
      const ran: { at: number; ms: number }[] = [];
      const started = performance.now();
      for (let i = 0; i < 10 && !ran.some((r, k) => k > 0 && r.at - ran[k - 1].at > 500); i++) {
        await traffic.turn(5000, () => {
          const from = performance.now();
          while (performance.now() < from + 10);
          ran.push({ at: from - started, ms: performance.now() - from });
        });
      }
      const waited = ran.findIndex((r, k) => k > 0 && r.at - ran[k - 1].at > 500);
      assert.ok(waited >= 2, `rows ran at ${ran.map((r) => r.at.toFixed(0)).join(', ')} ms`);
      const before = ran.slice(0, waited).reduce((sum, r) => sum + r.ms, 0);
      assert.ok(before <= EXPLAIN_SHARE * 1000 + 1, `${before.toFixed(1)} ms ran before a row waited`);
      assert.ok(ran[waited].at - ran[0].at >= 900, 'the row waited for the first to leave the window');
    } finally {
      clearInterval(predictions);
    }
  });
});
