import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { FastifyReply } from 'fastify';
import type { ArtifactRef, ArtifactStore } from '../../lib/artifacts';
import { readJsonArtifact } from '../../lib/artifacts/store';
import type { HealthReport } from '../../lib/monitor/report';
import type { Registry } from '../../lib/registry/types';
import type { ModelHost } from '../../lib/serving/host';
import type { DecisionRecord } from '../../lib/serving/decision-record';
import { workflowUrl } from '../../client/connection';
import { traceLink } from '../../lib/telemetry';
import { esc } from './charts';

// What every console page shares: its options, the page layout, formats, the flash banner, the headers and the
// checks on where a request comes from.

export interface ConsoleOptions {
  adminToken: string;
  /** where the Temporal Web UI is, for links */
  temporalUi: { uiUrl: string; namespace: string };
  /** a Temporal client, connected when a decision is first sent */
  connect: () => Promise<Client>;
  /**
   * the server listens on a loopback address: a request naming any other host is a page elsewhere that pointed its
   * own name at 127.0.0.1 (DNS rebinding) to read these pages, and is refused
   */
  loopbackOnly?: boolean;
  /** a prediction's decision record by its id (absent: this instance keeps no prediction log) */
  decisionRecord?: (id: string) => Promise<DecisionRecord | undefined>;
  /** where a trace opens in the tracing UI, `{traceId}` in it (LUMEN_TRACE_URL; null: trace ids are shown bare) */
  traceUrl?: string | null;
}

/** Whether an address (as --host takes it: 127.0.0.1, ::1, [::1], localhost) is this machine's loopback. */
export function loopbackAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '');
  return a === 'localhost' || a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/** Whether a Host header (a name or address, then an optional port) names this machine's loopback interface. */
export function loopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  return loopbackAddress(host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, ''));
}

export interface ConsoleDeps {
  store: ArtifactStore;
  registry: Registry;
  host: ModelHost;
}

/** how many health checks the model page charts at most */
export const CHECKS_CHARTED = 200;

export const pct = (v: number): string => `${(100 * v).toFixed(v !== 0 && Math.abs(v) < 0.01 ? 2 : 1)}%`;
export const num = (v: number): string =>
  Number.isInteger(v)
    ? v.toLocaleString('en-US')
    : Math.abs(v) >= 100
      ? v.toFixed(0)
      : Math.abs(v) >= 1
        ? v.toFixed(2)
        : v.toPrecision(3);
export const when = (iso: string | null | undefined): string => (iso ? esc(iso.slice(0, 19).replace('T', ' ')) : '–');
export const short = (sha: string): string => `<code title="${esc(sha)}">${esc(sha.slice(0, 12))}</code>`;

export function layout(title: string, body: string, ui: ConsoleOptions['temporalUi'], flash?: Flash): string {
  const banner = flash
    ? `<p class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">${esc(flash.text)}</p>`
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} — Lumen</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222}
header{background:#1f2d3d;color:#fff;padding:10px 24px;display:flex;gap:20px;align-items:baseline}
header a{color:#cfe3ff;text-decoration:none}header strong{font-size:16px;margin-right:12px}
main{padding:16px 24px;max-width:1180px}
table{border-collapse:collapse;margin:8px 0 18px}td,th{border-bottom:1px solid #e3e3e3;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f6f7f9}.muted{color:#777}.ok{color:#2e7d32}.bad{color:#c62828}.warn{color:#b26a00}
figure.chart{margin:8px 0 16px}figcaption{font-weight:600;margin-bottom:2px}.key{font-weight:400;font-size:12px;margin-left:6px}svg text{font-size:11px;fill:#444}
.flash{padding:8px 12px;border-radius:4px}.flash.error{background:#fdecea;color:#8a1c1c}.flash.done{background:#e8f5e9;color:#1b5e20}
form.decide{display:grid;grid-template-columns:max-content 1fr;gap:4px 8px;max-width:560px;margin:6px 0 18px}
form.decide textarea{min-height:3em}.card{border:1px solid #e3e3e3;border-radius:6px;padding:8px 14px;margin:10px 0}
.grid{display:flex;flex-wrap:wrap;gap:0 24px}
</style></head><body>
<header><strong>Lumen</strong><a href="/ui">models</a><a href="/ui/approvals">approvals</a><a href="/ui/quarantine">quarantine</a>
<a href="${esc(ui.uiUrl)}/namespaces/${esc(encodeURIComponent(ui.namespace))}/workflows">Temporal Web UI ↗</a></header>
<main><h1>${esc(title)}</h1>${banner}${body}</main></body></html>`;
}

export interface Flash {
  kind: 'error' | 'done';
  text: string;
}

/**
 * What a decision's redirect shows on the next page. The text stays here and the link carries only its random id:
 * a banner showing whatever a link says would let anyone craft a page of Lumen's that tells a person what to do.
 * Kept for ten minutes, at most FLASHES_KEPT at a time.
 */
const FLASHES_KEPT = 1000;
const FLASH_TTL_MS = 10 * 60_000;
const flashes = new Map<string, Flash & { at: number }>();

export function keepFlash(flash: Flash): string {
  const id = randomUUID();
  flashes.set(id, { ...flash, at: Date.now() });
  for (const [key, f] of flashes) {
    if (flashes.size <= FLASHES_KEPT && Date.now() - f.at < FLASH_TTL_MS) break;
    flashes.delete(key);
  }
  return id;
}

export function flashOf(query: unknown): Flash | undefined {
  const id = (query as { flash?: unknown } | undefined)?.flash;
  const f = typeof id === 'string' ? flashes.get(id) : undefined;
  return f && Date.now() - f.at < FLASH_TTL_MS ? { kind: f.kind, text: f.text } : undefined;
}

/**
 * Headers for every console page: no script may run and nothing may be loaded (the pages need inline styles and a
 * data: icon only), no other site may frame them (clickjacking a decision form), forms post only here, and types are
 * not sniffed.
 */
export const CONSOLE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // not no-referrer: with it, browsers send "Origin: null" on the console's own form posts
  'referrer-policy': 'same-origin',
};

/**
 * Why a form post comes from another site, or null when it comes from the console itself: browsers send Origin (and
 * Sec-Fetch-Site) with every form post, so a page elsewhere that posts here with a stolen or remembered token is
 * told apart. A client that sends neither (curl, a script) is not a browser and is judged by its token alone.
 */
export function crossSite(headers: Record<string, string | string[] | undefined>): string | null {
  // the browser's own word, where it gives it (every current one does); it cannot be set by a page
  const site = headers['sec-fetch-site'];
  if (typeof site === 'string') {
    return site === 'same-origin' || site === 'none'
      ? null
      : `the form was posted from another site (Sec-Fetch-Site: ${site})`;
  }
  const origin = headers.origin;
  if (typeof origin !== 'string') return null;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `the form was posted from an origin that is not one ("${origin.slice(0, 80)}")`;
  }
  return host === headers.host ? null : `the form was posted from ${origin.slice(0, 80)}, not from this console`;
}

/** What every page of the console reads and links with. */
export interface ConsoleContext extends ConsoleDeps {
  ui: ConsoleOptions['temporalUi'];
  /** a link to a run in the Temporal Web UI ('–' when there is none) */
  runLink: (workflowId: string | null, runId?: string | null, text?: string) => string;
  /** a trace id, linked to the tracing UI when LUMEN_TRACE_URL says where it is */
  traceLink: (traceId: string) => string;
  readArtifact: <T>(ref: ArtifactRef) => Promise<T>;
  /** a monitor report, read once (an artifact never changes) and kept, a bounded number of them */
  healthReport: (record: { id: number; report: ArtifactRef }) => Promise<HealthReport>;
  page: (reply: FastifyReply, status: number, html: string) => FastifyReply;
}

export function consoleContext(deps: ConsoleDeps, opts: ConsoleOptions): ConsoleContext {
  const ui = opts.temporalUi;
  const reports = new Map<number, HealthReport>();
  const REPORTS_KEPT = 4 * CHECKS_CHARTED;
  const readArtifact = async <T>(ref: ArtifactRef): Promise<T> => (await readJsonArtifact(deps.store, ref)) as T;
  return {
    ...deps,
    ui,
    runLink: (workflowId, runId, text = 'run ↗') =>
      workflowId
        ? `<a href="${esc(workflowUrl(ui, workflowId, runId ?? undefined))}" title="${esc(workflowId)}">${esc(text)}</a>`
        : '–',
    traceLink: (traceId) => {
      const href = traceLink(opts.traceUrl ?? null, traceId);
      return href ? `<a href="${esc(href)}"><code>${esc(traceId)}</code> ↗</a>` : `<code>${esc(traceId)}</code>`;
    },
    readArtifact,
    healthReport: async (r) => {
      let report = reports.get(r.id);
      if (!report) {
        report = await readArtifact<HealthReport>(r.report);
        if (reports.size >= REPORTS_KEPT) reports.delete(reports.keys().next().value!);
        reports.set(r.id, report);
      }
      return report;
    },
    page: (reply, status, html) => reply.status(status).type('text/html; charset=utf-8').send(html),
  };
}

/** Where a version's model card is. */
export const cardLink = (model: string, version: number): string =>
  `/ui/models/${encodeURIComponent(model)}/versions/${version}/card`;
