import os from 'node:os';
import path from 'node:path';
import { ArtifactStore } from '../lib/artifacts';
import { lumenPaths } from '../lib/config';
import { snapshotSource } from '../lib/data/snapshot';
import { describeSource, type SourceRef } from '../lib/data/source';
import { datasetLineage, versionLineage, type VersionLineageView } from '../lib/lineage';
import { SqliteRegistry } from '../lib/registry/sqlite';
import { inferContract } from '../lib/validation/infer';
import { ValidationPolicy, contractHash } from '../lib/validation/contract';
import { clientConfig, workflowUrl } from './connection';
import { formatMetrics } from './format';

/** Commands that read the registry and artifact store directly (no Temporal server needed). */

function open(): { registry: SqliteRegistry; store: ArtifactStore } {
  const paths = lumenPaths();
  return { registry: new SqliteRegistry(paths.registry), store: new ArtifactStore(paths.artifacts) };
}

export function parseModelRef(ref: string): { model: string; version: number } {
  const m = /^([a-z][a-z0-9-]*)@v?(\d+)$/.exec(ref);
  if (!m) throw new Error(`expected <model>@<version>, e.g. flights-delay@3, got "${ref}"`);
  return { model: m[1], version: Number(m[2]) };
}

export function formatLineage(view: VersionLineageView): string {
  const v = view.version;
  const config = clientConfig();
  const lines = [
    `${v.model} v${v.version}${view.isChampion ? '  ★ champion' : ''}  (registered ${v.createdAt})`,
    `  artifact     ${v.artifact.uri}`,
    `               sha256 ${v.artifact.sha256}`,
    `  spec         ${v.specHash}`,
    `  contract     ${v.lineage.contractHash}`,
    `  code         ${v.codeVersion}   backend ${v.backend}   seed ${v.seed}`,
    `  training run ${v.workflowId}  run ${v.runId}`,
    `               ${workflowUrl(config, v.workflowId, v.runId)}`,
  ];
  const t = view.trainingDataset;
  const s = view.sourceDataset;
  if (s) lines.push(`  batch        ${s.sha256} (${s.rows} rows) from ${describeSource(s.source)}`);
  else lines.push(`  batch        ${v.lineage.sourceDataset} (not in the registry)`);
  if (t && t.sha256 !== s?.sha256)
    lines.push(`  trained on   ${t.sha256} (${t.rows} rows): ${t.derivedFrom?.reason ?? 'derived'}`);
  if (s?.profile) lines.push(`  profile      ${s.profile.uri}`);
  const val = v.lineage.validation;
  lines.push(
    `  validation   ${val.outcome}, ${val.decision}${val.decidedBy ? ` by ${val.decidedBy}` : ''}${val.reason ? ` — ${val.reason}` : ''}`,
  );
  if (view.validationSummary) lines.push(`               ${view.validationSummary}`);
  lines.push(`               report ${val.report.uri}`, `               page   ${val.html.uri}`);
  if (val.quarantine) lines.push(`               quarantined rows ${val.quarantine.uri}`);
  const training = v.training as {
    epochs?: number;
    trainingRows?: number;
    unlabelledRows?: number;
    resumedFromEpoch?: number | null;
    history?: { loss: number }[];
  };
  const losses = training.history?.map((h) => h.loss) ?? [];
  lines.push(
    `  training     ${training.epochs ?? '?'} epochs on ${training.trainingRows ?? '?'} rows` +
      (training.unlabelledRows ? ` (${training.unlabelledRows} rows without a label dropped)` : '') +
      (losses.length ? `, loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}` : '') +
      (training.resumedFromEpoch ? `, resumed after epoch ${training.resumedFromEpoch}` : ''),
  );
  const evaluation = v.evaluation as {
    holdoutRows?: number;
    champion?: ({ version: number } & Record<string, number>) | null;
    report?: { uri: string };
  };
  lines.push(
    `  evaluation   ${formatMetrics(v.metrics)}${evaluation.holdoutRows ? ` on ${evaluation.holdoutRows} holdout rows` : ''}`,
  );
  if (evaluation.champion) {
    const { version: cv, ...metrics } = evaluation.champion;
    lines.push(`               champion v${cv} on the same rows: ${formatMetrics(metrics)}`);
  }
  if (evaluation.report) lines.push(`               report ${evaluation.report.uri}`);
  const verdict = (v.evaluation as { verdict?: { passed: boolean; reason: string } }).verdict;
  if (verdict) lines.push(`  gate         ${verdict.passed ? 'passed' : 'failed'}: ${verdict.reason}`);
  lines.push(
    `  load check   ${v.loadCheck ? `${v.loadCheck.passed ? 'passed' : 'FAILED'} ${v.loadCheck.at}: ${v.loadCheck.detail}` : 'never run'}`,
  );
  for (const a of view.approvals) {
    lines.push(
      `  approval     ${a.status}${a.decidedBy ? ` by ${a.decidedBy}` : ''}${a.decidedAt ? ` ${a.decidedAt}` : ''}${a.comment ? `: ${a.comment}` : ''}`,
    );
  }
  for (const p of view.promotions) {
    lines.push(
      `  ${p.alias.padEnd(12)} ${p.at}  v${p.fromVersion ?? '–'} → v${p.toVersion ?? '–'} by ${p.actor}: ${p.reason}`,
    );
  }
  return lines.join('\n');
}

export async function lineageCommand(ref: string, hash: string | undefined, opts: { json?: boolean }): Promise<void> {
  const { registry, store } = open();
  try {
    if (ref === 'dataset') {
      if (!hash) throw new Error('usage: lumen lineage dataset <sha256>');
      const found = await datasetLineage(registry, hash);
      if (opts.json) return void console.log(JSON.stringify(found, null, 2));
      if (!found.dataset && found.versions.length === 0) throw new Error(`no dataset ${hash} in the registry`);
      if (found.dataset) {
        console.log(
          `dataset ${found.dataset.sha256} (${found.dataset.rows} rows) from ${describeSource(found.dataset.source)}`,
        );
        if (found.dataset.derivedFrom)
          console.log(`  derived from ${found.dataset.derivedFrom.sha256}: ${found.dataset.derivedFrom.reason}`);
      }
      for (const val of found.validations) {
        console.log(
          `  validated for ${val.model}: ${val.outcome}, ${val.decision}${val.decidedBy ? ` by ${val.decidedBy}` : ''} (${val.workflowId})`,
        );
      }
      if (found.versions.length === 0) console.log('  no model was trained on it');
      for (const v of found.versions) console.log(`  trained ${v.model} v${v.version}  ${formatMetrics(v.metrics)}`);
      return;
    }
    const { model, version } = parseModelRef(ref);
    const view = await versionLineage(registry, store, model, version);
    console.log(opts.json ? JSON.stringify(view, null, 2) : formatLineage(view));
  } finally {
    registry.close();
  }
}

export async function alertsCommand(model: string | undefined, opts: { limit: string }): Promise<void> {
  const { registry } = open();
  try {
    const alerts = await registry.listAlerts(model, Number(opts.limit));
    if (alerts.length === 0) console.log('no alerts');
    for (const a of alerts) console.log(`${a.at}  ${a.severity.padEnd(8)} ${a.model}  ${a.kind}: ${a.message}`);
  } finally {
    registry.close();
  }
}

/** `lumen schema infer`: snapshot a source into a scratch store, profile it, print a proposed contract. */
export async function inferCommand(source: SourceRef): Promise<void> {
  const store = new ArtifactStore(path.join(os.tmpdir(), 'lumen-schema-infer'));
  const dataset = await snapshotSource(store, source);
  const { columns, notes } = await inferContract(dataset);
  const validation = ValidationPolicy.parse({});
  for (const note of notes) console.error(`note: ${note}`);
  console.error(
    `proposed from ${dataset.rows} rows of ${describeSource(source)}; review, then put it in the model spec`,
  );
  console.log(JSON.stringify({ source: { columns }, validation }, null, 2));
  console.error(
    `contract hash (with the label column set): depends on the spec; columns hash ${contractHash({ columns, label: '', policy: validation }).slice(0, 16)}`,
  );
}
