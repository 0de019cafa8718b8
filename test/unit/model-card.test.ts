import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { uriToPath } from '../../lib/artifacts';
import { renderCardHtml } from '../../lib/card/html';
import { buildModelCard } from '../../lib/card/model-card';
import type { ModelVersion } from '../../lib/registry/types';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { repoRoot, tempHome, type TestHome } from '../support/env';
import { trainAndRegister } from '../support/serving';

/**
 * A model card built from what the pipeline records (a regression model: no slices, no classes), and what it says
 * when its evidence is gone: it still builds, and names what it could not read instead of leaving it out.
 */
const cars = parseModelSpec({
  ...loadModelSpec(path.join(repoRoot, 'examples', 'models', 'cars-mpg.json')),
  name: 'cars-card',
});

describe('model cards', () => {
  let t: TestHome;
  let version: ModelVersion;

  before(async () => {
    t = tempHome('lumen-card-');
    version = await trainAndRegister(
      t.deps,
      cars,
      { uri: 'vega-datasets:cars.json' },
      { workflowId: 'w-card', evidence: true },
    );
  });
  after(() => t.cleanup());

  it('says what was measured of a regression model, and that its uses were never declared', async () => {
    const { registry, store } = t.deps;
    const health = (champion: number, minute: number) =>
      registry.recordMonitorReport({
        model: cars.name,
        champion,
        from: `2026-01-01T00:${String(minute).padStart(2, '0')}:00Z`,
        to: `2026-01-01T00:${String(minute + 1).padStart(2, '0')}:00Z`,
        at: `2026-01-01T00:${String(minute + 1).padStart(2, '0')}:05Z`,
        report: version.artifact,
        summary: { predictions: 10 * minute, labelled: minute, championError: 0.5, findings: [] },
      });
    // checks while v1 served, then many while a later version did: v1's are still found
    for (let m = 0; m < 3; m++) await health(1, m);
    for (let m = 10; m < 40; m++) await health(2, m);

    const card = await buildModelCard(registry, store, cars.name, 1);
    assert.deepEqual(card.missing_evidence, []);
    assert.equal(card.considerations.declared, false);
    assert.equal(card.model_details.version.diff, 'never champion');
    assert.deepEqual(
      card.model_parameters.input_format.map((f) => f.feature),
      cars.features.map((f) => f.name),
    );
    assert.match(card.model_parameters.output_format, /an estimate of "Miles_per_Gallon"/);
    const rmse = card.quantitative_analysis.performance_metrics.find((m) => m.type === 'rmse');
    assert.equal(rmse?.value, version.metrics.rmse);
    assert.equal(rmse?.slice, null);
    assert.equal(card.quantitative_analysis.fairness_gaps.length, 0);
    assert.equal(card.quantitative_analysis.importance?.metric, 'rmse');
    assert.equal(card.model_parameters.data.train.rows, 406);
    assert.ok(card.model_parameters.data.train.profile.some((line) => /^Horsepower: /.test(line)));
    assert.equal(card.monitoring.checks.length, 3, "only v1's health checks, however many came after");
    assert.equal(card.monitoring.checks[0].at, '2026-01-01T00:03:05Z', 'newest first');
    assert.match(card.monitoring.summary, /^3 recent health check\(s\) while champion, 0 with findings/);

    const html = renderCardHtml(card);
    assert.match(html, /id="undeclared"/);
    assert.doesNotMatch(html, /id="missing-evidence"/);
    assert.equal((html.match(/<tr data-feature=/g) ?? []).length, cars.features.length);
  });

  it('a card whose report and profile are gone still builds, and says what it could not read', async () => {
    const { registry, store } = t.deps;
    const report = (version.evaluation as { report: { uri: string } }).report;
    fs.rmSync(uriToPath(report.uri));
    fs.writeFileSync(uriToPath(version.lineage.validation.profile.uri), '{"not":"a profile"}');
    const card = await buildModelCard(registry, store, cars.name, 1);
    assert.equal(card.missing_evidence.length, 2, card.missing_evidence.join('\n'));
    assert.match(card.missing_evidence[0], /^the evaluation report \([0-9a-f]{12}\) could not be read: /);
    assert.match(card.missing_evidence[1], /^the data profile \([0-9a-f]{12}\) could not be read: /);
    assert.equal(card.model_parameters.data.train.profile.length, 0);
    assert.ok(card.quantitative_analysis.performance_metrics.length > 0, 'the metrics on record are still said');
    assert.match(renderCardHtml(card), /id="missing-evidence"/);
  });
});
