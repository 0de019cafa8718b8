import { sqlString } from './data/sql';
import type { LabelRule, ModelSpec } from './spec';

/**
 * The label rule, in one place: how a value of the label column becomes what a model learns (0/1, a class, a number)
 * — in training (`encodeLabels` reads a table with `positiveTest`), in feedback that arrives after the fact
 * (`labelTarget`, `labelProblem`) and in SQL (`labelSql`, the leakage measure). test/unit/labels.test.ts holds the
 * three to the same verdicts on the same values.
 */

/** A label rule with how its column is read: as text (a string column, or classes) or as a number. */
export interface LabelReading {
  rule: LabelRule;
  as: 'number' | 'string';
}

/** How a spec's label column is read: numbers for a threshold or a value; text for classes; oneOf by its column. */
export function labelReading(spec: Pick<ModelSpec, 'label' | 'source'>): LabelReading {
  const rule = spec.label;
  if (rule.kind === 'threshold' || rule.kind === 'value') return { rule, as: 'number' };
  if (rule.kind === 'classes') return { rule, as: 'string' };
  const type = spec.source.columns.find((c) => c.name === rule.column)?.type;
  return { rule, as: type === 'string' ? 'string' : 'number' };
}

type BinaryRule = Extract<LabelRule, { kind: 'threshold' | 'oneOf' }>;

/**
 * A binary rule's test of one value as its column is read: for a number column, a number (oneOf compares numbers:
 * 1.0 is positive when "1" is, a positive that is not a number matches nothing); for a text column, the text.
 */
export function positiveTest(rule: BinaryRule, as: 'number'): (v: number) => boolean;
export function positiveTest(rule: BinaryRule, as: 'string'): (v: string) => boolean;
export function positiveTest(rule: BinaryRule, as: 'number' | 'string'): (v: never) => boolean {
  if (rule.kind === 'oneOf') {
    if (as === 'string') {
      const positive = new Set(rule.positive.map(String));
      return (v: string) => positive.has(v);
    }
    const positive = new Set(rule.positive.map(oneOfNumber).filter((n) => n !== null));
    return (v: number) => positive.has(v);
  }
  const t = rule.value;
  switch (rule.op) {
    case '>':
      return (v: number) => v > t;
    case '>=':
      return (v: number) => v >= t;
    case '<':
      return (v: number) => v < t;
    case '<=':
      return (v: number) => v <= t;
  }
}

/**
 * The rule in SQL over a column of any type: '1'/'0' (binary) or the class as text, or the value (regression);
 * NULL where training finds no label (a missing or non-finite number, a missing text).
 */
export function labelSql(
  reading: LabelReading,
  column: string,
  /** the column as a number (a cast of it, when it is text) */
  asNumber: string,
): { sql: string; kind: 'class' | 'number' } {
  const { rule, as } = reading;
  const x = asNumber;
  const binary = (test: string, value: string): { sql: string; kind: 'class' } => ({
    sql: `CASE WHEN ${value} IS NULL THEN NULL WHEN ${test} THEN '1' ELSE '0' END`,
    kind: 'class',
  });
  const finite = `(CASE WHEN isfinite(${x}) THEN ${x} END)`;
  switch (rule.kind) {
    case 'threshold':
      return binary(`${finite} ${rule.op} ${rule.value}`, finite);
    case 'oneOf': {
      if (as === 'string') {
        const values = rule.positive.map((v) => sqlString(String(v))).join(', ');
        return binary(`CAST(${column} AS VARCHAR) IN (${values})`, column);
      }
      const numbers = rule.positive.map(oneOfNumber).filter((n) => n !== null);
      return binary(numbers.length > 0 ? `${finite} IN (${numbers.join(', ')})` : 'FALSE', finite);
    }
    case 'classes':
      return { sql: `CAST(${column} AS VARCHAR)`, kind: 'class' };
    case 'value':
      return { sql: finite, kind: 'number' };
  }
}

/** What a label may be checked against: the trained version's rule, classes and source column. */
export interface LabelContract extends LabelReading {
  /** multiclass: the classes the version was trained on (declared, or learned from the data) */
  classes: string[] | null;
  /** the label column's declared values (its domain), when the contract declares them */
  domain: string[] | null;
}

export function labelContract(
  spec: ModelSpec,
  trainedClasses: string[] | null,
  /** the label column's values in the version's training batch, when they are all known (a learned domain) */
  seenValues: string[] | null = null,
): LabelContract {
  const column = spec.source.columns.find((c) => c.name === spec.label.column);
  const declared = column && 'domain' in column && Array.isArray(column.domain) ? column.domain.map(String) : null;
  // a learned domain is the values training saw: "daed" for "dead" is refused, not read as the other class
  const domain = declared ?? seenValues;
  const classes = spec.label.kind === 'classes' ? (spec.label.classes ?? trainedClasses) : null;
  return { ...labelReading(spec), classes, domain };
}

/** A number as a label may carry it: a finite number, or text that spells one ("25", "-3.5"); else null. */
function labelNumber(label: unknown): number | null {
  if (typeof label === 'number') return Number.isFinite(label) ? label : null;
  if (typeof label !== 'string' || !/^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(label)) return null;
  const n = Number(label);
  return Number.isFinite(n) ? n : null; // "1e999" spells a number too large to be one
}

/**
 * A oneOf value of a column read as numbers (training loads a boolean column as 1/0): a number, text that spells
 * one, or a boolean — true or "true" is 1, false or "false" is 0; else null.
 */
function oneOfNumber(value: unknown): number | null {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && /^\s*(true|false)\s*$/i.test(value)) return /true/i.test(value) ? 1 : 0;
  return labelNumber(value);
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A label as sent in feedback → 0/1 (binary), the class (multiclass) or the value (regression); null: unusable. */
export function labelTarget(reading: LabelReading, label: unknown): number | string | null {
  const { rule, as } = reading;
  switch (rule.kind) {
    case 'threshold':
    case 'oneOf': {
      if (label === null || label === undefined || typeof label === 'object') return null;
      if (as === 'string') return positiveTest(rule, 'string')(text(label)) ? 1 : 0;
      const v = rule.kind === 'oneOf' ? oneOfNumber(label) : labelNumber(label);
      return v === null ? null : positiveTest(rule, 'number')(v) ? 1 : 0;
    }
    case 'classes':
      return label === null || label === undefined ? null : text(label);
    case 'value':
      return labelNumber(label);
  }
}

/** Why a label cannot be used under this contract, or null when it can. */
export function labelProblem(contract: LabelContract, label: unknown): string | null {
  const { rule } = contract;
  if (label === null || label === undefined) return 'no label';
  if (typeof label === 'object') {
    return `${JSON.stringify(label).slice(0, 60)} is not a label: a label is one value (${expected(contract)})`;
  }
  const shown = JSON.stringify(label).slice(0, 60);
  switch (rule.kind) {
    case 'threshold':
    case 'value':
      return labelNumber(label) === null ? `${shown} is not a number (${expected(contract)})` : null;
    case 'classes':
      if (contract.classes && !contract.classes.includes(text(label))) {
        return `${shown} is not one of the classes (${expected(contract)})`;
      }
      return null;
    case 'oneOf': {
      if (contract.as === 'number') {
        const v = oneOfNumber(label);
        if (v === null) return `${shown} is not a value of "${rule.column}", a number column (${expected(contract)})`;
        // the values seen, compared as numbers: 1 and 1.0 (and true, in a boolean column) are the same label
        if (contract.domain && !contract.domain.some((d) => oneOfNumber(d) === v)) {
          return `${shown} is not one of the values of "${rule.column}" (${expected(contract)})`;
        }
        return null;
      }
      if (contract.domain && !contract.domain.includes(text(label))) {
        return `${shown} is not one of the values of "${rule.column}" (${expected(contract)})`;
      }
      return null;
    }
  }
}

function expected(contract: LabelContract): string {
  const { rule } = contract;
  const list = (values: string[]): string =>
    values.length <= 12 ? values.map((v) => JSON.stringify(v)).join(', ') : `${values.length} values`;
  switch (rule.kind) {
    case 'threshold':
      return `"${rule.column}" is a number; positive when ${rule.op} ${rule.value}`;
    case 'value':
      return `"${rule.column}" is a number`;
    case 'classes':
      return contract.classes ? `the classes: ${list(contract.classes)}` : `"${rule.column}" is a class`;
    case 'oneOf':
      return contract.domain
        ? `its values: ${list(contract.domain)}`
        : `positive when one of ${list(rule.positive.map(String))}`;
  }
}
