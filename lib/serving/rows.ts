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
  row: number;
  field: string;
  code: 'unknown-category' | 'out-of-range' | 'missing';
  detail: string;
}

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

/** Whether one value breaks one rule (the JavaScript twin of the rule's SQL in lib/validation/rows.ts). */
export function breaks(rule: RowRule, value: unknown): boolean {
  const absent = value === null || value === undefined;
  switch (rule.code) {
    case 'missing':
      return absent;
    case 'type':
      if (absent) return false;
      if (rule.expect === 'text') return typeof value !== 'string' && typeof value !== 'number';
      return rule.expect === 'number' ? asNumber(value) === null : asTimestamp(value, rule.format) === null;
    case 'nan':
      return !absent && Number.isNaN(asNumber(value));
    case 'infinite': {
      const x = absent ? null : asNumber(value);
      return x === Infinity || x === -Infinity;
    }
    case 'min':
    case 'max': {
      if (absent) return false;
      const x = rule.on === 'number' ? asNumber(value) : asTimestamp(value, rule.format);
      const bound = rule.on === 'number' ? rule.bound : parseTimestamp(rule.bound);
      if (x === null || bound === null || Number.isNaN(x)) return false;
      return rule.code === 'min' ? x < bound : x > bound;
    }
    case 'future': {
      const x = absent ? null : asTimestamp(value, rule.format);
      const now = parseTimestamp(rule.now);
      return x !== null && now !== null && x > now;
    }
    case 'domain':
    case 'class':
      return !absent && !rule.values.includes(asText(value));
  }
}

export class ServedRows {
  private readonly rules: RowRule[];
  private readonly known: Set<string>;

  constructor(
    spec: ModelSpec,
    private readonly pre: Preprocessor,
  ) {
    // only the columns the model reads: a predict request need not carry the label or unused columns
    const used = new Set(pre.features.flatMap(featureColumns));
    this.rules = contractRowRules(spec.source.columns, spec.label, {
      now: new Date().toISOString(),
      serving: true,
    }).filter((r) => used.has(r.column));
    this.known = used;
  }

  /** The columns a request row should carry. */
  get columns(): string[] {
    return [...this.known];
  }

  /** Every value that breaks the contract, in every row (empty: the rows can be predicted). */
  check(rows: unknown[]): RowProblem[] {
    const problems: RowProblem[] = [];
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
      const values = row as Record<string, unknown>;
      for (const rule of this.rules) {
        const value = values[rule.column];
        if (breaks(rule, value)) {
          problems.push({
            row: i,
            field: rule.column,
            value: value ?? null,
            code: rule.code,
            reason: ruleReason(rule, value === undefined || value === null ? 'NULL' : asText(value)),
          });
        }
      }
    });
    return problems;
  }

  /**
   * Checked rows as the preprocessor reads a batch: numbers (NaN missing), text (null missing), timestamps in ms,
   * with what is unusual about them (flags carry the row's index in `rows`).
   */
  layout(rows: Record<string, unknown>[]): { table: Table; flags: RowFlag[] } {
    const flags: RowFlag[] = [];
    const n = rows.length;
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
      const get = (r: number): unknown => rows[r][f.column];
      if (f.kind === 'numeric') {
        const values = new Float64Array(n);
        for (let r = 0; r < n; r++) {
          const v = get(r);
          const x = v === null || v === undefined ? NaN : (asNumber(v) ?? NaN);
          values[r] = x;
          if (Number.isNaN(x)) {
            flags.push({ row: r, field: f.column, code: 'missing', detail: `no value: the training mean is used` });
          } else if (f.range && (x < f.range[0] || x > f.range[1])) {
            flags.push({
              row: r,
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
          values[r] = v === null || v === undefined ? null : asText(v);
          if (values[r] === null) {
            flags.push({ row: r, field: f.column, code: 'missing', detail: 'no value: the unknown bucket is used' });
          } else if (!fromCross && !vocabulary.has(values[r]!)) {
            flags.push({
              row: r,
              field: f.column,
              code: 'unknown-category',
              detail: `"${values[r]}" was not seen in training: the unknown bucket is used`,
            });
          }
        }
        columns.set(`string:${f.column}`, { kind: 'string', values });
      } else if (!columns.has(`timestamp:${f.column}`)) {
        const values = new Float64Array(n);
        for (let r = 0; r < n; r++) {
          const v = get(r);
          values[r] = v === null || v === undefined ? NaN : (asTimestamp(v, f.format) ?? NaN);
          if (Number.isNaN(values[r])) {
            flags.push({
              row: r,
              field: f.column,
              code: 'missing',
              detail: 'no value: its calendar inputs are all zero',
            });
          }
        }
        columns.set(`timestamp:${f.column}`, { kind: 'number', values });
      }
    }
    return { table: { rows: n, columns }, flags };
  }
}
