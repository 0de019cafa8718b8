import fs from 'node:fs';
import path from 'node:path';
import { lumenPaths } from '../lib/config';
import { FeedbackStore } from '../lib/serving/feedback';
import { decisionRecord, type DecisionRecord } from '../lib/serving/decision-record';
import { PREDICTION_ID } from '../lib/serving/ids';
import { CliError, EXIT } from '../client/errors';
import { color, printJson, table } from '../client/output';
import { traceLink } from '../lib/telemetry';
import { tracesTemplate } from './trace-url';
import { openRegistry } from './registry-commands';

/**
 * `lumen explain <prediction id>`: the decision record of a prediction this host served (its prediction log and
 * feedback in LUMEN_HOME/predictions): input, output, version, how the version was made, the label, and why —
 * the attribution computed by that version, loaded from its artifact.
 */
export async function explainCommand(id: string, opts: { json?: boolean }): Promise<void> {
  if (!PREDICTION_ID.test(id)) {
    throw new CliError(`"${id}" is not a prediction id (26 characters, as /predict answers them)`);
  }
  // JSON has the trace id, not a link: only the text needs the template
  const traces = opts.json ? null : tracesTemplate();
  const logRoot = path.join(lumenPaths().home, 'predictions');
  const feedbackFile = path.join(logRoot, 'feedback.sqlite');
  const { registry, store } = await openRegistry();
  const feedback = fs.existsSync(feedbackFile) ? new FeedbackStore(feedbackFile) : null;
  try {
    const record = await decisionRecord({ store, registry, logRoot, feedback }, id);
    if (!record) {
      throw new CliError(
        `no prediction ${id} in the log at ${logRoot} (a prediction is there once its serving instance has written it, within a second or two)`,
        EXIT.failed,
      );
    }
    if (opts.json) printJson(record);
    else console.log(formatRecord(record, traces));
  } finally {
    feedback?.close();
    registry.close();
  }
}

export function formatRecord(r: DecisionRecord, traces: string | null = null): string {
  const lines = [
    color.bold(`prediction ${r.id}`),
    `at         ${r.at} (${r.latencyMs.toFixed(1)} ms)`,
    `model      ${r.model} v${r.version}, ${r.arm}${r.championThen !== null && r.championThen !== r.version ? ` (the champion then: v${r.championThen})` : ''}`,
    `input      ${JSON.stringify(r.input)}`,
    `output     ${JSON.stringify(r.output)}`,
    `flags      ${r.flags.length ? r.flags.map((f) => `${f.field}: ${f.code}`).join(', ') : 'none'}`,
    `label      ${r.feedback ? `${JSON.stringify(r.feedback.label)} (received ${r.feedback.receivedAt})` : 'none yet'}`,
  ];
  if (r.shadow) lines.push(`shadow     v${r.shadow.version}: ${JSON.stringify(r.shadow.output)}`);
  // the request's trace in the tracing tool its spans went to (docs/observability.md)
  if (r.traceId) lines.push(`trace      ${r.traceId}${traces ? `  ${traceLink(traces, r.traceId)}` : ''}`);
  const m = r.made;
  if (m) {
    lines.push(
      '',
      color.bold(`how v${r.version} was made`),
      `artifact   ${m.artifact.sha256.slice(0, 12)} (${m.backend}, seed ${m.seed}, code ${m.codeVersion})`,
      `data       batch ${m.sourceDataset.slice(0, 12)}, trained on ${m.trainingDataset.slice(0, 12)}: ${m.validation.outcome}, ${m.validation.decision}${m.validation.decidedBy ? ` by ${m.validation.decidedBy}` : ''}${m.validation.reason ? ` — ${m.validation.reason}` : ''}`,
      `spec       ${m.specHash.slice(0, 12)}${m.policy ? `, policy v${m.policy.version}` : ''}`,
      `gate       ${m.gate ? `${m.gate.passed ? 'passed' : 'failed'}: ${m.gate.reason}` : 'not recorded'}`,
      `approval   ${m.approvals.length ? m.approvals.map((a) => `${a.status} by ${a.decidedBy ?? '–'}${a.comment ? ` (${a.comment})` : ''}`).join('; ') : 'none asked'}`,
      `run        ${m.workflowId}`,
    );
  }
  lines.push('', color.bold('why'));
  const a = r.attribution;
  if ('unavailable' in a) lines.push(`no attribution: ${a.unavailable}`);
  else {
    const output = r.output as Record<string, unknown>;
    const explained = a.class
      ? `the probability of "${a.class}"`
      : 'probability' in output
        ? 'the probability'
        : 'the value';
    lines.push(
      `${explained}: ${a.output.toFixed(4)}, from ${a.base.toFixed(4)} on average over ${a.background.rows.length} training rows (${a.method} Shapley values)`,
      table(
        ['feature', 'columns', 'moved it by'],
        [...a.features]
          .sort((x, y) => Math.abs(y.value) - Math.abs(x.value))
          .map((f) => [f.feature, f.columns.join(', '), `${f.value >= 0 ? '+' : ''}${f.value.toFixed(4)}`]),
      ),
    );
  }
  return lines.join('\n');
}
