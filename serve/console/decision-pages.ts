import type { FastifyReply } from 'fastify';
import { tokenMatches } from '../../lib/serving/tokens';
import { esc } from './charts';
import { importanceHtml } from '../../lib/card/html';
import { versionImportance } from '../../lib/lineage';
import { metricsText, verdictOf } from './model-pages';
import { cardLink, keepFlash, layout, short, when, type ConsoleContext } from './page';

// The decisions a person takes in the console — a candidate's approval, a quarantined batch's release — their pages
// and their forms, checked before anything is sent.

/** Candidates waiting for a person, each with its gate checks and an approve / reject form. */
export async function approvalsPage(ctx: ConsoleContext): Promise<string> {
  const { registry, runLink } = ctx;
  const pending = await registry.listApprovals({ status: 'pending' });
  if (pending.length === 0) return '<p>Nothing waits for approval.</p>';
  const cards = await Promise.all(
    pending.map(async (p) => {
      const v = await registry.getVersion(p.model, p.version);
      const verdict = v ? verdictOf(v) : undefined;
      const importance = v ? versionImportance(v) : null;
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
${v ? `<p>${esc(metricsText(v))} · <a href="${cardLink(p.model, p.version)}">model card</a></p>` : ''}${verdict ? `<p>${esc(verdict.reason)}${verdict.championVersion ? ` (against champion v${verdict.championVersion})` : ''}</p>` : ''}${checks}${importance ? `<details><summary>What it relies on</summary>${importanceHtml(importance)}</details>` : ''}
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

/** Batches held back by their contract, each with its report and a release / discard form. */
export async function quarantinePage(ctx: ConsoleContext): Promise<string> {
  const { registry, runLink, readArtifact } = ctx;
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
/**
 * A decision form, checked: the admin token, who decides, the decision and its comment or reason.
 */
export function decisionForm(
  adminToken: string,
  body: unknown,
  decisions: string[],
  textField: 'comment' | 'reason',
): { decision: string; by: string; text: string } | { error: string; status: number } {
  const f = (body ?? {}) as Record<string, string | undefined>;
  if (!tokenMatches(`Bearer ${f.token ?? ''}`, adminToken)) {
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
export function done(reply: FastifyReply, to: string, what: string): FastifyReply {
  return reply.redirect(`${to}?flash=${keepFlash({ kind: 'done', text: what })}`, 303);
}

/** A decision refused: the page it came from again, with why, under the refusal's status. */
export async function refused(
  ctx: ConsoleContext,
  reply: FastifyReply,
  from: 'approvals' | 'quarantine',
  why: string,
  status: number,
): Promise<FastifyReply> {
  const body = from === 'approvals' ? await approvalsPage(ctx) : await quarantinePage(ctx);
  const title = from === 'approvals' ? 'Approvals' : 'Quarantine';
  return ctx.page(reply, status, layout(title, body, ctx.ui, { kind: 'error', text: why }));
}

function decisionFormHtml(action: string, decisions: [string, string][], textField: 'comment' | 'reason'): string {
  return `<form class="decide" method="post" action="${esc(action)}">
<label>admin token</label><input type="password" name="token" autocomplete="off" required>
<label>your name</label><input type="text" name="by" required>
<label>${textField}</label><textarea name="${textField}" required></textarea>
<span></span><span>${decisions.map(([value, label]) => `<button type="submit" name="decision" value="${value}">${esc(label)}</button>`).join(' ')}</span>
</form>`;
}
