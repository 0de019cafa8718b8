import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { ReportSummary } from '../lib/monitor/report';
import type { MonitorPolicyInput } from '../lib/monitor/policy';
import type { MonitorReportRecord } from '../lib/registry/types';
import { LumenModel, LumenStage } from '../workflows/definitions';
import {
  monitorStatusQuery,
  monitorWorkflowId,
  setPolicyUpdate,
  type MonitorInput,
  type MonitorStatus,
  type PersonRequest,
} from '../workflows/monitor-definitions';
import { clientConfig, taskQueues, withClient, workflowUrl } from '../client/connection';
import { CliError, EXIT, parseVersion } from '../client/errors';
import { signer } from '../client/signing';
import { canonical } from '../lib/access/statement';
import { color, printJson, table } from '../client/output';
import { esc } from '../lib/html';
import { traceLink } from '../lib/telemetry';
import { openRegistry } from './registry-commands';
import { tracesTemplate } from './trace-url';
import { queryOrExplain, WorkflowNotAnswering } from '../client/workflow-health';

/** lumen monitor start|status|check|pause|resume|rollback|retrain|policy|report <model> */

function monitorStart(model: string) {
  const args: [MonitorInput] = [{ model, trainingTaskQueue: taskQueues().training }];
  return {
    workflowId: monitorWorkflowId(model),
    taskQueue: taskQueues().pipeline,
    args,
    typedSearchAttributes: [
      { key: LumenModel, value: model },
      { key: LumenStage, value: 'monitoring' },
    ],
    staticSummary: `monitor of ${model}: health checks, alerts, retrains and rollbacks`,
  };
}

async function knownModel(model: string): Promise<void> {
  const { registry } = await openRegistry();
  try {
    if ((await registry.alias(model, 'champion')) === null) {
      const versions = await registry.listVersions(model);
      throw new CliError(
        versions.length
          ? `${model} has no champion: a monitor watches a served champion (promote one first)`
          : `no model named "${model}" is registered (see: lumen models)`,
      );
    }
  } finally {
    registry.close();
  }
}

/** Send a person's request; the monitor is started first if it is not running (it is one per model). */
export async function monitorSignal(
  kind: 'rollback' | 'retrain' | 'checkNow' | 'pause' | 'resume',
  model: string,
  opts: { reason?: string; to?: string; actor?: string; requestId?: string },
): Promise<void> {
  const reason = opts.reason?.trim() ?? (kind === 'checkNow' ? 'asked for a check' : '');
  if (!reason) throw new CliError(`lumen monitor ${kind} needs --reason "<why>" (it is recorded)`);
  await knownModel(model);
  const { by, sign } = signer(opts.actor);
  const requestId = opts.requestId ?? randomUUID();
  const to = opts.to !== undefined ? parseVersion(opts.to, '--to') : undefined;
  const action = kind === 'checkNow' ? 'check' : kind;
  const proof = sign({ action, model, subject: { requestId, to: to ?? null }, comment: reason });
  const request: PersonRequest = {
    by,
    reason,
    requestId,
    ...(to !== undefined ? { to } : {}),
    ...(proof ? { proof } : {}),
  };
  const config = clientConfig();
  await withClient(async (client) => {
    const handle = await client.workflow.signalWithStart('modelMonitor', {
      ...monitorStart(model),
      signal: kind,
      signalArgs: [request],
    });
    await answering(client, handle, `the ${kind} request is recorded`);
    console.log(`${kind} sent to ${handle.workflowId} (request ${request.requestId}, by ${request.by})`);
    console.log(`follow: lumen monitor status ${model}    web ui  ${workflowUrl(config, handle.workflowId)}`);
  });
}

export async function monitorStartCommand(model: string): Promise<void> {
  await knownModel(model);
  const { by, sign } = signer();
  const reason = 'monitor started by hand';
  const requestId = randomUUID();
  const proof = sign({ action: 'check', model, subject: { requestId, to: null }, comment: reason });
  await withClient(async (client) => {
    const handle = await client.workflow.signalWithStart('modelMonitor', {
      ...monitorStart(model),
      signal: 'checkNow',
      signalArgs: [{ by, reason, requestId, ...(proof ? { proof } : {}) }],
    });
    await answering(client, handle, 'it is started');
    console.log(`monitoring ${model}: ${handle.workflowId} (checks now, then on its interval)`);
  });
}

const pct = (x: number | null | undefined): string =>
  x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`;

/**
 * The monitor answers its query, or the command fails saying why not: a signal is accepted even by a workflow whose
 * every task fails, so "sent" alone would hide a monitor that will never act.
 */
async function answering(client: Client, handle: WorkflowHandle, sent: string): Promise<MonitorStatus> {
  try {
    return await queryOrExplain(client, handle, () => handle.query(monitorStatusQuery));
  } catch (err) {
    if (err instanceof WorkflowNotAnswering) {
      throw new CliError(`${sent}, but the monitor ${err.workflowId} does not answer: ${err.reason}`, EXIT.failed);
    }
    throw err;
  }
}

export async function monitorStatusCommand(model: string, opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    let status: MonitorStatus;
    const handle = client.workflow.getHandle(monitorWorkflowId(model));
    try {
      status = await queryOrExplain(client, handle, () => handle.query(monitorStatusQuery));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new CliError(
          `no monitor runs for ${model}: it starts with the model's first promotion, or by hand: lumen monitor start ${model}`,
          EXIT.failed,
        );
      }
      if (err instanceof WorkflowNotAnswering) throw new CliError(err.message, EXIT.failed);
      throw err;
    }
    if (opts.json) return printJson(status);
    console.log(
      `${color.bold(model)}  champion v${status.champion ?? '–'}  ${status.paused ? color.yellow(`PAUSED by ${status.paused.by}: ${status.paused.reason}`) : color.green('monitoring')}`,
    );
    console.log(
      `checks   ${status.checks}, every ${status.policy.everyMinutes} min (policy from ${status.policyFrom}); next ${status.nextCheckAt}`,
    );
    console.log(
      `history  ${status.historyLength} events in this run; continued as new ${status.continuedAsNew} time(s)`,
    );
    if (status.openIncidents.length) {
      console.log(color.red('\nopen incidents'));
      for (const i of status.openIncidents) console.log(`  ${i.kind} since ${i.openedAt}: ${i.summary}`);
    } else console.log('\nno open incident');
    if (status.reports.length) {
      console.log('\nlast checks');
      console.log(reportTable(status.reports));
    }
    if (status.actions.length) {
      console.log('\nactions');
      console.log(
        table(
          ['at', 'action', 'trigger', 'by', 'outcome'],
          status.actions.map((a) => [a.at, a.kind, a.trigger, a.by, a.outcome]),
        ),
      );
    }
    if (status.pending.length) console.log(`\n${status.pending.length} request(s) waiting to be acted on`);
    if (status.dropped?.total) {
      const last = status.dropped.last!;
      console.log(
        color.yellow(
          `\n${status.dropped.total} malformed signal(s) dropped (${Object.entries(status.dropped.byName)
            .map(([name, n]) => `${name} ${n}`)
            .join(', ')}); the latest, ${last.name} at ${last.at}: ${last.reason}`,
        ),
      );
    }
  });
}

export function reportTable(reports: ReportSummary[]): string {
  return table(
    [
      'report',
      'window end',
      'champion',
      'predictions',
      'labelled',
      'error',
      'drifted',
      'unusual',
      'refused',
      'p99 ms',
      'stream lag',
      'findings',
    ],
    reports.map((r) => [
      r.id,
      r.to,
      r.champion === null ? null : `v${r.champion}`,
      r.predictions,
      r.labelled,
      pct(r.championError),
      pct(r.driftedShare),
      pct(r.unusualRate),
      pct(r.refusedRate),
      r.p99 === null ? null : r.p99.toFixed(1),
      r.streamLag ?? null,
      r.findings.map((f) => f.kind).join(', ') || 'none',
    ]),
  );
}

export async function monitorPolicyCommand(
  model: string,
  opts: { set: string; reason: string; actor?: string },
): Promise<void> {
  let patch: MonitorPolicyInput;
  try {
    patch = JSON.parse(opts.set) as MonitorPolicyInput;
  } catch (err) {
    throw new CliError(`--set must be JSON, e.g. '{"everyMinutes": 1}': ${(err as Error).message}`);
  }
  const { by, sign } = signer(opts.actor);
  const proof = sign({ action: 'policy', model, subject: { policy: canonical(patch) }, comment: opts.reason });
  await withClient(async (client) => {
    try {
      const policy = await client.workflow.getHandle(monitorWorkflowId(model)).executeUpdate(setPolicyUpdate, {
        args: [{ policy: patch, by, reason: opts.reason, ...(proof ? { proof } : {}) }],
      });
      printJson(policy);
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const why = err.cause?.message ?? err.message;
        throw new CliError(/\brefused\b/.test(why) ? why : `policy refused: ${why}`, EXIT.failed);
      }
      if (err instanceof WorkflowNotFoundError) {
        throw new CliError(`no monitor runs for ${model} (lumen monitor start ${model})`, EXIT.failed);
      }
      throw err;
    }
  });
}

/** Stored reports, from the registry (no server needed): a table, JSON, or an HTML page with charts over time. */
export async function monitorReportCommand(
  model: string,
  opts: { since?: string; json?: boolean; html?: string; limit?: string },
): Promise<void> {
  if (opts.since !== undefined && Number.isNaN(Date.parse(opts.since))) {
    throw new CliError(`--since must be a date or time (ISO 8601), got "${opts.since}"`);
  }
  const traces = opts.json ? null : tracesTemplate();
  const { registry } = await openRegistry();
  let reports: MonitorReportRecord[];
  try {
    if ((await registry.listVersions(model)).length === 0) {
      throw new CliError(`no model named "${model}" is registered (see: lumen models)`);
    }
    reports = await registry.listMonitorReports(model, {
      since: opts.since ? new Date(opts.since).toISOString() : undefined,
      limit: opts.limit ? parseVersion(opts.limit, '--limit') : 1000,
    });
  } finally {
    registry.close();
  }
  if (opts.json) return printJson(reports);
  if (reports.length === 0) {
    console.log(`no health checks stored for ${model}${opts.since ? ` since ${opts.since}` : ''}`);
    return;
  }
  const summaries = reports.map((r) => ({ ...(r.summary as unknown as ReportSummary), id: r.id, report: r.report }));
  console.log(reportTable(summaries));
  const traced = tracedFindings(summaries, traces);
  if (traced) console.log(`\n${traced}`);
  if (opts.html) {
    fs.mkdirSync(path.dirname(path.resolve(opts.html)), { recursive: true });
    fs.writeFileSync(opts.html, reportHtml(model, summaries));
    console.log(`\nchart  ${path.resolve(opts.html)}`);
  }
}

/** The newest findings that name traced requests, each with its traces (linked when LUMEN_TRACE_URL is set). */
export function tracedFindings(reports: ReportSummary[], template: string | null, newest = 10): string | null {
  const found = reports
    .flatMap((r) => r.findings.filter((f) => f.traces?.length).map((f) => ({ report: r.id, finding: f })))
    .slice(-newest);
  if (found.length === 0) return null;
  const lines = found.flatMap(({ report, finding }) => [
    `report ${report}, ${finding.kind}:`,
    ...finding.traces!.map(
      (t) => `  trace ${traceLink(template, t.trace) ?? t.trace}  (prediction ${t.prediction}: lumen explain)`,
    ),
  ]);
  return [color.bold('traced requests the findings are about'), ...lines].join('\n');
}

/** A self-contained page: one line chart per measure over the checks, drawn as SVG, and the findings listed. */
export function reportHtml(model: string, reports: ReportSummary[]): string {
  const chart = (title: string, values: (number | null)[], unit: (x: number) => string): string => {
    const w = 640;
    const h = 140;
    const pad = 30;
    const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
    if (finite.length === 0) return `<h3>${esc(title)}</h3><p>not measured in these checks</p>`;
    const max = Math.max(...finite, 1e-9);
    const x = (i: number): number => pad + (values.length === 1 ? 0 : (i * (w - 2 * pad)) / (values.length - 1));
    const y = (v: number): number => h - pad - (v / max) * (h - 2 * pad);
    const points = values
      .map((v, i) => (v === null || !Number.isFinite(v) ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
      .filter((p): p is string => p !== null)
      .join(' ');
    const marks = values
      .map((v, i) =>
        v === null || !Number.isFinite(v)
          ? ''
          : `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3"${reports[i].findings.length ? ' fill="#c0392b"' : ' fill="#2c7fb8"'}><title>${esc(`${reports[i].to}: ${unit(v)}`)}</title></circle>`,
      )
      .join('');
    return `<h3>${esc(title)}</h3><svg width="${w}" height="${h}" role="img" aria-label="${esc(title)}">
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#999"/>
<text x="2" y="${pad}" font-size="11">${esc(unit(max))}</text><text x="2" y="${h - pad}" font-size="11">0</text>
<polyline fill="none" stroke="#2c7fb8" stroke-width="2" points="${points}"/>${marks}</svg>`;
  };
  const rows = reports
    .map(
      (r) =>
        `<tr><td>${r.id}</td><td>${esc(r.to)}</td><td>${r.champion ?? '–'}</td><td>${r.predictions}</td><td>${r.labelled}</td><td>${esc(r.findings.map((f) => `${f.kind}: ${f.summary}`).join(' · ') || 'none')}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(model)} — health over time</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}table{border-collapse:collapse}</style>
</head><body><h1>${esc(model)} — health over time</h1>
<p>${reports.length} checks from ${esc(reports[0].from)} to ${esc(reports.at(-1)!.to)}. Red points: checks with findings.</p>
${chart(
  'error on labelled feedback (champion)',
  reports.map((r) => r.championError),
  pct,
)}
${chart(
  'share of drifted input columns',
  reports.map((r) => r.driftedShare),
  pct,
)}
${chart(
  'share of unusual inputs',
  reports.map((r) => r.unusualRate),
  pct,
)}
${chart(
  'p99 latency',
  reports.map((r) => r.p99),
  (v) => `${v.toFixed(1)} ms`,
)}
${chart(
  'predictions per check',
  reports.map((r) => r.predictions),
  (v) => v.toFixed(0),
)}
<h2>Checks</h2><table><tr><th>report</th><th>window end</th><th>champion</th><th>predictions</th><th>labelled</th><th>findings</th></tr>
${rows}</table></body></html>`;
}
