import fs from 'node:fs';
import { ArtifactRef, type ArtifactStore } from '../artifacts';
import { DatasetRef } from '../data/snapshot';
import { describeSource } from '../data/source';
import { DataValidationError } from '../errors';
import { contractOf, type ModelSpec } from '../spec';
import { batchChecks } from './checks';
import { contractHash } from './contract';
import { measureDrift, type DriftReport } from './drift';
import { renderReportHtml } from './html';
import type { Outcome, ValidationReport } from './report-shape';
import { likelyLeaks, specColumnPowers } from './leakage';
import { Profile, profileDataset } from './profile';
import { checkRows } from './rows';

export interface ReferenceData {
  dataset: DatasetRef;
  profile: Profile;
  /** given: named by a person (lumen check --reference) */
  kind: 'champion' | 'lastAccepted' | 'given';
}

export interface ValidationResult {
  report: ValidationReport;
  reportArtifact: ArtifactRef;
  htmlArtifact: ArtifactRef;
  profile: Profile;
  profileArtifact: ArtifactRef;
  /** what training may use: the batch itself, or its good rows when some were quarantined */
  trainingDataset: DatasetRef;
  quarantine?: ArtifactRef;
}

const worst = (outcomes: Outcome[]): Outcome =>
  outcomes.includes('fail') ? 'fail' : outcomes.includes('warn') ? 'warn' : 'pass';

/**
 * Validate a batch against its model's contract and a reference: profile it, check every row, check the batch,
 * measure drift, and decide pass / warn / fail. Artifacts: the profile, the report (JSON) and a page a person
 * can read (HTML, with charts of the drifting columns), plus a quarantine file when rows were set aside.
 */
export async function validateBatch(
  store: ArtifactStore,
  spec: ModelSpec,
  dataset: DatasetRef,
  reference: ReferenceData | null,
  /** the moment of validation: timestamps after it are in the future */
  now: Date = new Date(),
): Promise<ValidationResult> {
  const contract = contractOf(spec);
  const validatedAt = now.toISOString();
  const profile = await profileDataset(store, dataset, reference?.profile, contract.columns);
  const split = await checkRows(
    store,
    dataset,
    contract.columns,
    spec.label,
    spec.validation.reportBadRows,
    validatedAt,
  );
  const checks = batchChecks(dataset, contract, profile, split.result, reference?.profile ?? null);
  const structural = checks.some((c) => c.outcome === 'fail' && ['rows', 'column', 'type'].includes(c.name));
  const usableRows = dataset.rows - split.result.badRows;
  let drift: DriftReport | null = null;
  if (reference && !structural && dataset.rows > 0) {
    drift = await measureDrift(store, contract.columns, spec.validation, { dataset, profile }, reference);
    for (const d of drift.columns) {
      if (d.outcome === 'pass') continue;
      checks.push({
        name: 'drift',
        column: d.column,
        outcome: d.outcome,
        detail:
          d.kind === 'timestamp'
            ? `column "${d.column}": the batch's median time lies ${d.value.toFixed(0)} days outside the reference's time range (warn at ${d.warn}, fail at ${d.fail} days)`
            : `column "${d.column}" drifted: ${d.method} ${d.value.toFixed(4)} (warn at ${d.warn}, fail at ${d.fail})`,
        value: d.value,
        threshold: d.fail,
      });
    }
    if (drift.driftedShare >= spec.validation.drift.datasetShare.warn) {
      checks.push({
        name: 'dataset-drift',
        outcome: drift.driftedShare >= spec.validation.drift.datasetShare.fail ? 'fail' : 'warn',
        detail: `${(100 * drift.driftedShare).toFixed(0)}% of checked columns drifted`,
        value: drift.driftedShare,
        threshold: spec.validation.drift.datasetShare.fail,
      });
    }
  }
  const leakage = spec.gate.leakage as ModelSpec['gate']['leakage'] | undefined;
  if (!structural && dataset.rows > 0 && leakage && leakage.action !== 'off') {
    // a warning here, whatever the gate makes of it: the data is sound, a feature reading this column is not
    for (const leak of likelyLeaks(await specColumnPowers(store, spec, dataset), leakage)) {
      checks.push({
        name: 'leakage',
        column: leak.column,
        outcome: 'warn',
        detail: `column "${leak.column}" likely leaks the label: ${leak.why}`,
        value: leak.power,
        threshold: leakage.power,
      });
    }
  }
  const outcome = worst(checks.map((c) => c.outcome));
  const failures = checks.filter((c) => c.outcome === 'fail');
  const name = `${describeSource(dataset.source)} (snapshot ${dataset.sha256.slice(0, 12)})`;
  const summary =
    outcome === 'fail'
      ? `dataset ${name} failed validation: ${failures.map((c) => c.detail).join('; ')}`
      : outcome === 'warn'
        ? `dataset ${name} passed with warnings: ${checks
            .filter((c) => c.outcome === 'warn')
            .map((c) => c.detail)
            .join('; ')}`
        : `dataset ${name} passed every check`;
  const report: ValidationReport = {
    format: 'lumen-validation/1',
    model: spec.name,
    validatedAt,
    dataset: { sha256: dataset.sha256, uri: dataset.uri, rows: dataset.rows, source: describeSource(dataset.source) },
    contractHash: contractHash(contract),
    reference: reference
      ? { sha256: reference.dataset.sha256, rows: reference.dataset.rows, kind: reference.kind }
      : null,
    outcome,
    trainable: !structural && usableRows > 0,
    checks,
    rows: split.result,
    drift,
    summary,
  };
  const [profileArtifact, reportArtifact, htmlArtifact] = await Promise.all([
    store.putJson('profiles', profile),
    store.putJson('reports/validation', report),
    store.putFile(
      'reports/validation',
      writeTemp(store, renderReportHtml(report, profile, reference?.profile ?? null)),
      '.html',
    ),
  ]);
  return {
    report,
    reportArtifact,
    htmlArtifact,
    profile,
    profileArtifact,
    trainingDataset: split.clean ?? dataset,
    quarantine: split.quarantine,
  };
}

function writeTemp(store: ArtifactStore, body: string): string {
  const file = store.tempPath('report');
  fs.writeFileSync(file, body);
  return file;
}

/** The error for a batch that cannot be trained on at all. */
export function validationError(report: ValidationReport): DataValidationError {
  return new DataValidationError(report.summary, { outcome: report.outcome, dataset: report.dataset.sha256 });
}
