import assert from 'node:assert/strict';
import path from 'node:path';
import type { ModelVersion } from '../../lib/registry/types';
import fs from 'node:fs';
import { decisionRecord, type DecisionRecord } from '../../lib/serving/decision-record';
import { newPredictionId } from '../../lib/serving/ids';
import { DEFAULT_LOG_OPTIONS, PredictionLog } from '../../lib/serving/prediction-log';
import { scoreOf, ServedVersion } from '../../lib/serving/version';
import { formatRecord } from '../../cli/explain-command';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { startServer, type RunningServer } from '../../serve/server';
import { eventually, repoRoot, tempHome, type TestHome } from '../support/env';
import { testServeOptions, trainAndRegister, weatherRows, type WeatherRow } from '../support/serving';

/**
 * A prediction's decision record, from its id alone, after the version that made it stopped serving: what came in
 * and went out, the version and how it was made, the champion then, the label that came back — and its attribution,
 * computed by that version, the same as it would have been while it served.
 */
const TOKEN = 'test-admin-token';
const weather = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
const spec = parseModelSpec({ ...weather, name: 'weather-record', training: { ...weather.training, epochs: 20 } });
const year = (y: number) => ({
  uri: 'vega-datasets:seattle-weather.csv',
  window: { column: 'date', start: `${y}-01-01`, end: `${y + 1}-01-01` },
});

describe('serving: the decision record of a prediction', () => {
  let t: TestHome;
  let server: RunningServer;
  let v1: ModelVersion;
  let v2: ModelVersion;
  let row: Omit<WeatherRow, 'weather'>;
  let label: string;

  const call = async (method: string, url: string, body?: unknown, token: string | null = TOKEN) => {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    t = tempHome('lumen-record-');
    v1 = await trainAndRegister(t.deps, spec, year(2012), { champion: true, workflowId: 'w-record-1' });
    v2 = await trainAndRegister(t.deps, spec, year(2013), { workflowId: 'w-record-2' });
    const [first] = await weatherRows(2014);
    ({ weather: label, ...row } = first);
    server = await startServer(t.deps, testServeOptions(t.home, TOKEN));
  });
  after(async () => {
    await server?.close();
    t.cleanup();
  });

  it('answers from the id alone, with its attribution by the version that made it, after that version stopped serving', async () => {
    const answered = await call('POST', `/v1/models/${spec.name}/predict`, row, null);
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    const [prediction] = answered.body.predictions as {
      id: string;
      class: string;
      probabilities: Record<string, number>;
    }[];
    // what the explain route says of the same row while v1 serves
    const explainedThen = await call('POST', `/v1/models/${spec.name}/explain`, row, null);
    const then = (explainedThen.body.explanations as { attribution: DecisionRecord['attribution'] }[])[0].attribution;
    const backgroundThen = explainedThen.body.background;
    assert.equal((await call('POST', '/v1/feedback', [{ predictionId: prediction.id, label }])).status, 200);

    // v2 becomes champion; v1 is no longer served here
    await t.deps.registry.moveChampion({
      model: spec.name,
      to: v2.version,
      expectedChampion: v1.version,
      kind: 'promote',
      reason: 'test: a newer version',
      actor: 'test',
      workflowId: 'w-record-promote',
      runId: 'r',
      requestId: 'promote-v2',
      requireLoadCheck: false,
    });
    await eventually('v2 served', async () => {
      const m = await call('GET', `/v1/models/${spec.name}`, undefined, null);
      return (m.body.serving as { version: number } | undefined)?.version === v2.version ? true : undefined;
    });

    const res = await call('GET', `/v1/predictions/${prediction.id}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const r = res.body as unknown as DecisionRecord;
    assert.equal(r.id, prediction.id);
    assert.equal(r.model, spec.name);
    assert.equal(r.version, v1.version);
    assert.equal(r.arm, 'champion');
    assert.equal(r.championThen, v1.version);
    assert.deepEqual(r.input, row);
    assert.deepEqual(r.output, { class: prediction.class, probabilities: prediction.probabilities });
    assert.deepEqual(r.feedback?.label, label);
    assert.ok(r.made);
    assert.equal(r.made.artifact.sha256, v1.artifact.sha256);
    assert.equal(r.made.trainingDataset, v1.datasetSha256);
    assert.equal(r.made.specHash, v1.specHash);
    assert.equal(r.made.validation.decision, 'accepted');
    assert.equal(r.made.gate?.passed, true);
    // the attribution v1 gives now is the one it gave while it served
    assert.ok(!('unavailable' in r.attribution), JSON.stringify(r.attribution));
    const { background, ...attribution } = r.attribution;
    assert.deepEqual(attribution, then);
    assert.deepEqual(background, backgroundThen);
    assert.ok('output' in r.attribution);
    assert.ok(Math.abs(r.attribution.output - prediction.probabilities[prediction.class]) < 1e-5);

    // `lumen explain <id>` says the same to a person
    const text = formatRecord(r);
    assert.match(text, new RegExp(`^model +${spec.name} v1, champion$`, 'm'));
    assert.match(text, new RegExp(`label {6}"${label}"`));
    assert.match(text, new RegExp(`the probability of "${prediction.class}": `));
    for (const f of spec.features) assert.match(text, new RegExp(`^${f.name} `, 'm'));
  });

  it('a prediction answered a week ago by a version no longer serving: found in that day of the log, explained by that version', async () => {
    // a log written a week ago: its records lie in that day's folder, and the id carries that time
    const weekAgo = Date.now() - 7 * 86_400_000;
    const root = path.join(t.home, 'week-old-log');
    const log = new PredictionLog(root, DEFAULT_LOG_OPTIONS, () => weekAgo);
    const id = newPredictionId(weekAgo);
    const served = await ServedVersion.load(t.deps.store, v1);
    const read = served.rows.read([row]);
    const [output] = served.predict(served.rows.layout(read.rows).table);
    served.dispose();
    const { score, predicted } = scoreOf(output);
    await log.append([
      {
        id,
        model: spec.name,
        version: v1.version,
        arm: 'champion',
        at: weekAgo,
        latencyMs: 1.5,
        input: row,
        output,
        score,
        predicted,
        flags: [],
      },
    ]);
    await log.close();
    assert.ok(
      fs.readdirSync(path.join(root, spec.name)).includes(`date=${new Date(weekAgo).toISOString().slice(0, 10)}`),
    );
    assert.notEqual(server.host.served(spec.name)?.version, v1.version, 'v1 no longer serves');

    const r = await decisionRecord({ store: t.deps.store, registry: t.deps.registry, logRoot: root }, id);
    assert.ok(r, 'the week-old prediction is found');
    assert.equal(r.version, v1.version);
    assert.equal(r.at, new Date(weekAgo).toISOString());
    assert.deepEqual(r.output, output);
    // a week ago, before v1 was registered, there was no champion on record
    assert.equal(r.championThen, null);
    assert.ok(!('unavailable' in r.attribution), JSON.stringify(r.attribution));
    assert.ok(Math.abs(r.attribution.output - score) < 1e-5);
    const sum = r.attribution.features.reduce((acc, f) => acc + f.value, 0);
    assert.ok(Math.abs(r.attribution.base + sum - r.attribution.output) < 1e-9);
    // an id of three days before, never answered here: not found
    assert.equal(
      await decisionRecord(
        { store: t.deps.store, registry: t.deps.registry, logRoot: root },
        newPredictionId(weekAgo - 86_400_000 * 3),
      ),
      undefined,
    );
  });

  it('refuses a malformed id, an unknown one and a caller without a token', async () => {
    assert.equal((await call('GET', '/v1/predictions/not-an-id')).status, 400);
    const unknown = await call('GET', `/v1/predictions/${'0'.repeat(26)}`);
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.error), /no prediction 0{26} in this instance's prediction log$/); // and no path
    assert.equal((await call('GET', `/v1/predictions/${'0'.repeat(26)}`, undefined, null)).status, 401);
  });
});
