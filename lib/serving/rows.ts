import type { ColumnData, Table } from '../data/table';
import { parseTimestamp } from '../data/timestamp';
import { featureColumns, type FittedFeature, type Preprocessor } from '../features';
import type { ModelSpec } from '../spec';
import { contractRowRules, ruleReason, type RowRule } from '../validation/row-rules';

/**
 * Rows that arrive one request at a time, as raw source columns: checked against the same declared row rules as
 * a batch (lib/validation/row-rules.ts), then laid out as the table the artifact's own preprocessor encodes — so a
 * served row and the same row in a batch become the same input.
 */

/** A value that breaks the contract: the request is refused, and every problem is listed. */
export interface RowProblem {
  row: number;
  field: string;
  value: unknown;
  code: string;
  reason: string;
}

/** Valid, but unlike what the model was trained on: predicted, and flagged in the response and the log. */
export interface RowFlag {
  field: string;
  code: 'unknown-category' | 'out-of-range' | 'missing';
  detail: string;
}

/** A row with nothing unusual: most rows, so one list for all of them. */
const NO_FLAGS = Object.freeze([]) as unknown as RowFlag[]; // frozen: a push onto it throws instead of flagging every row

function asNumber(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return null;
  const t = value.trim().toLowerCase();
  if (t === 'nan') return NaN;
  if (t === 'inf' || t === 'infinity' || t === '+inf' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t) ? Number(t) : null;
}

function asTimestamp(value: unknown, format?: string): number | null {
  return typeof value === 'string' ? parseTimestamp(value, format) : null;
}

const asText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** How a column's values are read: as its declared type says. */
type Reading = { as: 'number' } | { as: 'timestamp'; format?: string } | { as: 'text' };

/**
 * One value of a request, read once: the value as sent, and — for a number or time column — the number it reads as
 * (ms for a time; null: it does not read as one).
 */
interface ReadValue {
  raw: unknown;
  x: number | null;
}

function readValue(reading: Reading, raw: unknown): ReadValue {
  if (raw === null || raw === undefined) return { raw: null, x: null };
  switch (reading.as) {
    case 'number':
      return { raw, x: asNumber(raw) };
    case 'timestamp':
      return { raw, x: asTimestamp(raw, reading.format) };
    case 'text':
      return { raw, x: null };
  }
}

/** How a rule reads its column's values: numbers, times (in the rule's format) or text. */
function ruleReading(rule: RowRule): Reading {
  switch (rule.code) {
    case 'type':
      return rule.expect === 'timestamp' ? { as: 'timestamp', format: rule.format } : { as: rule.expect };
    case 'nan':
    case 'infinite':
      return { as: 'number' };
    case 'min':
    case 'max':
      return rule.on === 'number' ? { as: 'number' } : { as: 'timestamp', format: rule.format };
    case 'future':
      return { as: 'timestamp', format: rule.format };
    default:
      return { as: 'text' };
  }
}

/** Whether one value breaks one rule (the JavaScript twin of the rule's SQL in lib/validation/rows.ts). */
export function breaks(rule: RowRule, value: unknown): boolean {
  return breaksRead(rule, readValue(ruleReading(rule), value));
}

/** `breaks`, on a value already read as the rule reads it. */
function breaksRead(rule: RowRule, v: ReadValue): boolean {
  const absent = v.raw === null;
  switch (rule.code) {
    case 'missing':
      return absent;
    case 'type':
      if (absent) return false;
      if (rule.expect === 'text') return typeof v.raw !== 'string' && typeof v.raw !== 'number';
      return v.x === null;
    case 'nan':
      return v.x !== null && Number.isNaN(v.x);
    case 'infinite':
      return v.x === Infinity || v.x === -Infinity;
    case 'min':
    case 'max': {
      const bound = rule.on === 'number' ? rule.bound : parseTimestamp(rule.bound);
      if (v.x === null || bound === null || Number.isNaN(v.x)) return false;
      return rule.code === 'min' ? v.x < bound : v.x > bound;
    }
    case 'future': {
      const now = parseTimestamp(rule.now);
      return v.x !== null && now !== null && v.x > now;
    }
    case 'domain':
    case 'class':
      return !absent && !rule.values.includes(asText(v.raw));
  }
}

/** A checked row: the value of each column the model reads, read once, in the order of `ServedRows.columns`. */
export interface ReadRow {
  values: ReadValue[];
}

export class ServedRows {
  /** the columns the model reads, each with how its values are read and the rules that judge them */
  private readonly columnReads: { column: string; reading: Reading; rules: RowRule[] }[];
  private readonly position: Map<string, number>;

  constructor(
    spec: ModelSpec,
    private readonly pre: Preprocessor,
  ) {
    // only the columns the model reads (a predict request need not carry the label or unused columns), in the
    // contract's order, so a request's problems are listed as the contract declares them; the spec's check
    // guarantees every column a feature reads is declared
    const rules = contractRowRules(spec.source.columns, spec.label, { now: new Date().toISOString(), serving: true });
    const read = new Set(pre.features.flatMap(featureColumns));
    const used = spec.source.columns.map((c) => c.name).filter((c) => read.has(c));
    this.columnReads = used.map((column) => {
      const declared = spec.source.columns.find((c) => c.name === column);
      const reading: Reading =
        declared?.type === 'float' || declared?.type === 'integer'
          ? { as: 'number' }
          : declared?.type === 'timestamp'
            ? { as: 'timestamp', ...(declared.format ? { format: declared.format } : {}) }
            : { as: 'text' };
      return { column, reading, rules: rules.filter((r) => r.column === column) };
    });
    this.position = new Map(used.map((c, i) => [c, i]));
  }

  /** The columns a request row should carry. */
  get columns(): string[] {
    return this.columnReads.map((c) => c.column);
  }

  /**
   * Each row's values read once, as the contract declares their columns, and judged by its row rules: every value
   * that breaks one is a problem (none: the rows can be predicted, from `rows`).
   */
  read(rows: unknown[]): { problems: RowProblem[]; rows: ReadRow[] } {
    const problems: RowProblem[] = [];
    const read: ReadRow[] = new Array<ReadRow>(rows.length);
    rows.forEach((row, i) => {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) {
        problems.push({
          row: i,
          field: '(row)',
          value: row,
          code: 'type',
          reason: 'a row must be a JSON object of column values',
        });
        return;
      }
      const fields = row as Record<string, unknown>;
      const values = this.columnReads.map(({ column, reading, rules }) => {
        const v = readValue(reading, fields[column]);
        for (const rule of rules) {
          if (breaksRead(rule, v)) {
            problems.push({
              row: i,
              field: column,
              value: v.raw,
              code: rule.code,
              reason: ruleReason(rule, v.raw === null ? 'NULL' : asText(v.raw)),
            });
          }
        }
        return v;
      });
      read[i] = { values };
    });
    return { problems, rows: read };
  }

  /** Every value that breaks the contract, in every row (empty: the rows can be predicted). */
  check(rows: unknown[]): RowProblem[] {
    return this.read(rows).problems;
  }

  /**
   * Read rows as the preprocessor reads a batch — numbers (NaN missing), text (null missing), timestamps in ms —
   * with what is unusual about each row.
   */
  layout(rows: ReadRow[]): { table: Table; flags: RowFlag[][] } {
    const n = rows.length;
    const flags: RowFlag[][] = new Array<RowFlag[]>(n).fill(NO_FLAGS);
    const flag = (r: number, f: RowFlag): void => {
      if (flags[r] === NO_FLAGS) flags[r] = [];
      flags[r].push(f);
    };
    const columns = new Map<string, ColumnData>();
    // a cross's columns, where no feature of their own reads them, are laid out with only their missing values
    // flagged: a combination never seen in training is ordinary, not unusual
    const crossed: Exclude<FittedFeature, { kind: 'cross' }>[] = this.pre.features.flatMap((f) =>
      f.kind === 'cross'
        ? f.parts.map((p) =>
            p.kind === 'categorical' ? { ...p, name: f.name, vocabulary: [] } : { ...p, name: f.name },
          )
        : [],
    );
    const own = this.pre.features.filter((f) => f.kind !== 'cross');
    for (const f of [...own, ...crossed]) {
      const fromCross = !own.includes(f);
      const at = this.position.get(f.column)!;
      const reading = this.columnReads[at].reading;
      const get = (r: number): ReadValue => rows[r].values[at];
      if (f.kind === 'numeric') {
        const values = new Float64Array(n);
        for (let r = 0; r < n; r++) {
          const v = get(r);
          // read once as a number (a numeric column); otherwise, as a number now
          const x = v.raw === null ? NaN : ((reading.as === 'number' ? v.x : asNumber(v.raw)) ?? NaN);
          values[r] = x;
          if (Number.isNaN(x)) {
            flag(r, { field: f.column, code: 'missing', detail: `no value: the training mean is used` });
          } else if (f.range && (x < f.range[0] || x > f.range[1])) {
            flag(r, {
              field: f.column,
              code: 'out-of-range',
              detail: `${x} is outside the training range [${f.range[0]}, ${f.range[1]}]`,
            });
          }
        }
        columns.set(`number:${f.column}`, { kind: 'number', values });
      } else if (f.kind === 'categorical') {
        if (fromCross && columns.has(`string:${f.column}`)) continue;
        const values = new Array<string | null>(n);
        const vocabulary = new Set(f.vocabulary);
        for (let r = 0; r < n; r++) {
          const v = get(r);
          values[r] = v.raw === null ? null : asText(v.raw);
          if (values[r] === null) {
            flag(r, { field: f.column, code: 'missing', detail: 'no value: the unknown bucket is used' });
          } else if (!fromCross && !vocabulary.has(values[r]!)) {
            flag(r, {
              field: f.column,
              code: 'unknown-category',
              detail: `"${values[r]}" was not seen in training: the unknown bucket is used`,
            });
          }
        }
        columns.set(`string:${f.column}`, { kind: 'string', values });
      } else if (!columns.has(`timestamp:${f.column}`)) {
        const values = new Float64Array(n);
        // read once as a time in the column's format; a feature with a format of its own reads it now
        const reuse = reading.as === 'timestamp' && reading.format === f.format;
        for (let r = 0; r < n; r++) {
          const v = get(r);
          values[r] = v.raw === null ? NaN : ((reuse ? v.x : asTimestamp(v.raw, f.format)) ?? NaN);
          if (Number.isNaN(values[r])) {
            flag(r, { field: f.column, code: 'missing', detail: 'no value: its calendar inputs are all zero' });
          }
        }
        columns.set(`timestamp:${f.column}`, { kind: 'number', values });
      }
    }
    return { table: { rows: n, columns }, flags };
  }
}
