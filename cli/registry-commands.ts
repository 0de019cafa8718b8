import { openArtifactStore, readJsonArtifact, type ArtifactStore } from '../lib/artifacts';
import { lumenPaths } from '../lib/config';
import { describeSource } from '../lib/data/source';
import { importanceLines } from '../lib/explain/importance-text';
import { datasetLineage, versionImportance, versionLineage, type VersionLineageView } from '../lib/lineage';
import { openRegistryAt } from '../lib/registry/open';
import type { Registry } from '../lib/registry/types';
import { clientConfig, workflowUrl } from '../client/connection';
import { CliError, parseCount } from '../client/errors';
import { formatMetrics, formatSearch, verdictLine } from '../client/format';
import type { SearchSummary } from '../workflows/definitions';
import { color, printJson, table } from '../client/output';

/** Commands that read the registry and artifact store directly (no Temporal server needed). */

export async function openRegistry(): Promise<{ registry: Registry; store: ArtifactStore }> {
  const paths = lumenPaths();
  return { registry: await openRegistryAt(paths.registry), store: await openArtifactStore(paths) };
}

/** Run with the registry and artifact store open, closing the registry after. */
export async function withRegistry<T>(fn: (registry: Registry, store: ArtifactStore) => Promise<T>): Promise<T> {
  const { registry, store } = await openRegistry();
  try {
    return await fn(registry, store);
  } finally {
    registry.close();
  }
}

export function parseModelRef(ref: string): { model: string; version: number } {
  const m = /^([a-z][a-z0-9-]*)@v?(\d+)$/.exec(ref);
  if (!m) throw new CliError(`expected <model>@<version>, e.g. flights-delay@3, got "${ref}"`);
  return { model: m[1], version: Number(m[2]) };
}

const short = (sha: string): string => sha.slice(0, 12);

/** `lumen models [model]`: every model with its champion, or one model's versions. */
export async function modelsCommand(name: string | undefined, opts: { json?: boolean }): Promise<void> {
  await withRegistry(async (registry) => {
    if (!name) {
      const all = await registry.listModels();
      if (opts.json) return printJson(all);
      if (all.length === 0) return void console.log('no models registered');
      console.log(
        table(
          ['model', 'versions', 'champion'],
          all.map((m) => [m.model, m.versions, m.champion === null ? 'none' : `v${m.champion}`]),
        ),
      );
      return;
    }
    const aliases = await registry.aliases(name);
    const versions = await registry.listVersions(name);
    if (opts.json) return printJson({ model: name, aliases, versions });
    if (versions.length === 0) throw new CliError(`no versions of ${name} (see: lumen models)`);
    const byVersion = new Map<number, string[]>();
    for (const [alias, v] of Object.entries(aliases)) byVersion.set(v, [...(byVersion.get(v) ?? []), alias]);
    console.log(
      table(
        ['version', 'registered', 'aliases', 'metrics', 'gate', 'load check', 'data', 'backend'],
        versions.map((v) => {
          const verdict = (v.evaluation as { verdict?: { passed: boolean } }).verdict;
          const marks = byVersion.get(v.version) ?? [];
          return [
            `v${v.version}`,
            v.createdAt.slice(0, 19).replace('T', ' '),
            marks.includes('champion') ? color.green(`★ ${marks.join(', ')}`) : marks.join(', '),
            formatMetrics(v.metrics),
            verdict ? (verdict.passed ? 'passed' : color.red('failed')) : '',
            v.loadCheck ? (v.loadCheck.passed ? 'passed' : color.red('FAILED')) : 'never',
            short(v.datasetSha256),
            v.backend,
          ];
        }),
      ),
    );
  });
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
    ...(v.lineage.policy
      ? [
          `  policy       v${v.lineage.policy.version} (sha256 ${v.lineage.policy.sha256.slice(0, 12)}…; lumen policy show ${v.model} --history)`,
        ]
      : []),
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
    search?: SearchSummary;
  };
  const losses = training.history?.map((h) => h.loss) ?? [];
  lines.push(
    `  training     ${training.epochs ?? '?'} epochs on ${training.trainingRows ?? '?'} rows` +
      (training.unlabelledRows ? ` (${training.unlabelledRows} rows without a label dropped)` : '') +
      (losses.length ? `, loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}` : '') +
      (training.resumedFromEpoch ? `, resumed after epoch ${training.resumedFromEpoch}` : ''),
  );
  if (training.search) lines.push(...formatSearch(training.search, 13).map((line) => `  ${line}`));
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
  if (verdict) lines.push(`  gate         ${verdictLine(verdict)}`);
  const importance = versionImportance(v);
  if (importance) {
    const [head, ...rows] = importanceLines(importance);
    lines.push(`  importance   ${head}`, ...rows.map((row) => `               ${row}`));
  }
  lines.push(
    `  load check   ${v.loadCheck ? `${v.loadCheck.passed ? 'passed' : 'FAILED'} ${v.loadCheck.at}: ${v.loadCheck.detail}` : 'never run'}`,
  );
  for (const a of view.approvals) {
    lines.push(
      `  approval     ${a.status}${a.decidedBy ? ` by ${a.decidedBy}` : ''}${a.decidedAt ? ` ${a.decidedAt}` : ''}${a.comment ? `: ${a.comment}` : ''}`,
    );
  }
  for (const d of view.decisions) {
    const proof = d.proof === 'signed' ? `signed, key ${d.keyId?.slice(0, 8)}…` : d.proof;
    lines.push(
      `  decision     ${d.at}  ${d.action} by ${d.identity} (${proof}): ${d.outcome}${d.detail ? ` — ${d.detail}` : ''}`,
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
  await withRegistry(async (registry, store) => {
    if (ref === 'dataset') {
      if (!hash) throw new CliError('usage: lumen lineage dataset <sha256>');
      const found = await datasetLineage(registry, hash);
      if (opts.json) return printJson(found);
      if (!found.dataset && found.versions.length === 0) throw new CliError(`no dataset ${hash} in the registry`);
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
  });
}

export async function alertsCommand(model: string | undefined, opts: { limit: string; json?: boolean }): Promise<void> {
  const limit = parseCount(opts.limit, '--limit');
  await withRegistry(async (registry) => {
    const alerts = await registry.listAlerts(model, limit);
    if (opts.json) return printJson(alerts);
    if (alerts.length === 0) return void console.log('no alerts');
    const paint = { critical: color.red, warning: color.yellow, info: (s: string) => s };
    console.log(
      table(
        ['at', 'severity', 'model', 'kind', 'message'],
        alerts.map((a) => [
          a.at.slice(0, 19).replace('T', ' '),
          paint[a.severity](a.severity),
          a.model,
          a.kind,
          a.message,
        ]),
      ),
    );
  });
}

/** `lumen pending`: candidates waiting for a person's approval. */
export async function pendingCommand(model: string | undefined, opts: { json?: boolean }): Promise<void> {
  await withRegistry(async (registry) => {
    const pending = await registry.listApprovals({ model, status: 'pending' });
    const config = clientConfig();
    const rows = await Promise.all(
      pending.map(async (p) => {
        const v = await registry.getVersion(p.model, p.version);
        const verdict = (v?.evaluation as { verdict?: { reason: string } } | undefined)?.verdict;
        return {
          ...p,
          metrics: v?.metrics ?? null,
          verdict: verdict?.reason ?? null,
          url: workflowUrl(config, p.workflowId, p.runId),
        };
      }),
    );
    if (opts.json) return printJson(rows);
    if (rows.length === 0) return void console.log('nothing waits for approval');
    for (const p of rows) {
      console.log(
        `${color.bold(`${p.model} v${p.version}`)}  since ${p.requestedAt}  artifact ${p.artifactSha256.slice(0, 16)}…`,
      );
      if (p.metrics) console.log(`  ${formatMetrics(p.metrics)}`);
      if (p.verdict) console.log(`  ${p.verdict}`);
      console.log(`  web ui ${p.url}`);
      console.log(`  lumen approve ${p.model} --version ${p.version} --comment "…"`);
    }
  });
}

/** `lumen history <model>`: every alias move, or which version was champion at a moment. */
export async function historyCommand(model: string, opts: { at?: string; json?: boolean }): Promise<void> {
  await withRegistry(async (registry) => {
    if (opts.at) {
      const at = new Date(opts.at);
      if (Number.isNaN(at.getTime())) throw new CliError(`--at: not a date/time: "${opts.at}"`);
      const version = await registry.aliasAt(model, 'champion', at.toISOString());
      if (opts.json) return printJson({ model, at: at.toISOString(), champion: version });
      console.log(`${model} champion at ${at.toISOString()}: ${version === null ? 'none' : `v${version}`}`);
      return;
    }
    const events = await registry.aliasHistory(model);
    if (opts.json) return printJson(events);
    const actions = await registry.listMonitorActions(model, 50);
    if (events.length === 0 && actions.length === 0) return void console.log(`no alias history for ${model}`);
    console.log(
      table(
        ['at', 'alias', 'from', 'to', 'by', 'reason', 'workflow'],
        events.map((e) => [
          e.at.slice(0, 19).replace('T', ' '),
          e.alias,
          e.fromVersion === null ? '–' : `v${e.fromVersion}`,
          e.toVersion === null ? 'removed' : `v${e.toVersion}`,
          e.actor,
          e.reason,
          e.workflowId ?? '',
        ]),
      ),
    );
    if (actions.length) {
      console.log(`\nmonitor actions (lumen monitor status ${model} for the running monitor)`);
      console.log(
        table(
          ['at', 'action', 'trigger', 'by', 'outcome', 'why'],
          actions.map((a) => [
            a.at.slice(0, 19).replace('T', ' '),
            a.kind,
            a.trigger,
            a.by,
            typeof a.result.outcome === 'string' ? a.result.outcome : '',
            a.reason,
          ]),
        ),
      );
    }
  });
}

/** `lumen quarantine list`: batches waiting for a person. */
export async function quarantineListCommand(model: string | undefined, opts: { json?: boolean }): Promise<void> {
  await withRegistry(async (registry, store) => {
    const waiting = await registry.listValidations({ model, decision: 'quarantined' });
    const config = clientConfig();
    const rows = await Promise.all(
      waiting.map(async (v) => {
        const report = (await readJsonArtifact(store, v.report)) as { summary: string };
        return { ...v, summary: report.summary, url: workflowUrl(config, v.workflowId, v.runId) };
      }),
    );
    if (opts.json) return printJson(rows);
    if (rows.length === 0) return void console.log('nothing in quarantine');
    for (const v of rows) {
      console.log(
        `${color.bold(v.model)}  batch ${v.datasetSha256.slice(0, 16)}  since ${v.createdAt}  workflow ${v.workflowId}`,
      );
      console.log(`  ${v.summary}`);
      console.log(`  page ${v.html.uri}`);
      console.log(`  web ui ${v.url}`);
      if (v.quarantine) console.log(`  quarantined rows ${v.quarantine.uri}`);
      console.log(`  lumen quarantine release|discard ${v.workflowId} --reason "…"`);
    }
  });
}
