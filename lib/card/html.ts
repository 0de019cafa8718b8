import { esc } from '../html';
import type { ComparedFeature, ImportanceComparison } from '../explain/importance';
import { fixed4 } from '../explain/importance-text';
import type { CardConsideration, DataDescription, ModelCard, PerformanceMetric } from './card-shape';

/**
 * A model card as one self-contained page: inline style, importance drawn as SVG bars with their intervals, no
 * script and nothing fetched, so it can be mailed, archived beside an audit or opened from the console alike.
 */
export function renderCardHtml(card: ModelCard): string {
  const d = card.model_details;
  const q = card.quantitative_analysis;
  const c = card.considerations;
  const title = `${d.name} ${d.version.name}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: ${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:16px 24px;color:#1b1b1b}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}table{border-collapse:collapse;margin:6px 0}
td,th{border-bottom:1px solid #eee;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{font-weight:600}.muted{color:#666}.ok{color:#2e7d32}.bad{color:#c62828}.warn{color:#b26a00}
code{font-size:12px;word-break:break-all}ul{margin:4px 0 8px 18px;padding:0}
.missing{background:#fff4e5;padding:6px 10px;border-left:3px solid #ed6c02}
</style></head>
<body data-card="${esc(title)}">
<h1>Model card: ${esc(d.name)} <span class="muted">${esc(d.version.name)}</span>${d.champion ? ' <span class="ok">champion</span>' : ''}</h1>
<p>${esc(d.overview)}</p>
${c.declared ? '' : '<p class="missing" id="undeclared">The spec declares no <code>card</code> section: intended uses, users, owners and declared limitations are unknown. What follows is only what was measured.</p>'}
${card.missing_evidence.length ? `<div class="missing" id="missing-evidence"><strong>Evidence this card could not read:</strong><ul>${card.missing_evidence.map((m) => `<li>${esc(m)}</li>`).join('')}</ul></div>` : ''}
<section id="details"><h2>Model details</h2>
<table>
${row('task', esc(d.task))}
${row('version', `${esc(d.version.name)}, registered ${esc(d.version.date)}; ${esc(d.version.diff)}`)}
${row('owners', d.owners.length ? d.owners.map((o) => esc(o.contact ? `${o.name} <${o.contact}>` : o.name)).join(', ') : '<span class="muted">not declared</span>')}
${d.licenses.length ? row('license', d.licenses.map((l) => esc(l.identifier)).join(', ')) : ''}
${d.references.length ? row('references', d.references.map((r) => esc(r.reference)).join('<br>')) : ''}
${row('artifact', `<code>${esc(d.artifact_sha256)}</code>`)}
${row('code', `<code>${esc(d.code_version)}</code>`)}
${row('spec hash', `<code>${esc(d.spec_hash)}</code>`)}
${row('seed', String(d.seed))}
${row('training run', `<code>${esc(d.training_run.workflowId)}</code> <span class="muted">run ${esc(d.training_run.runId)}</span>`)}
</table></section>
<section id="uses"><h2>Intended use</h2>
${list(
  'Intended uses',
  c.use_cases.map((u) => u.description),
)}
${list(
  'Intended users',
  c.users.map((u) => u.description),
)}
${list(
  'Out-of-scope uses',
  c.out_of_scope_uses.map((u) => u.description),
)}
</section>
<section id="parameters"><h2>Model and data</h2>
<table>
${row('architecture', esc(card.model_parameters.model_architecture))}
${row('inputs', card.model_parameters.input_format.map((f) => `${esc(f.feature)} <span class="muted">(${esc(f.kind)} of ${esc(f.columns.join(' × '))})</span>`).join(', '))}
${row('output', esc(card.model_parameters.output_format))}
</table>
${dataSection(card.model_parameters.data.train)}
${dataSection(card.model_parameters.data.eval)}
</section>
<section id="metrics"><h2>Metrics</h2>
${metricsTable(
  q.performance_metrics.filter((m) => m.slice === null),
  q.champion,
)}
${sliceTable(q.performance_metrics.filter((m) => m.slice !== null))}
${q.fairness_gaps.length ? `<h3>Fairness gaps (best slice minus worst)</h3><table><tr><th>column</th><th>slices</th><th>true positive rate</th><th>false positive rate</th><th>predicted positive rate</th><th>auc</th></tr>${q.fairness_gaps.map((g) => `<tr><td>${esc(g.column)}</td><td>${g.slices}</td><td>${fixed4(g.truePositiveRate)}</td><td>${fixed4(g.falsePositiveRate)}</td><td>${fixed4(g.predictedPositiveRate)}</td><td>${fixed4(g.auc)}</td></tr>`).join('')}</table>` : ''}
${q.gate ? `<h3>Gate: <span class="${q.gate.passed ? 'ok' : 'bad'}">${q.gate.passed ? 'passed' : 'failed'}</span></h3><p>${esc(q.gate.reason)}</p><table><tr><th>check</th><th>outcome</th><th>detail</th></tr>${q.gate.checks.map((k) => `<tr><td>${esc(k.name)}</td><td class="${k.outcome === 'pass' ? 'ok' : k.outcome === 'fail' ? 'bad' : 'warn'}">${esc(k.outcome)}</td><td>${esc(k.detail)}</td></tr>`).join('')}</table>` : ''}
</section>
<section id="importance"><h2>What it relies on</h2>
${q.importance ? importanceHtml(q.importance) : '<p class="muted">Permutation importance was not measured for this version.</p>'}
</section>
<section id="considerations"><h2>Limitations and considerations</h2>
${limitations(c.limitations)}
${c.ethical_considerations.length ? `<h3>Ethical considerations</h3><table><tr><th>risk</th><th>mitigation</th></tr>${c.ethical_considerations.map((e) => `<tr><td>${esc(e.name)}</td><td>${esc(e.mitigation_strategy)}</td></tr>`).join('')}</table>` : ''}
</section>
<section id="approvals"><h2>Approvals and promotions</h2>
<p>${card.approvals.required ? 'The gate required a person to approve this version.' : 'The gate did not require a person’s approval.'}</p>
${card.approvals.records.length ? `<table><tr><th>approval</th><th>by</th><th>at</th><th>comment</th></tr>${card.approvals.records.map((a) => `<tr><td>${esc(a.status)}</td><td>${esc(a.by ?? '–')}</td><td>${esc(a.at ?? '–')}</td><td>${esc(a.comment ?? '')}</td></tr>`).join('')}</table>` : ''}
${card.approvals.decisions.length ? `<h3>Decisions</h3><table><tr><th>at</th><th>action</th><th>by</th><th>proof</th><th>outcome</th><th>detail</th></tr>${card.approvals.decisions.map((x) => `<tr><td>${esc(x.at)}</td><td>${esc(x.action)}</td><td>${esc(x.identity)}</td><td>${esc(x.proof)}</td><td>${esc(x.outcome)}</td><td>${esc(x.detail)}</td></tr>`).join('')}</table>` : ''}
${card.approvals.promotions.length ? `<h3>Aliases</h3><table><tr><th>at</th><th>alias</th><th>change</th><th>by</th><th>why</th></tr>${card.approvals.promotions.map((p) => `<tr><td>${esc(p.at)}</td><td>${esc(p.alias)}</td><td>${p.from === null ? '–' : `v${p.from}`} → ${p.to === null ? 'removed' : `v${p.to}`}</td><td>${esc(p.actor)}</td><td>${esc(p.reason)}</td></tr>`).join('')}</table>` : '<p class="muted">Never given an alias.</p>'}
</section>
<section id="monitoring"><h2>Recent health</h2>
<p>${esc(card.monitoring.summary)}</p>
${card.monitoring.checks.length ? `<table><tr><th>at</th><th>window</th><th>predictions</th><th>labelled</th><th>error</th><th>drifted share</th><th>p99 ms</th><th>findings</th></tr>${card.monitoring.checks.map((h) => `<tr><td>${esc(h.at)}</td><td>${esc(h.from)} … ${esc(h.to)}</td><td>${h.predictions}</td><td>${h.labelled}</td><td>${h.error === null ? '–' : fixed4(h.error)}</td><td>${h.driftedShare === null ? '–' : fixed4(h.driftedShare)}</td><td>${h.p99 === null ? '–' : h.p99.toFixed(1)}</td><td>${h.findings.length ? esc(h.findings.join('; ')) : '<span class="ok">none</span>'}</td></tr>`).join('')}</table>` : ''}
</section>
<p class="muted">${esc(card.format)} · field names after the Model Card Toolkit schema · <code>lumen card ${esc(d.name)}@${d.version.name.slice(1)} --json</code> prints it as JSON</p>
</body></html>
`;
}

const row = (name: string, html: string): string => `<tr><th>${esc(name)}</th><td>${html}</td></tr>`;

function list(title: string, items: string[]): string {
  return `<h3>${esc(title)}</h3>${items.length ? `<ul>${items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>` : '<p class="muted">not declared</p>'}`;
}

function dataSection(data: DataDescription): string {
  const period = data.period
    ? `${esc(data.period.from ?? '?')} … ${esc(data.period.to ?? '?')} <span class="muted">(${esc(data.period.column)})</span>`
    : '<span class="muted">no time column</span>';
  return `<h3>${esc(data.name[0].toUpperCase() + data.name.slice(1))}</h3><p>${esc(data.description)}</p><table>
${row('dataset', `<code>${esc(data.sha256)}</code>`)}
${row('source', data.source ? esc(data.source) : '<span class="muted">not in the registry</span>')}
${row('rows', data.rows === null ? '?' : String(data.rows))}
${row('period', period)}
${data.profile.length ? row('profile', data.profile.map(esc).join('<br>')) : ''}
</table>`;
}

function metricsTable(metrics: PerformanceMetric[], champion: ModelCard['quantitative_analysis']['champion']): string {
  const head = `<tr><th>metric</th><th>value</th><th>95% interval</th>${champion ? `<th>champion v${champion.version}, same rows</th>` : ''}</tr>`;
  return `<table>${head}${metrics
    .map((m) => {
      const ci = m.confidence_interval
        ? `${fixed4(m.confidence_interval.lower_bound)} … ${fixed4(m.confidence_interval.upper_bound)}`
        : '<span class="muted">–</span>';
      const theirs = champion
        ? `<td>${champion.metrics[m.type] === undefined ? '–' : fixed4(champion.metrics[m.type])}</td>`
        : '';
      return `<tr><td>${esc(m.type)}</td><td>${fixed4(m.value)}</td><td>${ci}</td>${theirs}</tr>`;
    })
    .join('')}</table>`;
}

function sliceTable(metrics: PerformanceMetric[]): string {
  if (metrics.length === 0) return '';
  const slices = [...new Set(metrics.map((m) => m.slice!))];
  const types = [...new Set(metrics.map((m) => m.type))];
  const value = (slice: string, type: string) => metrics.find((m) => m.slice === slice && m.type === type)?.value;
  return `<h3>By slice</h3><table><tr><th>slice</th>${types.map((t) => `<th>${esc(t)}</th>`).join('')}</tr>${slices
    .map((s) => `<tr><td>${esc(s)}</td>${types.map((t) => `<td>${fixed4(value(s, t) ?? NaN)}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

function limitations(items: CardConsideration[]): string {
  if (items.length === 0) return '<p class="muted">None declared, and none found in the evaluation.</p>';
  const said = { spec: 'declared', evaluation: 'found at evaluation', training: 'found in training' };
  return `<ul>${items.map((l) => `<li>${esc(l.description)} <span class="muted">(${said[l.source]})</span></li>`).join('')}</ul>`;
}

/** Bars of each feature's importance with its interval, the champion's beside it as a tick. */
export function importanceHtml(c: ImportanceComparison): string {
  const values = c.features.flatMap((f) => [f.high, f.champion?.high ?? 0]);
  const max = Math.max(1e-9, ...values);
  const width = 260;
  const x = (v: number) => ((Math.max(0, v) / max) * width).toFixed(1);
  const bar = (f: ComparedFeature) =>
    `<svg width="${width + 4}" height="14" role="img" aria-label="${esc(f.feature)} ${fixed4(f.mean)}"><rect x="0" y="3" width="${x(f.mean)}" height="8" fill="#1976d2"/><line x1="${x(f.low)}" x2="${x(f.high)}" y1="7" y2="7" stroke="#0d47a1" stroke-width="2"/>${f.champion ? `<line x1="${x(f.champion.mean)}" x2="${x(f.champion.mean)}" y1="0" y2="14" stroke="#e65100" stroke-width="2"/>` : ''}</svg>`;
  const vs =
    c.championVersion === null
      ? ''
      : `; <span style="color:#e65100">|</span> champion v${c.championVersion} on the same rows`;
  return `<p class="muted">${esc(c.metric)} lost when a feature's values are shuffled among ${c.rows} holdout rows, ${c.repeats} seeded repeats (seed ${c.seed}), with 95% intervals${vs}.</p>
<table class="importance"><tr><th>#</th><th>feature</th><th>loss</th><th>95% interval</th><th></th>${c.championVersion === null ? '' : '<th>champion</th><th>change</th>'}</tr>${c.features
    .map(
      (f) =>
        `<tr data-feature="${esc(f.feature)}"><td>${f.rank}</td><td>${esc(f.feature)}</td><td>${fixed4(f.mean)}</td><td>${fixed4(f.low)} … ${fixed4(f.high)}</td><td>${bar(f)}</td>${
          c.championVersion === null
            ? ''
            : f.champion
              ? `<td>${fixed4(f.champion.mean)} (#${f.champion.rank})</td><td class="${f.shifted ? 'warn' : ''}">${f.change! >= 0 ? '+' : ''}${fixed4(f.change!)}${f.shifted ? ' (beyond noise)' : ''}</td>`
              : '<td>–</td><td>new feature</td>'
        }</tr>`,
    )
    .join(
      '',
    )}</table>${c.dropped.length ? `<p>No longer read: ${c.dropped.map((d) => `${esc(d.feature)} (champion: ${fixed4(d.mean)}, #${d.rank})`).join(', ')}</p>` : ''}`;
}
