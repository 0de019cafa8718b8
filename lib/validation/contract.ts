import { z } from 'zod';
import { DURATION } from '../duration';
import { hashJson } from '../hash';

/**
 * The data contract a model declares for its input batches (TFDV's schema, Great Expectations' suite): per
 * column type, presence, range or domain and allowed missing share; per batch the tolerated share of bad rows,
 * duplicates, row-count change, new categories, null-rate jumps and distribution drift; and how long a failed
 * batch waits in quarantine for a person.
 */

export const ColumnType = z.enum(['timestamp', 'float', 'integer', 'string', 'boolean']);
export type ColumnType = z.infer<typeof ColumnType>;

/**
 * A column as the source names it — any text, spaces and symbols included ("Beak Length (mm)"): it is always
 * quoted in SQL, never pasted. Control characters are refused, as no file format people use produces them.
 */
export const ColumnName = z
  .string()
  .min(1, 'a column name cannot be empty')
  .max(255)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'a column name cannot contain control characters');

/** a duration like "72h" (lib/duration.ts) */
export const Duration = z.string().regex(DURATION, 'a duration like "72h"');

const IsoTime = z.iso
  .date()
  .or(z.iso.datetime({ local: true }))
  .or(z.iso.datetime());

/** strftime-style patterns (DuckDB's strptime), e.g. "%b %d %Y" for "Jun 12 1998" */
const TimestampFormat = z
  .string()
  .min(2)
  .refine((f) => f.includes('%'), 'a strptime format such as "%b %d %Y" or "%d/%m/%Y %H:%M"');

export const SourceColumn = z
  .strictObject({
    name: ColumnName,
    type: ColumnType,
    /** how a timestamp column's text is written, when it is text and not ISO 8601 (e.g. "%b %d %Y") */
    format: TimestampFormat.optional(),
    /** inclusive bounds for timestamp columns (ISO 8601 date or date-time); values outside make a row bad */
    earliest: IsoTime.optional(),
    latest: IsoTime.optional(),
    /** a timestamp later than the moment of validation makes a row bad (default: true for timestamp columns) */
    notInFuture: z.boolean().optional(),
    required: z.boolean().default(true),
    /** inclusive bounds for numeric columns; values outside make a row bad */
    min: z.number().optional(),
    max: z.number().optional(),
    /** allowed values of a string column, or "learned": the values seen in the reference data */
    domain: z.union([z.array(z.string()).min(1), z.literal('learned')]).optional(),
    /** largest tolerated share of missing values (default: 0 when required, 1 when optional) */
    maxMissing: z.number().min(0).max(1).optional(),
  })
  .superRefine((c, ctx) => {
    const numeric = c.type === 'float' || c.type === 'integer';
    if ((c.min !== undefined || c.max !== undefined) && !numeric) {
      ctx.addIssue({
        code: 'custom',
        path: ['min'],
        message: `min/max apply to numeric columns, "${c.name}" is ${c.type}`,
      });
    }
    if (c.min !== undefined && c.max !== undefined && c.min > c.max) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: `max ${c.max} is below min ${c.min}` });
    }
    for (const key of ['earliest', 'latest', 'notInFuture'] as const) {
      if (c[key] !== undefined && c.type !== 'timestamp') {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} applies to timestamp columns, "${c.name}" is ${c.type}`,
        });
      }
    }
    if (c.earliest !== undefined && c.latest !== undefined && Date.parse(c.earliest) > Date.parse(c.latest)) {
      ctx.addIssue({
        code: 'custom',
        path: ['latest'],
        message: `latest ${c.latest} is before earliest ${c.earliest}`,
      });
    }
    if (c.format !== undefined && c.type !== 'timestamp') {
      ctx.addIssue({
        code: 'custom',
        path: ['format'],
        message: `a format applies to timestamp columns, "${c.name}" is ${c.type}`,
      });
    }
    if (c.domain !== undefined && c.type !== 'string') {
      ctx.addIssue({
        code: 'custom',
        path: ['domain'],
        message: `a domain applies to string columns, "${c.name}" is ${c.type}`,
      });
    }
  });
export type SourceColumn = z.infer<typeof SourceColumn>;

const Levels = z.strictObject({ warn: z.number().min(0), fail: z.number().min(0) });

export const DriftMethod = z.enum(['wasserstein', 'psi', 'jensenshannon', 'ks']);

export const DriftRule = z.strictObject({
  method: DriftMethod.optional(),
  warn: z.number().min(0).optional(),
  fail: z.number().min(0).optional(),
  /** exclude this column from drift checks */
  skip: z.boolean().optional(),
});

export const ValidationPolicy = z.strictObject({
  /** rows failing row checks: up to this share they are quarantined and the rest trains; above it the batch fails */
  maxBadRowShare: z.number().min(0).max(1).default(0.01),
  /** how many bad rows the report lists in full (all of them go to the quarantine file) */
  reportBadRows: z.number().int().min(0).max(10_000).default(20),
  maxDuplicateShare: Levels.prefault({ warn: 0.01, fail: 0.1 }),
  /** rows / reference rows outside [1/ratio, ratio] */
  rowCountRatio: Levels.prefault({ warn: 2, fail: 10 }),
  minRows: z.number().int().min(1).default(1),
  /** share of a learned-domain column's values never seen in the reference */
  newCategoryShare: Levels.prefault({ warn: 0.01, fail: 0.05 }),
  /** increase of a column's missing share over the reference's (absolute) */
  nullRateIncrease: Levels.prefault({ warn: 0.02, fail: 0.2 }),
  drift: z
    .strictObject({
      /** compare against the champion's training data, or the last accepted batch of this model */
      reference: z.enum(['champion', 'lastAccepted']).default('champion'),
      numeric: z
        .strictObject({
          method: DriftMethod.default('wasserstein'),
          warn: z.number().min(0).default(0.1),
          fail: z.number().min(0).default(0.5),
        })
        .prefault({}),
      categorical: z
        .strictObject({
          method: z.enum(['jensenshannon', 'psi']).default('jensenshannon'),
          warn: z.number().min(0).default(0.1),
          fail: z.number().min(0).default(0.3),
        })
        .prefault({}),
      /**
       * timestamp columns: how far (in days) a batch's median time may lie outside the reference's time range, and
       * how much its weekday and hour-of-day mix may move (Jensen–Shannon) — a batch from another decade, or with
       * its dates shifted, changes what the model's calendar features see
       */
      time: z
        .strictObject({
          gapDays: Levels.prefault({ warn: 62, fail: 366 }),
          calendar: Levels.prefault({ warn: 0.1, fail: 0.3 }),
        })
        .prefault({}),
      columns: z.record(z.string(), DriftRule).default({}),
      /** share of drifting columns (above warn) that makes the whole batch drift */
      datasetShare: Levels.prefault({ warn: 0.5, fail: 1.01 }),
    })
    .prefault({}),
  quarantine: z
    .strictObject({
      /** how long a failed batch waits for a person to release or discard it */
      timeout: Duration.default('72h'),
    })
    .prefault({}),
});
export type ValidationPolicy = z.infer<typeof ValidationPolicy>;

export interface Contract {
  columns: SourceColumn[];
  label: string;
  policy: ValidationPolicy;
}

/** The hash recorded in lineage: columns and policy, with defaults filled in. */
export function contractHash(contract: Contract): string {
  return hashJson(contract);
}

/** Whether a timestamp column refuses values after the moment of validation. */
export function refusesFuture(column: SourceColumn): boolean {
  return column.type === 'timestamp' && column.notInFuture !== false;
}

/** Missing share a column tolerates. */
export function allowedMissing(column: SourceColumn): number {
  return column.maxMissing ?? (column.required ? 0 : 1);
}
