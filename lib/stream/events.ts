import { parseTimestamp } from '../data/timestamp';
import { breaks } from '../serving/rows';
import type { ModelSpec } from '../spec';
import { refusesFuture, type SourceColumn } from '../validation/contract';
import { contractRowRules, ruleReason, type RowRule } from '../validation/row-rules';

/**
 * Events that carry rows: one JSON object of the source's columns per Kafka message, checked one at a time
 * against the same declared row rules a batch is held to (lib/validation/row-rules.ts). A refused event names every
 * problem (the field, the rule, why) and goes to the dead-letter topic; an accepted one becomes a typed row.
 */

/** The largest event Lumen reads as a row by default: far above any row of a spec, far below the broker's 1 MiB. */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024;

export interface EventProblem {
  field: string;
  code: string;
  reason: string;
}

export type CheckedEvent =
  | { ok: true; row: Record<string, string | number | boolean | null>; timeMs: number | null }
  | { ok: false; problems: EventProblem[] };

type Typed = string | number | boolean | null;

function numberOf(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value)) return Number(value);
  return null;
}

/** An ISO timestamp as DuckDB reads it back into a TIMESTAMP (wall clock, no zone). */
function isoWallClock(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '');
}

/**
 * How far an event's own time may run ahead of the moment its producer wrote it (clocks of different hosts): past
 * this, a timestamp column that may not lie in the future refuses it.
 */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;

export class EventRows {
  private readonly rules: Map<string, RowRule[]>;
  private readonly columns: SourceColumn[];
  private readonly timeColumn: SourceColumn | undefined;
  /** timestamp columns that may not lie in the future */
  private readonly notFuture: SourceColumn[];

  constructor(
    spec: ModelSpec,
    readonly maxEventBytes = DEFAULT_MAX_EVENT_BYTES,
  ) {
    this.columns = spec.source.columns;
    // "not in the future" is judged per event, against the time its producer wrote it (the record's own timestamp):
    // the same on every re-read, and right for a window that stays open for hours
    const rules = contractRowRules(spec.source.columns, spec.label, { now: '9999-12-31T00:00:00Z' }).filter(
      (r) => r.code !== 'future',
    );
    this.notFuture = this.columns.filter(refusesFuture);
    this.rules = new Map(this.columns.map((c) => [c.name, rules.filter((r) => r.column === c.name)]));
    this.timeColumn = spec.source.timeColumn ? this.columns.find((c) => c.name === spec.source.timeColumn) : undefined;
  }

  /** The source's columns, in the contract's order: the batch's columns. */
  get columnNames(): string[] {
    return this.columns.map((c) => c.name);
  }

  /** DuckDB types of the batch's columns (a timestamp with a declared text format stays text, as in a file). */
  get columnTypes(): Record<string, string> {
    const types: Record<string, string> = {};
    for (const c of this.columns) {
      types[c.name] =
        c.type === 'float'
          ? 'DOUBLE'
          : c.type === 'integer'
            ? 'BIGINT'
            : c.type === 'boolean'
              ? 'BOOLEAN'
              : c.type === 'timestamp' && !c.format
                ? 'TIMESTAMP'
                : 'VARCHAR';
    }
    return types;
  }

  /** One event: its bytes, and when its producer wrote it (the record's timestamp, ms). */
  check(value: Buffer | null | undefined, producedAtMs: number): CheckedEvent {
    if (!value || value.length === 0) {
      return { ok: false, problems: [{ field: '(event)', code: 'empty', reason: 'the event has no value' }] };
    }
    if (value.length > this.maxEventBytes) {
      return {
        ok: false,
        problems: [
          {
            field: '(event)',
            code: 'oversized',
            reason: `the event is ${value.length} bytes, above the ${this.maxEventBytes} bytes a row may take`,
          },
        ],
      };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch (err) {
      return {
        ok: false,
        problems: [{ field: '(event)', code: 'malformed', reason: `not JSON: ${(err as Error).message}` }],
      };
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return {
        ok: false,
        problems: [{ field: '(event)', code: 'type', reason: 'an event must be a JSON object of column values' }],
      };
    }
    const fields = parsed as Record<string, unknown>;
    const problems: EventProblem[] = [];
    const row: Record<string, Typed> = {};
    for (const column of this.columns) {
      const raw = fields[column.name] ?? null;
      for (const rule of this.rules.get(column.name)!) {
        if (breaks(rule, raw)) {
          problems.push({
            field: column.name,
            code: rule.code,
            reason: ruleReason(rule, raw === null ? 'NULL' : typeof raw === 'string' ? raw : JSON.stringify(raw)),
          });
        }
      }
      row[column.name] = this.typed(column, raw, problems);
    }
    for (const column of this.notFuture) {
      const raw = fields[column.name];
      const ms = typeof raw === 'string' ? parseTimestamp(raw, column.format) : null;
      if (ms !== null && ms > producedAtMs + FUTURE_TOLERANCE_MS) {
        problems.push({
          field: column.name,
          code: 'future',
          reason: `${raw as string} is in the future: the event was produced at ${new Date(producedAtMs).toISOString()}`,
        });
      }
    }
    if (problems.length) return { ok: false, problems };
    const time = this.timeColumn ? fields[this.timeColumn.name] : null;
    const timeMs = typeof time === 'string' ? parseTimestamp(time, this.timeColumn!.format) : null;
    return { ok: true, row, timeMs };
  }

  /** A value as the batch stores it (the rules have judged it already; what they let through reads as its type). */
  private typed(column: SourceColumn, raw: unknown, problems: EventProblem[]): Typed {
    if (raw === null || raw === undefined) return null;
    switch (column.type) {
      case 'float':
        return numberOf(raw);
      case 'integer': {
        const x = numberOf(raw);
        // a batch stores an integer column as whole numbers: 12.5 there is a value the column cannot hold
        if (x !== null && Number.isFinite(x) && !Number.isSafeInteger(x)) {
          problems.push({
            field: column.name,
            code: 'type',
            reason: Number.isInteger(x)
              ? `${x} is beyond the whole numbers a batch holds exactly (±${Number.MAX_SAFE_INTEGER})`
              : `${x} is not a whole number (declared integer)`,
          });
          return null;
        }
        return x;
      }
      case 'string':
        return typeof raw === 'string' ? raw : typeof raw === 'number' ? String(raw) : null;
      case 'boolean':
        if (typeof raw === 'boolean') return raw;
        if (raw === 'true' || raw === 'false') return raw === 'true';
        problems.push({ field: column.name, code: 'type', reason: `${JSON.stringify(raw)} is not a boolean` });
        return null;
      case 'timestamp': {
        if (typeof raw !== 'string') return null;
        if (column.format) return raw;
        const ms = parseTimestamp(raw);
        return ms === null ? null : isoWallClock(ms);
      }
    }
  }
}
