import type { PredictionRecord } from './prediction-log';
import type { RowFlag, RowProblem } from './rows';
import { scoreOf, type Output } from './version';

const NO_FLAGS: PredictionRecord['flags'] = [];

/** What the prediction log keeps of answered predictions: each row as received, its output, score and flags. */
export function answeredRecords(
  model: string,
  version: number,
  arm: Exclude<PredictionRecord['arm'], 'refused'>,
  rows: Record<string, unknown>[],
  predictions: { id: string; output: Output; flags: RowFlag[] }[],
  latencyMs: number,
  /** the trace the request was part of (tracing on), kept with each record */
  traceId?: string,
): PredictionRecord[] {
  const at = Date.now();
  return predictions.map((p, i) => {
    const o = p.output;
    const { score, predicted } = scoreOf(o);
    return {
      id: p.id,
      model,
      version,
      arm,
      at,
      latencyMs,
      input: rows[i],
      output: o,
      score,
      predicted,
      flags: p.flags.length ? p.flags.map((f) => ({ field: f.field, code: f.code })) : NO_FLAGS,
      ...(traceId ? { traceId } : {}),
    };
  });
}

/** What the log keeps of rows refused for breaking the contract: one record per row, with what broke. */
export function refusedRecords(
  model: string,
  version: number,
  rows: unknown[],
  ids: string[],
  problems: RowProblem[],
  traceId?: string,
): PredictionRecord[] {
  const at = Date.now();
  const byRow = new Map<number, RowProblem[]>();
  for (const p of problems) byRow.set(p.row, [...(byRow.get(p.row) ?? []), p]);
  return [...byRow].map(([row, list]) => ({
    id: ids[row],
    model,
    version,
    arm: 'refused' as const,
    at,
    latencyMs: 0,
    input: rows[row],
    output: { problems: list.map((p) => ({ field: p.field, code: p.code, reason: p.reason })) },
    score: NaN,
    predicted: null,
    flags: list.map((p) => ({ field: p.field, code: p.code })),
    ...(traceId ? { traceId } : {}),
  }));
}
