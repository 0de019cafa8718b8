import type { LabelRule, ModelSpec } from './spec';

/**
 * A true label as it arrives after the fact (feedback), judged by the rule the model was trained with: what it
 * means (the target the monitor scores against) and whether it can mean anything at all (a label that is not one of
 * the classes, or not a number where the rule compares numbers, is refused with the reason, never stored).
 */

/** What a label may be checked against: the trained version's rule, classes and source column. */
export interface LabelContract {
  rule: LabelRule;
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
  return { rule: spec.label, classes, domain };
}

/** A number as a label may carry it: a finite number, or text that spells one ("25", "-3.5"); else null. */
function labelNumber(label: unknown): number | null {
  if (typeof label === 'number') return Number.isFinite(label) ? label : null;
  if (typeof label !== 'string' || !/^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(label)) return null;
  const n = Number(label);
  return Number.isFinite(n) ? n : null; // "1e999" spells a number too large to be one
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A label as sent in feedback → 0/1 (binary), the class (multiclass) or the value (regression); null: unusable. */
export function labelTarget(rule: LabelRule, label: unknown): number | string | null {
  switch (rule.kind) {
    case 'threshold': {
      const v = labelNumber(label);
      if (v === null) return null;
      const t = rule.value;
      const positive = rule.op === '>' ? v > t : rule.op === '>=' ? v >= t : rule.op === '<' ? v < t : v <= t;
      return positive ? 1 : 0;
    }
    case 'oneOf':
      if (label === null || label === undefined) return null;
      return rule.positive.some((p) => String(p) === text(label)) ? 1 : 0;
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
    case 'oneOf':
      if (contract.domain && !contract.domain.includes(text(label))) {
        return `${shown} is not one of the values of "${rule.column}" (${expected(contract)})`;
      }
      return null;
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
