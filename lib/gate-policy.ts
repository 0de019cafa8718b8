import { z } from 'zod';
import { ColumnName, Duration } from './validation/contract';

/**
 * When a candidate may replace the champion (TFX Evaluator's value and change thresholds, MLflow's
 * validation thresholds), the fairness limits across slices, and when a person must approve.
 */

export const Bounds = z
  .strictObject({ min: z.number().optional(), max: z.number().optional() })
  .refine((b) => b.min !== undefined || b.max !== undefined, 'give min, max or both');

export const GatePolicy = z.strictObject({
  /** refuse a model that does no better than one ignoring its inputs (chance AUC, base rate, commonest class, mean) */
  beatBaseline: z.boolean().default(true),
  /** absolute bounds per metric, e.g. { "auc": { "min": 0.65 }, "calibrationError": { "max": 0.05 } } */
  thresholds: z.record(z.string(), Bounds).default({}),
  /** how the candidate must compare with the champion, measured on the same holdout */
  vsChampion: z
    .strictObject({
      /** the metric that must improve (default: the task's primary metric) */
      metric: z.string().optional(),
      /** required improvement, absolute (negative: a tolerated degradation) */
      minAbsoluteChange: z.number().default(0),
      /** required improvement relative to the champion's value */
      minRelativeChange: z.number().default(0),
      /** other metrics may get worse by at most this much (absolute), e.g. { "calibrationError": 0.01 } */
      maxDegradation: z.record(z.string(), z.number().min(0)).default({}),
    })
    .prefault({}),
  slices: z
    .strictObject({
      /** columns whose values define slices, e.g. ["origin"] (binary tasks) */
      columns: z.array(ColumnName).default([]),
      minRows: z.number().int().min(1).default(200),
      top: z.number().int().min(2).max(500).default(20),
      /** largest tolerated gap between the best and worst slice */
      maxGap: z
        .strictObject({
          truePositiveRate: z.number().min(0).optional(),
          falsePositiveRate: z.number().min(0).optional(),
          predictedPositiveRate: z.number().min(0).optional(),
        })
        .default({}),
    })
    .prefault({}),
  bootstrap: z
    .strictObject({
      replicates: z.number().int().min(0).max(5000).default(200),
      level: z.number().gt(0).lt(1).default(0.95),
    })
    .prefault({}),
  /**
   * leakage: a feature column whose single-column power on the label is near-perfect, or far above every other
   * column's (lib/validation/leakage.ts), is a warning in the verdict ("warn"), fails the gate ("fail"), or is not
   * measured ("off")
   */
  leakage: z
    .strictObject({
      action: z.enum(['warn', 'fail', 'off']).default('warn'),
      /** near-perfect from this power */
      power: z.number().gt(0).max(1).default(0.95),
      /** far above: at least `floor`, above a gap of `ratio` in the columns' sorted powers */
      ratio: z.number().min(1).default(3),
      floor: z.number().gt(0).max(1).default(0.6),
    })
    .prefault({}),
  /**
   * permutation importance of each feature on the holdout, for the candidate and the champion on the same rows
   * (lib/explain/importance.ts): shuffled `repeats` times (0: not measured), on at most `maxRows` holdout rows; the
   * metric is the one compared with the champion. Reported, never a reason to pass or fail.
   */
  importance: z
    .strictObject({
      repeats: z
        .number()
        .int()
        .min(0)
        .max(50)
        .refine((n) => n !== 1, 'must be 0 (not measured) or at least 2, for an interval')
        .default(5),
      maxRows: z.number().int().min(100).max(100_000).default(10_000),
    })
    .prefault({}),
  /** with no champion yet: promote when the absolute thresholds pass, ask a person, or never promote automatically */
  firstRun: z.enum(['promote', 'requireApproval', 'reject']).default('promote'),
  approval: z
    .strictObject({
      required: z.enum(['never', 'always', 'firstRun']).default('never'),
      timeout: Duration.default('72h'),
      /** four eyes: how many different people must approve (default 1); one rejection is enough to reject */
      approvers: z.number().int().min(1).max(9).optional(),
      /** four eyes: the person who started the run may not approve its candidate (default false) */
      distinctFromStarter: z.boolean().optional(),
    })
    .prefault({}),
});
export type GatePolicy = z.infer<typeof GatePolicy>;

/** Whether a larger value of a metric is better. */
export function higherIsBetter(metric: string): boolean {
  return !['logLoss', 'rmse', 'mae', 'calibrationError'].includes(metric);
}
