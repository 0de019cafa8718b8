import { z } from 'zod';
import { Check } from './checks';
import { DriftReport } from './drift';
import { RowCheckResult } from './rows';

/** A batch's validation report: what lineage keeps and `lumen check` prints (lib/validation/report.ts makes it). */
export const Outcome = z.enum(['pass', 'warn', 'fail']);
export type Outcome = z.infer<typeof Outcome>;

export const ValidationReport = z.object({
  format: z.literal('lumen-validation/1'),
  model: z.string(),
  validatedAt: z.string().optional(),
  dataset: z.object({ sha256: z.string(), uri: z.string(), rows: z.number(), source: z.string() }),
  contractHash: z.string(),
  reference: z
    .object({ sha256: z.string(), rows: z.number(), kind: z.enum(['champion', 'lastAccepted', 'given']) })
    .nullable(),
  outcome: Outcome,
  /** false when nothing in the batch could be trained on, whatever a person decides */
  trainable: z.boolean(),
  checks: z.array(Check),
  rows: RowCheckResult,
  drift: DriftReport.nullable(),
  summary: z.string(),
});
export type ValidationReport = z.infer<typeof ValidationReport>;
