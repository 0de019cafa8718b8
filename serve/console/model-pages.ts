import { MonitorPolicy } from '../../lib/monitor/policy';
import type { HealthReport } from '../../lib/monitor/report';
import type { ModelVersion } from '../../lib/registry/types';
import type { GateVerdict } from '../../lib/gate';
import { championTimeline, esc, timeChart, type Series, type Stint, type Threshold } from './charts';
import { lookupForm } from './prediction-page';
import { cardLink, CHECKS_CHARTED, num, pct, short, when, type ConsoleContext } from './page';

export const verdictOf = (v: ModelVersion): GateVerdict | undefined =>
  (v.evaluation as { verdict?: GateVerdict } | undefined)?.verdict;

/** The headline metrics of a version, as short text. */
export function metricsText(v: ModelVersion): string {
  return Object.entries(v.metrics)
    .filter(([, value]) => Number.isFinite(value))
    .slice(0, 4)
    .map(([k, value]) => `${k} ${num(value)}`)
    .join(' · ');
}

/** Every model: its champion, what this instance serves of it, the monitor's last verdict; what waits for a person. */
export async function overviewPage(ctx: ConsoleContext): Promise<string> {
  const { registry, host, runLink } = ctx;
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
  return waiting + body;
}

export async function modelPage(ctx: ConsoleContext, model: string, versions: ModelVersion[]): Promise<string> {
  const { registry, host, runLink } = ctx;
  const aliases = await registry.aliases(model);
  const champion = aliases.champion ?? null;
  const state = host.state()[model];
  const championRecord = versions.find((v) => v.version === champion) ?? versions[versions.length - 1];
  const policy = MonitorPolicy.parse(championRecord.spec.monitor ?? {});
  const records = await registry.listMonitorReports(model, { limit: CHECKS_CHARTED });
  const full: HealthReport[] = [];
  for (const r of records) {
    full.push(await ctx.healthReport(r));
  }
  const events = (await registry.aliasHistory(model)).filter((e) => e.alias === 'champion');
  const stints: Stint[] = [];
  for (const e of events) {
    const t = Date.parse(e.at);
    if (stints.length && stints[stints.length - 1].to === null) stints[stints.length - 1].to = t;
    if (e.toVersion !== null) stints.push({ version: e.toVersion, from: t, to: null, why: `${e.actor}: ${e.reason}` });
  }
  const head = `<p>Champion <strong>${champion === null ? 'none' : `v${champion}`}</strong>${
    state
      ? ` · served here: v${state.champion ?? '–'}${state.canary ? `, canary v${state.canary.version} (${pct(state.canary.share)})` : ''}${state.shadow ? `, shadow v${state.shadow}` : ''}`
      : ' · <span class="muted">not served by this instance</span>'
  } · ${runLink(`monitor:${model}`, null, 'monitor workflow ↗')}</p>`;

  const sections = [head, lookupForm, '<h2>Champion timeline</h2>', championTimeline(stints, Date.now())];
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
    `<h2>Versions</h2><table><tr><th>version</th><th>registered</th><th>data</th><th>metrics</th><th>gate</th><th>load check</th><th>card</th><th></th></tr>${versions
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
        return `<tr><td>v${v.version}${v.version === champion ? ' ★' : ''}</td><td>${when(v.createdAt)}</td><td>${short(v.datasetSha256)}</td><td>${esc(metricsText(v))}</td><td>${gate}</td><td>${load}</td><td><a href="${cardLink(model, v.version)}">card</a></td><td>${runLink(v.workflowId, v.runId)}</td></tr>`;
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
                `<tr><td>${when(a.at)}</td><td>${esc(a.kind)}</td><td>${esc(a.trigger)}</td><td>${esc(a.by)}</td><td>${esc(typeof a.result.outcome === 'string' ? a.result.outcome : '')}</td><td>${esc(a.reason)}${tracedIn(
                  a.evidence,
                )
                  .map((trace) => ` ${ctx.traceLink(trace)}`)
                  .join('')}</td><td>${runLink(a.workflowId)}</td></tr>`,
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

/** The trace ids an action's evidence names (a finding's traced requests; monitor-logic.ts), checked as such. */
function tracedIn(evidence: Record<string, unknown>): string[] {
  const traces = evidence.traces;
  if (!Array.isArray(traces)) return [];
  return traces
    .map((t: unknown) => (t as { trace?: unknown } | null)?.trace)
    .filter((t): t is string => typeof t === 'string' && /^[0-9a-f]{32}$/.test(t));
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
    for (const c of r.inputDrift.columns ?? []) columns.set(c.column, { warn: c.warn, fail: c.fail, method: c.method });
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
