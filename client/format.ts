import type { Metrics } from '../lib/metrics';
import type { GateVerdict } from '../lib/gate';
import { importanceLines } from '../lib/explain/importance-text';
import { describeTrial } from '../lib/model/search';
import type { PipelineResult, SearchSummary } from '../workflows/definitions';

export function formatMetrics(metrics: Metrics): string {
  return (
    Object.entries(metrics)
      // a metric the holdout could not measure (AUC of one class) arrives as null
      .map(
        ([k, v]) =>
          `${k}=${typeof v !== 'number' || !Number.isFinite(v) ? 'not measured' : Number.isInteger(v) ? v : v.toFixed(4)}`,
      )
      .join('  ')
  );
}

export function formatResult(result: PipelineResult): string {
  const lines = [
    `model      ${result.model}${result.version === null ? '' : ` v${result.version}`} (${result.outcome})`,
    `dataset    ${result.dataset.sha256.slice(0, 16)}… ${result.dataset.rows} rows`,
    `validation ${result.validation.outcome}, ${result.validation.decision}: ${result.validation.summary}`,
    `report     ${result.validation.html.uri}`,
  ];
  if (result.artifact) lines.push(`artifact   ${result.artifact.uri}`, `           sha256 ${result.artifact.sha256}`);
  if (result.metrics) lines.push(`metrics    ${formatMetrics(result.metrics)}`);
  if (result.verdict) lines.push(...formatVerdict(result.verdict));
  if (result.importance) {
    const [head, ...rows] = importanceLines(result.importance);
    lines.push(`importance ${head}`, ...rows.map((row) => `           ${row}`));
  }
  if (result.approval) {
    lines.push(
      `approval   ${result.approval.status} by ${result.approval.by ?? '?'}${result.approval.comment ? `: ${result.approval.comment}` : ''}`,
    );
  }
  if (result.version !== null) lines.push(`champion   ${result.champion === null ? 'none' : `v${result.champion}`}`);
  if (result.training) {
    const t = result.training;
    const dropped = [
      t.unlabelledRows ? `${t.unlabelledRows} rows without a label dropped` : '',
      t.rareClasses?.length
        ? `classes too rare to learn left out: ${t.rareClasses.map((c) => `"${c.class}" (${c.rows} rows)`).join(', ')}`
        : '',
      t.sampledOutRows ? `${t.sampledOutRows} rows left out by maxTrainingRows` : '',
    ].filter(Boolean);
    const early =
      t.bestEpoch !== undefined
        ? ` (${t.stoppedEarly ? 'stopped early; ' : ''}kept epoch ${t.bestEpoch}, the best on ${t.validationRows} validation rows)`
        : '';
    lines.push(
      `training   ${t.epochs} epochs${early} on ${t.rows} rows, ${t.holdoutRows} held out for evaluation${dropped.length ? `; ${dropped.join('; ')}` : ''}`,
    );
  }
  if (result.training?.search) lines.push(...formatSearch(result.training.search));
  if (result.resumedFromEpoch !== null) {
    lines.push(`training   resumed from checkpoint after epoch ${result.resumedFromEpoch}`);
  }
  lines.push(`steps      ${result.steps.map((s) => `${s.stage} ${(s.milliseconds / 1000).toFixed(1)}s`).join(', ')}`);
  return lines.join('\n');
}

/** A search's trials, one line each, the chosen one marked. */
export function formatSearch(search: SearchSummary, width = 11): string[] {
  const failed = search.trials.filter((t) => t.error).length;
  return [
    `${'search'.padEnd(width)}${search.method}, ${search.trials.length} trials${failed ? ` (${failed} failed)` : ''}, compared on validation loss (${search.validationFraction} of the training rows): #${search.chosen} chosen`,
    ...search.trials.map((t) => {
      const mark = t.index === search.chosen ? '*' : ' ';
      const outcome = t.error
        ? `FAILED: ${t.error}`
        : `validation loss ${t.validationLoss?.toFixed(4)}, ${t.epochs} epochs${t.bestEpoch !== undefined ? ` (kept ${t.bestEpoch})` : ''}, ${t.seconds?.toFixed(1)} s${t.resumedFromEpoch ? `, resumed after epoch ${t.resumedFromEpoch}` : ''}`;
      return `${' '.repeat(width - 2)}${mark} #${t.index} ${describeTrial(t.options)}: ${outcome}`;
    }),
  ];
}

/** Print a failed workflow's chain of causes: the innermost one says what went wrong and where. */
export function describeFailure(err: unknown): string {
  const messages: string[] = [];
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e) {
    if (e.message) messages.push(e.message);
    e = e.cause as typeof e;
  }
  return messages.join('\n  caused by: ');
}

/** The gate's verdict, one line per check: what was measured, against what, and the outcome. */
export function formatVerdict(verdict: GateVerdict): string[] {
  const mark = { pass: 'pass', fail: 'FAIL', skipped: 'skip', warn: 'WARN' } as const;
  return [
    `gate       ${verdict.passed ? 'passed' : 'FAILED'}: ${verdict.reason}`,
    ...verdict.checks.map((c) => `           [${mark[c.outcome]}] ${c.detail}`),
  ];
}

/** A gate's verdict in one line: passed or failed, and why (its reason may already open with the outcome). */
export function verdictLine(verdict: { passed: boolean; reason: string }): string {
  return `${verdict.passed ? 'passed' : 'failed'}: ${verdict.reason.replace(/^gate (passed|failed): /, '')}`;
}
