import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ArtifactRef, ArtifactStore } from '../../lib/artifacts';
import type { HealthReport } from '../../lib/monitor/report';
import { MonitorPolicy } from '../../lib/monitor/policy';
import type { ModelVersion, Registry } from '../../lib/registry/types';
import type { ModelHost } from '../../lib/serving/host';
import { tokenMatches } from '../../lib/serving/tokens';
import type { GateVerdict } from '../../lib/gate';
import { workflowUrl } from '../../client/connection';
import { decideCandidateWith, decideQuarantineWith } from '../../client/decisions';
import { explain } from '../../client/errors';
import { championTimeline, esc, timeChart, type Series, type Stint, type Threshold } from './charts';

/**
 * The web console at /ui, served by `lumen serve`: pages rendered on the server, charts as inline SVG, no script.
 *
 *   /ui                       every model: champion, canary and shadow, the monitor's last verdict
 *   /ui/models/:model         versions, the champion's timeline, monitor charts with their limits, actions, alerts
 *   /ui/approvals             candidates waiting for a person, with approve / reject
 *   /ui/quarantine            batches held back by their contract, with their reports, and release / discard
 *   /ui/validations/:id       a validation report page
 *
 * A decision needs the admin token, a name and a comment; it is sent to the waiting workflow exactly as
 * `lumen approve` or `lumen quarantine release` sends it. Every run links into the Temporal Web UI.
 */
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

interface Deps {
  store: ArtifactStore;
  registry: Registry;
  host: ModelHost;
}

/** how many health checks the model page charts at most */
const CHECKS_CHARTED = 200;

const pct = (v: number): string => `${(100 * v).toFixed(v !== 0 && Math.abs(v) < 0.01 ? 2 : 1)}%`;
const num = (v: number): string =>
  Number.isInteger(v)
    ? v.toLocaleString('en-US')
    : Math.abs(v) >= 100
      ? v.toFixed(0)
      : Math.abs(v) >= 1
        ? v.toFixed(2)
        : v.toPrecision(3);
const when = (iso: string | null | undefined): string => (iso ? esc(iso.slice(0, 19).replace('T', ' ')) : '–');
const short = (sha: string): string => `<code title="${esc(sha)}">${esc(sha.slice(0, 12))}</code>`;

function layout(title: string, body: string, ui: ConsoleOptions['temporalUi'], flash?: Flash): string {
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

interface Flash {
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

function keepFlash(flash: Flash): string {
  const id = randomUUID();
  flashes.set(id, { ...flash, at: Date.now() });
  for (const [key, f] of flashes) {
    if (flashes.size <= FLASHES_KEPT && Date.now() - f.at < FLASH_TTL_MS) break;
    flashes.delete(key);
  }
  return id;
}

function flashOf(query: unknown): Flash | undefined {
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

const verdictOf = (v: ModelVersion): GateVerdict | undefined =>
  (v.evaluation as { verdict?: GateVerdict } | undefined)?.verdict;

/** The headline metrics of a version, as short text. */
function metricsText(v: ModelVersion): string {
  return Object.entries(v.metrics)
    .filter(([, value]) => Number.isFinite(value))
    .slice(0, 4)
    .map(([k, value]) => `${k} ${num(value)}`)
    .join(' · ');
}

export function registerConsole(app: FastifyInstance, deps: Deps, opts: ConsoleOptions): void {
  const { registry, store, host } = deps;
  const ui = opts.temporalUi;
  const runLink = (workflowId: string | null, runId?: string | null, text = 'run ↗'): string =>
    workflowId
      ? `<a href="${esc(workflowUrl(ui, workflowId, runId ?? undefined))}" title="${esc(workflowId)}">${esc(text)}</a>`
      : '–';
  // reports read once (an artifact never changes); bounded, so a long-lived server does not keep every one
  const reports = new Map<number, HealthReport>();
  const REPORTS_KEPT = 4 * CHECKS_CHARTED;
  const readArtifact = async <T>(ref: ArtifactRef): Promise<T> =>
    JSON.parse(fs.readFileSync(await store.verify(ref), 'utf8')) as T;
  const page = (reply: FastifyReply, status: number, html: string): FastifyReply =>
    reply.status(status).type('text/html; charset=utf-8').send(html);

  // browsers ask for it on every page (a validation report's too); there is none, and that is not an error
  app.get('/favicon.ico', async (_req, reply) => reply.status(204).send());
  app.register(
    async (scope) => {
      scope.addHook('onSend', async (_req, reply, payload) => {
        for (const [name, value] of Object.entries(CONSOLE_HEADERS)) reply.header(name, value);
        return payload;
      });
      scope.addHook('onRequest', async (req, reply) => {
        if (opts.loopbackOnly && !loopbackHost(req.headers.host)) {
          return reply
            .status(421)
            .type('text/plain; charset=utf-8')
            .send('this console answers only to a loopback host name (127.0.0.1, localhost, [::1])');
        }
      });
      scope.addHook('preHandler', async (req, reply) => {
        if (req.method !== 'POST') return;
        const why = crossSite(req.headers);
        if (why) {
          const from = req.url.startsWith('/ui/quarantine') ? 'quarantine' : 'approvals';
          return refused(reply, from, `${why}: nothing was decided`, 403);
        }
      });
      // forms post url-encoded fields; only here — the API keeps taking JSON alone
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      });

      scope.get('/', async (req, reply) => {
        const models = await registry.listModels();
        const state = host.state();
        const rows = await Promise.all(
          models.map(async (m) => {
            const s = state[m.model];
            const [last] = (await registry.listMonitorReports(m.model, { limit: 1 })).slice(-1);
            const findings = (last?.summary as { findings?: { kind: string }[] } | undefined)?.findings ?? [];
            const verdict = !last
              ? '<span class="muted">no check yet</span>'
              : findings.length
                ? `<span class="bad">${esc(findings.map((f) => f.kind).join(', '))}</span> <span class="muted">${when(last.to)}</span>`
                : `<span class="ok">healthy</span> <span class="muted">${when(last.to)}</span>`;
            const serving = s
              ? `v${s.champion ?? '–'}${s.canary ? `, canary v${s.canary.version} (${pct(s.canary.share)})` : ''}${s.shadow ? `, shadow v${s.shadow}` : ''}`
              : '<span class="muted">not served here</span>';
            return `<tr><td><a href="/ui/models/${encodeURIComponent(m.model)}">${esc(m.model)}</a></td><td>${m.champion === null ? '–' : `v${m.champion}`}</td><td>${serving}</td><td>${m.versions}</td><td>${verdict}</td><td>${runLink(`monitor:${m.model}`, null, 'monitor ↗')}</td></tr>`;
          }),
        );
        const body = models.length
          ? `<table><tr><th>model</th><th>champion</th><th>serving here</th><th>versions</th><th>last monitor verdict</th><th></th></tr>${rows.join('')}</table>`
          : '<p>No model is registered yet. Train one: <code>lumen start &lt;spec&gt; --source …</code></p>';
        const pending = (await registry.listApprovals({ status: 'pending' })).length;
        const held = (await registry.listValidations({ decision: 'quarantined' })).length;
        const waiting = `<p>${pending ? `<a href="/ui/approvals">${pending} candidate(s) wait for approval</a>` : 'No candidate waits for approval.'} ${held ? `<a href="/ui/quarantine">${held} batch(es) in quarantine</a>` : 'Nothing in quarantine.'}</p>`;
        return page(reply, 200, layout('Models', waiting + body, ui, flashOf(req.query)));
      });

      scope.get('/models/:model', async (req, reply) => {
        const { model } = req.params as { model: string };
        const versions = await registry.listVersions(model);
        if (versions.length === 0) {
          return page(reply, 404, layout('Not found', `<p>No model named "${esc(model)}" is registered.</p>`, ui));
        }
        return page(reply, 200, layout(model, await modelPage(model, versions), ui, flashOf(req.query)));
      });

      scope.get('/approvals', async (req, reply) =>
        page(reply, 200, layout('Approvals', await approvalsPage(), ui, flashOf(req.query))),
      );
      scope.get('/quarantine', async (req, reply) =>
        page(reply, 200, layout('Quarantine', await quarantinePage(), ui, flashOf(req.query))),
      );

      scope.get('/validations/:id', async (req, reply) => {
        const id = Number((req.params as { id: string }).id);
        const v = Number.isSafeInteger(id) ? await registry.getValidation(id) : undefined;
        if (!v) return page(reply, 404, layout('Not found', `<p>No validation ${esc(String(id))}.</p>`, ui));
        return page(reply, 200, fs.readFileSync(await store.verify(v.html), 'utf8'));
      });

      scope.post('/approvals/:model/:version', async (req, reply) => {
        const { model, version } = req.params as { model: string; version: string };
        const form = decisionForm(req.body, ['approve', 'reject'], 'comment');
        if ('error' in form) return refused(reply, 'approvals', form.error, form.status);
        const v = Number(version);
        try {
          const answer = await decideCandidateWith(opts.connect, registry, {
            kind: form.decision as 'approve' | 'reject',
            model,
            version: v,
            by: form.by,
            comment: form.text,
          });
          return done(
            reply,
            `/ui/models/${encodeURIComponent(model)}`,
            answer.awaiting
              ? `approval of ${model} v${v} by ${form.by} recorded; it needs ${answer.awaiting} more approver(s)`
              : `${answer.decision} ${model} v${v} by ${form.by}`,
          );
        } catch (err) {
          return refused(reply, 'approvals', explain(err).message, 409);
        }
      });

      scope.post('/quarantine/:workflowId', async (req, reply) => {
        const { workflowId } = req.params as { workflowId: string };
        const form = decisionForm(req.body, ['release', 'discard'], 'reason');
        if ('error' in form) return refused(reply, 'quarantine', form.error, form.status);
        try {
          const answer = await decideQuarantineWith(opts.connect, registry, {
            kind: form.decision as 'release' | 'discard',
            target: workflowId,
            by: form.by,
            reason: form.text,
          });
          return done(
            reply,
            '/ui/quarantine',
            `${answer.decision} batch ${answer.dataset.slice(0, 12)} of ${answer.model} by ${form.by}`,
          );
        } catch (err) {
          return refused(reply, 'quarantine', explain(err).message, 409);
        }
      });
    },
    { prefix: '/ui' },
  );

  /**
   * A decision form, checked: the admin token, who decides, the decision and its comment or reason.
   */
  function decisionForm(
    body: unknown,
    decisions: string[],
    textField: 'comment' | 'reason',
  ): { decision: string; by: string; text: string } | { error: string; status: number } {
    const f = (body ?? {}) as Record<string, string | undefined>;
    if (!tokenMatches(`Bearer ${f.token ?? ''}`, opts.adminToken)) {
      return { error: 'the admin token is missing or wrong: nothing was decided', status: 401 };
    }
    const decision = f.decision ?? '';
    if (!decisions.includes(decision)) {
      return { error: `decision must be ${decisions.join(' or ')}, got "${decision}"`, status: 400 };
    }
    const by = (f.by ?? '').trim();
    if (!by) return { error: 'say who decides (your name): nothing was decided', status: 400 };
    const text = (f[textField] ?? '').trim();
    if (!text) return { error: `a ${textField} is required: nothing was decided`, status: 400 };
    return { decision, by, text };
  }

  /** A decision made: on to the page that shows its effect (303, so a reload does not send it again). */
  function done(reply: FastifyReply, to: string, what: string): FastifyReply {
    return reply.redirect(`${to}?flash=${keepFlash({ kind: 'done', text: what })}`, 303);
  }

  /** A decision refused: the page it came from again, with why, under the refusal's status. */
  async function refused(
    reply: FastifyReply,
    from: 'approvals' | 'quarantine',
    why: string,
    status: number,
  ): Promise<FastifyReply> {
    const body = from === 'approvals' ? await approvalsPage() : await quarantinePage();
    const title = from === 'approvals' ? 'Approvals' : 'Quarantine';
    return page(reply, status, layout(title, body, ui, { kind: 'error', text: why }));
  }

  async function modelPage(model: string, versions: ModelVersion[]): Promise<string> {
    const aliases = await registry.aliases(model);
    const champion = aliases.champion ?? null;
    const state = host.state()[model];
    const championRecord = versions.find((v) => v.version === champion) ?? versions[versions.length - 1];
    const policy = MonitorPolicy.parse(championRecord.spec.monitor ?? {});
    const records = await registry.listMonitorReports(model, { limit: CHECKS_CHARTED });
    const full: HealthReport[] = [];
    for (const r of records) {
      let report = reports.get(r.id);
      if (!report) {
        report = await readArtifact<HealthReport>(r.report);
        if (reports.size >= REPORTS_KEPT) reports.delete(reports.keys().next().value!);
        reports.set(r.id, report);
      }
      full.push(report);
    }
    const events = (await registry.aliasHistory(model)).filter((e) => e.alias === 'champion');
    const stints: Stint[] = [];
    for (const e of events) {
      const t = Date.parse(e.at);
      if (stints.length && stints[stints.length - 1].to === null) stints[stints.length - 1].to = t;
      if (e.toVersion !== null)
        stints.push({ version: e.toVersion, from: t, to: null, why: `${e.actor}: ${e.reason}` });
    }
    const head = `<p>Champion <strong>${champion === null ? 'none' : `v${champion}`}</strong>${
      state
        ? ` · served here: v${state.champion ?? '–'}${state.canary ? `, canary v${state.canary.version} (${pct(state.canary.share)})` : ''}${state.shadow ? `, shadow v${state.shadow}` : ''}`
        : ' · <span class="muted">not served by this instance</span>'
    } · ${runLink(`monitor:${model}`, null, 'monitor workflow ↗')}</p>`;

    const sections = [head, '<h2>Champion timeline</h2>', championTimeline(stints, Date.now())];
    sections.push(
      `<table><tr><th>at</th><th>alias</th><th>change</th><th>by</th><th>why</th><th></th></tr>${(
        await registry.aliasHistory(model)
      )
        .slice()
        .reverse()
        .slice(0, 30)
        .map(
          (e) =>
            `<tr><td>${when(e.at)}</td><td>${esc(e.alias)}</td><td>${e.fromVersion === null ? '–' : `v${e.fromVersion}`} → ${e.toVersion === null ? 'removed' : `v${e.toVersion}`}</td><td>${esc(e.actor)}</td><td>${esc(e.reason)}</td><td>${runLink(e.workflowId, e.runId)}</td></tr>`,
        )
        .join('')}</table>`,
    );
    sections.push(
      `<h2>Monitor</h2><p class="muted">${full.length} health check(s) charted; limits from v${championRecord.version}'s monitor policy.</p>`,
    );
    sections.push(monitorCharts(full, policy, championRecord.task));

    sections.push(
      `<h2>Versions</h2><table><tr><th>version</th><th>registered</th><th>data</th><th>metrics</th><th>gate</th><th>load check</th><th></th></tr>${versions
        .slice()
        .reverse()
        .map((v) => {
          const verdict = verdictOf(v);
          const gate = verdict
            ? `<span class="${verdict.passed ? 'ok' : 'bad'}">${verdict.passed ? 'passed' : 'failed'}</span> <span class="muted">${esc(verdict.reason)}</span>`
            : '–';
          const load = v.loadCheck
            ? v.loadCheck.passed
              ? '<span class="ok">passed</span>'
              : `<span class="bad">${esc(v.loadCheck.detail)}</span>`
            : '–';
          return `<tr><td>v${v.version}${v.version === champion ? ' ★' : ''}</td><td>${when(v.createdAt)}</td><td>${short(v.datasetSha256)}</td><td>${esc(metricsText(v))}</td><td>${gate}</td><td>${load}</td><td>${runLink(v.workflowId, v.runId)}</td></tr>`;
        })
        .join('')}</table>`,
    );
    const actions = await registry.listMonitorActions(model, 30);
    sections.push(
      `<h2>Monitor actions</h2>${
        actions.length
          ? `<table><tr><th>at</th><th>action</th><th>trigger</th><th>by</th><th>outcome</th><th>why</th><th></th></tr>${actions
              .slice()
              .reverse()
              .map(
                (a) =>
                  `<tr><td>${when(a.at)}</td><td>${esc(a.kind)}</td><td>${esc(a.trigger)}</td><td>${esc(a.by)}</td><td>${esc(typeof a.result.outcome === 'string' ? a.result.outcome : '')}</td><td>${esc(a.reason)}</td><td>${runLink(a.workflowId)}</td></tr>`,
              )
              .join('')}</table>`
          : '<p class="muted">none</p>'
      }`,
    );
    const alerts = await registry.listAlerts(model, 20);
    sections.push(
      `<h2>Alerts</h2>${
        alerts.length
          ? `<table><tr><th>at</th><th>severity</th><th>kind</th><th>message</th><th></th></tr>${alerts
              .map(
                (a) =>
                  `<tr><td>${when(a.at)}</td><td class="${a.severity === 'critical' ? 'bad' : a.severity === 'warning' ? 'warn' : ''}">${esc(a.severity)}</td><td>${esc(a.kind)}</td><td>${esc(a.message)}</td><td>${runLink(a.workflowId, a.runId)}</td></tr>`,
              )
              .join('')}</table>`
          : '<p class="muted">none</p>'
      }`,
    );
    return sections.join('\n');
  }

  function monitorCharts(full: HealthReport[], policy: MonitorPolicy, task: ModelVersion['task']): string {
    const t = (r: HealthReport): number => Date.parse(r.to);
    const regression = task === 'regression';
    const show = regression ? num : pct;
    const measure = regression ? 'mean absolute error' : 'error rate';
    const feedback: Series[] = [
      {
        name: 'champion',
        color: '#2c7fb8',
        points: full.map((r) => {
          const c = r.feedback.champion;
          return c && c.error.n > 0
            ? { t: t(r), y: c.error.value, low: c.error.low, high: c.error.high }
            : { t: t(r), y: null };
        }),
      },
      {
        name: 'previous champion',
        color: '#999',
        points: full.map((r) => ({
          t: t(r),
          y: r.feedback.previous && r.feedback.previous.error.n > 0 ? r.feedback.previous.error.value : null,
        })),
      },
    ];
    const decayLimit: Threshold = {
      label: 'decay limit',
      color: '#c62828',
      y: full.map((r) => {
        const e = r.feedback.champion?.evaluated;
        const y =
          e === null || e === undefined
            ? null
            : regression
              ? e * (1 + policy.decay.maxErrorIncrease)
              : e + policy.decay.maxErrorIncrease;
        return { t: t(r), y };
      }),
    };
    const charts = [
      timeChart(`${measure} on labelled feedback (95% interval)`, feedback, [decayLimit], show),
      timeChart(
        'latency',
        [
          { name: 'p50', color: '#31a354', points: full.map((r) => ({ t: t(r), y: r.latency.p50 })) },
          { name: 'p99', color: '#e6550d', points: full.map((r) => ({ t: t(r), y: r.latency.p99 })) },
        ],
        [{ label: 'p99 limit', color: '#c62828', y: policy.latency.p99Ms }],
        (v) => `${num(v)} ms`,
      ),
      timeChart(
        'unusual-input rate',
        [{ name: 'unusual', color: '#756bb1', points: full.map((r) => ({ t: t(r), y: r.unusual.rate })) }],
        [{ label: 'limit', color: '#c62828', y: policy.unusual.maxRate }],
        pct,
      ),
      timeChart(
        'share of drifted input columns',
        [
          {
            name: 'drifted',
            color: '#de2d26',
            points: full.map((r) => ({ t: t(r), y: r.inputDrift.measured ? r.inputDrift.driftedShare : null })),
          },
        ],
        [{ label: 'retrain at', color: '#c62828', y: policy.drift.driftedShare }],
        pct,
      ),
    ];
    // drift per feature: one small chart per column, its own warn and fail limits drawn
    const columns = new Map<string, { warn: number; fail: number; method: string }>();
    for (const r of full)
      for (const c of r.inputDrift.columns ?? [])
        columns.set(c.column, { warn: c.warn, fail: c.fail, method: c.method });
    const perColumn = [...columns].map(([column, limits]) =>
      timeChart(
        `drift of ${column} (${limits.method})`,
        [
          {
            name: column,
            color: '#2c7fb8',
            points: full.map((r) => ({
              t: t(r),
              y: r.inputDrift.columns?.find((c) => c.column === column)?.value ?? null,
            })),
          },
        ],
        [
          { label: 'warn', color: '#b26a00', y: limits.warn },
          { label: 'fail', color: '#c62828', y: limits.fail },
        ],
        num,
      ),
    );
    return `<div class="grid">${charts.join('')}</div><h3>Drift per input column</h3><div class="grid">${perColumn.join('') || '<p class="muted">not measured yet</p>'}</div>`;
  }

  async function approvalsPage(): Promise<string> {
    const pending = await registry.listApprovals({ status: 'pending' });
    if (pending.length === 0) return '<p>Nothing waits for approval.</p>';
    const cards = await Promise.all(
      pending.map(async (p) => {
        const v = await registry.getVersion(p.model, p.version);
        const verdict = v ? verdictOf(v) : undefined;
        const checks = verdict?.checks?.length
          ? `<table><tr><th>check</th><th>outcome</th><th>detail</th></tr>${verdict.checks
              .map(
                (c) =>
                  `<tr><td>${esc(c.name)}</td><td class="${c.outcome === 'pass' ? 'ok' : c.outcome === 'fail' ? 'bad' : 'muted'}">${esc(c.outcome)}</td><td>${esc(c.detail)}</td></tr>`,
              )
              .join('')}</table>`
          : '';
        const action = `/ui/approvals/${encodeURIComponent(p.model)}/${p.version}`;
        return `<section class="card" data-approval="${esc(`${p.model}:v${p.version}`)}"><h2><a href="/ui/models/${encodeURIComponent(p.model)}">${esc(p.model)}</a> v${p.version}</h2>
<p>waiting since ${when(p.requestedAt)} · artifact ${short(p.artifactSha256)} · ${runLink(p.workflowId, p.runId, 'pipeline run ↗')}</p>
${v ? `<p>${esc(metricsText(v))}</p>` : ''}${verdict ? `<p>${esc(verdict.reason)}${verdict.championVersion ? ` (against champion v${verdict.championVersion})` : ''}</p>` : ''}${checks}
${decisionFormHtml(
  action,
  [
    ['approve', 'Approve and promote'],
    ['reject', 'Reject'],
  ],
  'comment',
)}</section>`;
      }),
    );
    return cards.join('');
  }

  async function quarantinePage(): Promise<string> {
    const held = await registry.listValidations({ decision: 'quarantined' });
    if (held.length === 0) return '<p>Nothing in quarantine.</p>';
    const cards = await Promise.all(
      held.map(async (v) => {
        const report = await readArtifact<{ summary?: string }>(v.report);
        const action = `/ui/quarantine/${encodeURIComponent(v.workflowId)}`;
        return `<section class="card" data-quarantine="${esc(v.workflowId)}"><h2><a href="/ui/models/${encodeURIComponent(v.model)}">${esc(v.model)}</a>: batch ${short(v.datasetSha256)}</h2>
<p>held since ${when(v.createdAt)} · outcome <span class="bad">${esc(v.outcome)}</span> · <a href="/ui/validations/${v.id}">validation report</a> · ${runLink(v.workflowId, v.runId, 'pipeline run ↗')}</p>
<p>${esc(report.summary ?? '')}</p>
${decisionFormHtml(
  action,
  [
    ['release', 'Release (train on it)'],
    ['discard', 'Discard'],
  ],
  'reason',
)}</section>`;
      }),
    );
    return cards.join('');
  }
}

function decisionFormHtml(action: string, decisions: [string, string][], textField: 'comment' | 'reason'): string {
  return `<form class="decide" method="post" action="${esc(action)}">
<label>admin token</label><input type="password" name="token" autocomplete="off" required>
<label>your name</label><input type="text" name="by" required>
<label>${textField}</label><textarea name="${textField}" required></textarea>
<span></span><span>${decisions.map(([value, label]) => `<button type="submit" name="decision" value="${value}">${esc(label)}</button>`).join(' ')}</span>
</form>`;
}
