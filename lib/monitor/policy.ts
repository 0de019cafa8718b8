import { z } from 'zod';

/**
 * What the monitor watches and what it does about it: the `monitor` section of a spec, changeable on a running
 * monitor (`lumen monitor policy`, the `setPolicy` update). Thresholds name what a person would check by hand;
 * `breaches` and `clearAfter` are the hysteresis (a finding must hold for that many checks in a row before anything
 * happens, and be gone for that many before its incident closes); `cooldownMinutes` keeps one kind of action from
 * repeating while its effect cannot show yet.
 */
const Action = z.enum(['alert', 'retrain', 'none']);

export const MonitorPolicy = z.strictObject({
  /** minutes between health checks */
  everyMinutes: z
    .number()
    .positive()
    .max(7 * 24 * 60)
    .default(5),
  /** fewer predictions than this in a check's window: drift, unusual inputs and latency are not judged */
  minPredictions: z.number().int().min(1).default(200),
  /** fewer labelled predictions than this: metrics and fairness are reported but not judged */
  minLabels: z.number().int().min(1).default(100),
  /** checks in a row a finding must hold before its action runs */
  breaches: z.number().int().min(1).max(20).default(2),
  /** checks in a row without the finding before its incident closes */
  clearAfter: z.number().int().min(1).max(20).default(2),
  /** after an action (retrain, rollback, alert), the same kind waits this long before it may run again */
  cooldownMinutes: z.number().min(0).default(360),
  drift: z
    .strictObject({
      /**
       * input drift is measured per feature column with the spec's validation thresholds (the same statistics
       * and effect sizes as batch validation); a finding when a column fails or this share of columns warns
       */
      driftedShare: z.number().gt(0).lte(1).default(0.5),
      /** prediction drift: normed Wasserstein distance of the scores against the version's earlier scores */
      predictionWarn: z.number().positive().default(0.25),
      action: Action.default('retrain'),
    })
    .prefault({}),
  decay: z
    .strictObject({
      /**
       * how much worse than its evaluation the served model may do on feedback: the error rate (classification)
       * or the mean absolute error relative to the evaluation's (regression) may grow by this much. Judged on the
       * lower end of a 95% interval of the served error, so a few unlucky labels do not count
       */
      maxErrorIncrease: z.number().positive().default(0.05),
      action: Action.default('retrain'),
    })
    .prefault({}),
  rollback: z
    .strictObject({
      /** roll back automatically when a recently promoted champion does measurably worse than its predecessor */
      enabled: z.boolean().default(true),
      /** "recently": within this many hours of its promotion */
      withinHours: z.number().positive().default(72),
      /**
       * how much worse the champion must be, at the low end of the 95% interval of the paired difference, before
       * it is rolled back: error-rate points (classification) or a share of the previous version's mean absolute
       * error (regression) — a difference that is certain but too small to matter moves nothing
       */
      margin: z.number().min(0).default(0.02),
    })
    .prefault({}),
  retrain: z
    .strictObject({
      /**
       * rows of the newest accepted batch a retrain takes at most (a sample fixed by the rows themselves), so the
       * labelled predictions — today's traffic — weigh as much as the policy wants; null: the whole batch
       */
      acceptedRows: z.number().int().min(1).nullable().default(null),
    })
    .prefault({}),
  latency: z.strictObject({ p99Ms: z.number().positive().default(100), action: Action.default('alert') }).prefault({}),
  unusual: z
    .strictObject({
      /** share of predictions with a flag (unknown category, out of the training range, missing field) */
      maxRate: z.number().gt(0).lte(1).default(0.2),
      /** a surge: the rate is this many times its median over the previous checks */
      surge: z.number().gt(1).default(3),
      action: Action.default('alert'),
    })
    .prefault({}),
  refused: z
    .strictObject({
      /** share of rows sent that were refused (HTTP 400) for breaking the contract */
      maxRate: z.number().gt(0).lte(1).default(0.05),
      action: Action.default('alert'),
    })
    .prefault({}),
  fairness: z
    .strictObject({
      /** largest gap in error rate between slices (the spec's gate.slices columns), on feedback */
      maxGap: z.number().gt(0).lte(1).default(0.1),
      /** labelled predictions a slice needs to be compared */
      minSliceLabels: z.number().int().min(1).default(50),
      action: Action.default('alert'),
    })
    .prefault({}),
});
export type MonitorPolicy = z.infer<typeof MonitorPolicy>;
export type MonitorPolicyInput = z.input<typeof MonitorPolicy>;

export const DEFAULT_MONITOR_POLICY: MonitorPolicy = MonitorPolicy.parse({});

/** A policy from a spec or a person, with every problem named by its field. */
export function parseMonitorPolicy(value: unknown): { policy: MonitorPolicy } | { problems: string[] } {
  const result = MonitorPolicy.safeParse(value ?? {});
  if (result.success) return { policy: result.data };
  return { problems: result.error.issues.map((i) => `monitor.${i.path.join('.') || '(root)'}: ${i.message}`) };
}
