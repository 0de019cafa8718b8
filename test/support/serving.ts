import path from 'node:path';
import type { ActivityDeps } from '../../activities';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import type { ServeOptions } from '../../serve/server';
import { repoRoot, vegaPath } from './env';
import { snapshotSource } from '../../lib/data/snapshot';
import type { SourceRef } from '../../lib/data/source';
import { evaluationOptions, evaluateArtifact, loadHoldout, makeCanary } from '../../lib/evaluation/evaluate';
import { compareImportance } from '../../lib/explain/importance';
import type { ModelVersion } from '../../lib/registry/types';
import { profileDataset } from '../../lib/validation/profile';
import { loadModelSpec, parseModelSpec, specHash, type ModelSpec } from '../../lib/spec';
import { trainOnDataset } from '../../lib/training';
import { DEFAULT_LOG_OPTIONS } from '../../lib/serving/prediction-log';

/**
 * The flights model the serving benchmarks serve (MLP 154→64→32→1): the example spec, one epoch on at most 100k
 * rows of January 2001, registered as champion.
 */
export async function trainBenchFlightsModel(deps: ActivityDeps): Promise<{ spec: ModelSpec; version: ModelVersion }> {
  const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'flights-delay.json'));
  const spec = parseModelSpec({ ...base, training: { ...base.training, epochs: 1, maxTrainingRows: 100_000 } });
  const source = {
    uri: 'vega-datasets:flights-3m.parquet',
    window: { column: 'date', start: '2001-01-01', end: '2001-02-01' },
  };
  return { spec, version: await trainAndRegister(deps, spec, source, { champion: true, workflowId: 'bench' }) };
}

/**
 * Train and register a version directly through lib/ (no Temporal: these tests are about serving), with what a
 * pipeline records that serving reads: the canary, the metrics, a passed load check; optionally made champion.
 */
export async function trainAndRegister(
  deps: ActivityDeps,
  spec: ModelSpec,
  source: SourceRef,
  options: {
    champion?: boolean;
    workflowId: string;
    /** also keep what a model card reads: the batch's profile, the evaluation report, importance */
    evidence?: boolean;
  },
): Promise<ModelVersion> {
  const dataset = await snapshotSource(deps.store, source);
  const trained = await trainOnDataset(deps.store, spec, dataset, {
    checkpointKind: `checkpoints/test/${options.workflowId}`,
    onCheckpoint: () => Promise.resolve(),
  });
  const { table, rows } = await loadHoldout(deps.store, spec, dataset);
  const scored = await evaluateArtifact(deps.store, trained.artifact, table, rows, evaluationOptions(spec));
  const canary = await deps.store.putJson(
    'canaries',
    await makeCanary(deps.store, spec, trained.artifact, table, rows),
  );
  const profile = options.evidence
    ? await deps.store.putJson('profiles', await profileDataset(deps.store, dataset, undefined, spec.source.columns))
    : null;
  await deps.registry.recordDataset(dataset, profile);
  const evidence = options.evidence
    ? {
        report: await deps.store.putJson('reports/evaluation', { holdoutRows: rows.length, candidate: scored }),
        importance: compareImportance(scored.importance!, null),
      }
    : {};
  const v = await deps.registry.registerVersion({
    model: spec.name,
    artifact: trained.artifact,
    task: spec.task,
    spec,
    specHash: specHash(spec),
    dataset,
    lineage: {
      sourceDataset: dataset.sha256,
      contractHash: 'test',
      validation: {
        id: 0,
        outcome: 'pass',
        decision: 'accepted',
        decidedBy: 'contract',
        reason: null,
        report: canary,
        html: canary,
        profile: profile ?? canary,
        quarantine: null,
      },
    },
    codeVersion: 'test',
    backend: trained.backend,
    seed: spec.training.seed,
    workflowId: options.workflowId,
    runId: options.workflowId,
    metrics: scored.metrics,
    training: { ...trained, artifact: undefined },
    // as the pipeline records it for a candidate that passed its gate
    evaluation: {
      canary,
      holdoutRows: rows.length,
      verdict: {
        passed: true,
        firstRun: false,
        approvalRequired: false,
        championVersion: null,
        checks: [],
        reason: 'registered by a test',
      },
      ...evidence,
    },
  });
  await deps.registry.recordLoadCheck(spec.name, v.version, {
    passed: true,
    detail: 'test',
    at: new Date().toISOString(),
  });
  if (options.champion) {
    await deps.registry.moveChampion({
      model: spec.name,
      to: v.version,
      expectedChampion: 'any',
      kind: 'promote',
      actor: 'test',
      reason: 'test',
      requestId: `promote-${options.workflowId}`,
      requireLoadCheck: true,
    });
  }
  return (await deps.registry.getVersion(spec.name, v.version))!;
}

export interface WeatherRow {
  date: string;
  precipitation: number;
  temp_max: number;
  temp_min: number;
  wind: number;
  weather: string;
}

/** A year of Seattle's weather as rows, in date order (the label, `weather`, included). */
export async function weatherRows(y: number): Promise<WeatherRow[]> {
  return withDuckDB(async (con) =>
    (
      await con.runAndReadAll(
        `SELECT strftime(CAST(date AS DATE), '%Y-%m-%d') AS date, precipitation, temp_max, temp_min, wind, weather
           FROM read_csv(${sqlString(vegaPath('seattle-weather.csv'))})
          WHERE year(CAST(date AS DATE)) = ${y} ORDER BY date`,
      )
    )
      .getRowObjectsJS()
      .map((r) => ({
        date: r.date as string,
        precipitation: Number(r.precipitation),
        temp_max: Number(r.temp_max),
        temp_min: Number(r.temp_min),
        wind: Number(r.wind),
        weather: r.weather as string,
      })),
  );
}

/** What a test's serving instance runs with: logging to the test's home, tokens given, no rate limit. */
export function testServeOptions(home: string, token: string, overrides: Partial<ServeOptions> = {}): ServeOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    batch: { maxBatch: 256, maxWaitMs: 2 },
    bodyLimit: 1024 * 1024,
    maxRows: 1000,
    rateLimit: null,
    tokens: { admin: token, feedback: token, predict: null },
    watchMs: 500,
    log: {
      root: path.join(home, 'predictions'),
      options: { ...DEFAULT_LOG_OPTIONS, flushEveryMs: 500, retentionDays: 30 },
    },
    feedbackFile: path.join(home, 'predictions', 'feedback.sqlite'),
    corsOrigin: null,
    home,
    ...overrides,
  };
}
