import type { DecisionRecord } from '../../lib/serving/decision-record';
import { esc } from './charts';
import { cardLink, num, short, when, type ConsoleContext } from './page';

/** The decision record of one prediction (GET /v1/predictions/:id), as a page. */
export function predictionPage(ctx: ConsoleContext, r: DecisionRecord): string {
  const row = (k: string, v: string) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`;
  const json = (v: unknown) => `<code>${esc(JSON.stringify(v))}</code>`;
  const model = `<a href="/ui/models/${encodeURIComponent(r.model)}">${esc(r.model)}</a> v${r.version}`;
  const head = `<table>${[
    row('answered', `${when(r.at)} · ${num(r.latencyMs)} ms`),
    row(
      'by',
      `${model} (${esc(r.arm)})${r.championThen !== null && r.championThen !== r.version ? ` · the champion then: v${r.championThen}` : ''} · <a href="${cardLink(r.model, r.version)}">model card</a>`,
    ),
    row('input', json(r.input)),
    row('output', json(r.output)),
    row('flags', r.flags.length ? esc(r.flags.map((f) => `${f.field}: ${f.code}`).join(', ')) : 'none'),
    row(
      'label',
      r.feedback ? `${json(r.feedback.label)} <span class="muted">${when(r.feedback.receivedAt)}</span>` : 'none yet',
    ),
    ...(r.shadow ? [row('shadow', `v${r.shadow.version}: ${json(r.shadow.output)}`)] : []),
    // the request's trace, when the server traced it (docs/observability.md)
    ...(r.traceId ? [row('trace', ctx.traceLink(r.traceId))] : []),
  ].join('')}</table>`;
  const m = r.made;
  const made = m
    ? `<h2>How v${r.version} was made</h2><table>${[
        row(
          'artifact',
          `${short(m.artifact.sha256)} · ${esc(m.backend)} · seed ${m.seed} · code ${short(m.codeVersion)}`,
        ),
        row(
          'data',
          `batch ${short(m.sourceDataset)}, trained on ${short(m.trainingDataset)}: ${esc(m.validation.outcome)}, ${esc(m.validation.decision)}${m.validation.decidedBy ? ` by ${esc(m.validation.decidedBy)}` : ''}${m.validation.reason ? ` — ${esc(m.validation.reason)}` : ''}`,
        ),
        row('spec', `${short(m.specHash)}${m.policy ? ` · policy v${m.policy.version}` : ''}`),
        row(
          'gate',
          m.gate
            ? `<span class="${m.gate.passed ? 'ok' : 'bad'}">${m.gate.passed ? 'passed' : 'failed'}</span> ${esc(m.gate.reason)}`
            : 'not recorded',
        ),
        row(
          'approval',
          m.approvals.length
            ? esc(
                m.approvals
                  .map((a) => `${a.status} by ${a.decidedBy ?? '–'}${a.comment ? ` (${a.comment})` : ''}`)
                  .join('; '),
              )
            : 'none asked',
        ),
        row('run', ctx.runLink(m.workflowId, m.runId, m.workflowId)),
      ].join('')}</table>`
    : `<p class="bad">v${r.version} is not registered any more.</p>`;
  const a = r.attribution;
  let why: string;
  if ('unavailable' in a) why = `<p class="muted">No attribution: ${esc(a.unavailable)}</p>`;
  else {
    const top = Math.max(...a.features.map((f) => Math.abs(f.value)), 1e-12);
    const bar = (v: number) =>
      `<svg width="160" height="12" role="img" aria-label="${esc(num(v))}"><rect x="${v < 0 ? 80 - (80 * -v) / top : 80}" y="1" width="${(80 * Math.abs(v)) / top}" height="10" fill="${v < 0 ? '#1565c0' : '#c62828'}"/><line x1="80" x2="80" y1="0" y2="12" stroke="#777"/></svg>`;
    const rows = [...a.features]
      .sort((x, y) => Math.abs(y.value) - Math.abs(x.value))
      .map(
        (f) =>
          `<tr data-feature="${esc(f.feature)}"><td>${esc(f.feature)}</td><td class="muted">${esc(f.columns.join(', '))}</td><td>${f.value >= 0 ? '+' : ''}${num(f.value)}</td><td>${bar(f.value)}</td></tr>`,
      )
      .join('');
    why = `<p>${a.class ? `The probability of <strong>${esc(a.class)}</strong>` : 'The output'}: ${num(a.output)}, from ${num(a.base)} on average over ${a.background.rows.length} rows of the data v${r.version} was trained on (${esc(a.method)} Shapley values over the spec's features).</p>
<table><tr><th>feature</th><th>columns</th><th>moved it by</th><th></th></tr>${rows}</table>`;
  }
  return `${head}${made}<h2>Why</h2>${why}`;
}

/** The form on a model's page that opens a prediction's record by its id. */
export const lookupForm = `<form class="lookup" method="get" action="/ui/predictions"><label>prediction id <input type="text" name="id" size="30" pattern="[0-9A-Za-z]{26}" required></label> <button type="submit">look up</button></form>`;
