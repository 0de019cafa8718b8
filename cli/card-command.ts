import fs from 'node:fs';
import path from 'node:path';
import { renderCardHtml } from '../lib/card/html';
import type { ModelCard } from '../lib/card/card-shape';
import { buildModelCard } from '../lib/card/model-card';
import { importanceLines } from '../lib/explain/importance-text';
import { verdictLine } from '../client/format';
import { CliError } from '../client/errors';
import { color, printJson } from '../client/output';
import { parseModelRef, withRegistry } from './registry-commands';

/**
 * `lumen card <model>@<version>`: the version's model card, written as a self-contained HTML page and as JSON
 * beside it (or printed as JSON with --json).
 */
export async function cardCommand(ref: string, opts: { out?: string; json?: boolean }): Promise<void> {
  const { model, version } = parseModelRef(ref);
  const out = path.resolve(opts.out ?? '.');
  if (!opts.json && !fs.statSync(out, { throwIfNoEntry: false })?.isDirectory()) {
    throw new CliError(`--out ${out} is not a directory: the card's two files go into an existing one`);
  }
  const card = await withRegistry((registry, store) => buildModelCard(registry, store, model, version));
  if (opts.json) return printJson(card);
  const base = path.join(out, `${model}-v${version}.card`);
  fs.writeFileSync(`${base}.html`, renderCardHtml(card));
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(card, null, 2)}\n`);
  console.log(formatCard(card));
  console.log(`\ncard  ${base}.html\njson  ${base}.json`);
}

/** The card's gist in a terminal: what it is, whether it passed, what it relies on, what it is known not to do. */
export function formatCard(card: ModelCard): string {
  const d = card.model_details;
  const q = card.quantitative_analysis;
  const c = card.considerations;
  const train = card.model_parameters.data.train;
  const lines = [
    `${d.name} ${d.version.name}${d.champion ? ' (champion)' : ''}: ${d.overview}`,
    `  data         dataset ${train.sha256.slice(0, 12)}: ${train.description}`,
  ];
  for (const m of card.missing_evidence) lines.push(`  ${color.red('unread')}       ${m}`);
  if (!c.declared) lines.push('  uses         not declared: the spec has no card section');
  else {
    for (const u of c.use_cases) lines.push(`  for          ${u.description}`);
    for (const u of c.out_of_scope_uses) lines.push(`  not for      ${u.description}`);
  }
  if (q.gate) lines.push(`  gate         ${verdictLine(q.gate)}`);
  if (q.importance) {
    const [head, ...rows] = importanceLines(q.importance);
    lines.push(`  importance   ${head}`, ...rows.slice(0, 5).map((r) => `               ${r}`));
    if (rows.length > 5) lines.push(`               … ${rows.length - 5} more in the card`);
  }
  for (const l of c.limitations) lines.push(`  limitation   ${l.description}`);
  const approvals = card.approvals.records.map((a) => `${a.status}${a.by ? ` by ${a.by}` : ''}`).join(', ');
  lines.push(`  approvals    ${approvals || (card.approvals.required ? 'required, none recorded' : 'not required')}`);
  lines.push(`  health       ${card.monitoring.summary}`);
  return lines.join('\n');
}
