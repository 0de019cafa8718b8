import type { LabelRule } from '../spec';
import { allowedMissing, refusesFuture, type SourceColumn } from './contract';

/**
 * The contract's checks on single rows, declared once. Two evaluators read this list: DuckDB SQL for batches
 * (lib/validation/rows.ts, one pass over millions of rows) and plain JavaScript for rows served one request at a
 * time (lib/serving/rows.ts). A test holds the two to the same verdict on every row of the bad-input corpus.
 */
export type RowRule =
  /** a required column without a value */
  | { column: string; code: 'missing' }
  /**
   * a value that does not read as the declared type: text that is not a number, or not a timestamp; or, in a text
   * column, a boolean, an object or a list. A number in a text column is read as its decimal text (3 is "3", as a
   * CSV reader gives it) — the one rule for text, the same in both evaluators.
   */
  | { column: string; code: 'type'; expect: 'number' | 'timestamp' | 'text'; declared: string; format?: string }
  | { column: string; code: 'nan' }
  | { column: string; code: 'infinite' }
  /** numeric bounds (inclusive) */
  | { column: string; code: 'min' | 'max'; bound: number; on: 'number' }
  /** timestamp bounds (inclusive, ISO) */
  | { column: string; code: 'min' | 'max'; bound: string; on: 'timestamp'; format?: string }
  /** a timestamp after the moment of validation */
  | { column: string; code: 'future'; now: string; format?: string }
  /** a string outside its declared domain, or a label outside the declared classes */
  | { column: string; code: 'domain' | 'class'; values: string[] };

export interface RuleOptions {
  /** the moment of checking (ISO), for timestamps that may not lie in the future */
  now: string;
  /**
   * serving: rows to predict carry no label, and may describe the future (a flight not yet flown), so the label
   * rules and "not in the future" do not apply
   */
  serving?: boolean;
}

export function contractRowRules(columns: SourceColumn[], label: LabelRule, options: RuleOptions): RowRule[] {
  const rules: RowRule[] = [];
  for (const col of columns) {
    if (options.serving && col.name === label.column) continue;
    const column = col.name;
    if (col.required && allowedMissing(col) === 0) rules.push({ column, code: 'missing' });
    if (col.type === 'float' || col.type === 'integer') {
      rules.push({ column, code: 'type', expect: 'number', declared: col.type });
      rules.push({ column, code: 'nan' }, { column, code: 'infinite' });
      if (col.min !== undefined) rules.push({ column, code: 'min', bound: col.min, on: 'number' });
      if (col.max !== undefined) rules.push({ column, code: 'max', bound: col.max, on: 'number' });
    } else if (col.type === 'timestamp') {
      const format = col.format ? { format: col.format } : {};
      rules.push({ column, code: 'type', expect: 'timestamp', declared: col.type, ...format });
      if (col.earliest !== undefined)
        rules.push({ column, code: 'min', bound: col.earliest, on: 'timestamp', ...format });
      if (col.latest !== undefined) rules.push({ column, code: 'max', bound: col.latest, on: 'timestamp', ...format });
      if (refusesFuture(col) && !options.serving) rules.push({ column, code: 'future', now: options.now, ...format });
    } else if (col.type === 'string') {
      rules.push({ column, code: 'type', expect: 'text', declared: col.type });
      if (Array.isArray(col.domain)) rules.push({ column, code: 'domain', values: col.domain });
    }
  }
  if (!options.serving && label.kind === 'classes' && label.classes) {
    rules.push({ column: label.column, code: 'class', values: label.classes });
  }
  return rules;
}

/** The reason a person reads, from the offending value as text. */
export function ruleReason(rule: RowRule, value: string): string {
  switch (rule.code) {
    case 'missing':
      return 'missing (column is required)';
    case 'type':
      if (rule.expect === 'text') {
        return `${value} is not text (declared ${rule.declared}: a string, or a number read as its digits)`;
      }
      return rule.expect === 'number'
        ? `"${value}" is not a number (declared ${rule.declared})`
        : `"${value}" is not a timestamp${rule.format ? ` in the format ${rule.format}` : ''}`;
    case 'nan':
      return 'NaN';
    case 'infinite':
      return `${value} is infinite`;
    case 'min':
      return rule.on === 'number'
        ? `${value} is below the minimum ${rule.bound}`
        : `${value} is before the earliest allowed ${rule.bound}`;
    case 'max':
      return rule.on === 'number'
        ? `${value} is above the maximum ${rule.bound}`
        : `${value} is after the latest allowed ${rule.bound}`;
    case 'future':
      return `${value} is in the future (validated at ${rule.now})`;
    case 'domain':
      return `"${value}" is not in the declared domain`;
    case 'class':
      return `"${value}" is not one of the declared classes`;
  }
}
