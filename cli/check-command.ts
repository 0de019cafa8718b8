import { snapshotSource } from '../lib/data/snapshot';
import { loadModelSpec } from '../lib/spec';
import { profileDataset } from '../lib/validation/profile';
import { validateBatch, type ReferenceData } from '../lib/validation/report';
import { EXIT } from '../client/errors';
import { scratchStore } from './infer-command';
import { color, printJson, table } from '../client/output';
import { sourceFromOptions } from './sources';

/**
 * `lumen check <spec> --source X [--reference Y]`: the pipeline's validation, run here, with no server — so data can
 * be checked in a CI job before it is sent. Exit code 0 pass, 1 warn, 2 fail (4: it could not be checked).
 */
export async function checkCommand(
  specFile: string,
  opts: {
    source: string;
    month?: string;
    format?: string;
    reference?: string;
    referenceMonth?: string;
    json?: boolean;
  },
): Promise<void> {
  const spec = loadModelSpec(specFile);
  const source = sourceFromOptions(spec, opts);
  // a scratch store: snapshots, profile and report of a check stay out of the registry
  const store = scratchStore('lumen-check');
  const dataset = await snapshotSource(store, source);
  let reference: ReferenceData | null = null;
  if (opts.reference) {
    const refDataset = await snapshotSource(
      store,
      sourceFromOptions(spec, { source: opts.reference, month: opts.referenceMonth, format: opts.format }),
    );
    reference = {
      dataset: refDataset,
      profile: await profileDataset(store, refDataset, undefined, spec.source.columns),
      kind: 'given',
    };
  }
  const result = await validateBatch(store, spec, dataset, reference);
  const { report } = result;
  process.exitCode = report.outcome === 'pass' ? EXIT.ok : report.outcome === 'warn' ? EXIT.warn : EXIT.failed;
  if (opts.json) {
    printJson({
      ...report,
      files: {
        report: result.reportArtifact.uri,
        html: result.htmlArtifact.uri,
        quarantine: result.quarantine?.uri ?? null,
      },
    });
    return;
  }
  const paint = { pass: color.green, warn: color.yellow, fail: color.red };
  const shown = report.checks.filter((c) => c.outcome !== 'pass');
  if (shown.length) {
    console.log(
      table(
        ['outcome', 'check', 'detail'],
        shown.map((c) => [paint[c.outcome](c.outcome), c.name, c.detail]),
      ),
    );
  }
  console.log(`${paint[report.outcome](report.outcome.toUpperCase())}  ${report.summary}`);
  console.log(
    `rows     ${report.rows.checkedRows} checked, ${report.rows.badRows} bad${result.quarantine ? ` (all of them in ${result.quarantine.uri})` : ''}`,
  );
  console.log(
    `reference ${reference ? `${opts.reference} (${reference.dataset.rows} rows)` : 'none: no drift measured (give --reference)'}`,
  );
  console.log(`report   ${result.htmlArtifact.uri}`);
}
