import { quotedList } from '../access/identity';
import { z } from 'zod';
import type { DatasetRef } from '../data/snapshot';
import { allowedMissing, type Contract, type SourceColumn } from './contract';
import { familyOf, type ColumnProfile, type Profile } from './profile';
import type { RowCheckResult } from './rows';

/** One batch-level check, kept in the report whatever its outcome. */
export const Check = z.object({
  name: z.string(),
  column: z.string().optional(),
  outcome: z.enum(['pass', 'warn', 'fail']),
  detail: z.string(),
  value: z.number().optional(),
  threshold: z.number().optional(),
});
export type Check = z.infer<typeof Check>;

const pct = (x: number): string => `${(100 * x).toFixed(x < 0.001 && x > 0 ? 4 : 2)}%`;

/** Whether a column of the found type can be read as the declared type at all (values may still fail). */
function readableAs(column: SourceColumn, actual: string): 'yes' | 'per-value' | 'no' {
  const family = familyOf(actual);
  switch (column.type) {
    case 'float':
    case 'integer':
      return family === 'numeric' ? 'yes' : family === 'categorical' ? 'per-value' : 'no';
    case 'timestamp':
      // text in a declared format is how such a column is meant to arrive
      return family === 'timestamp' ? 'yes' : family === 'categorical' ? (column.format ? 'yes' : 'per-value') : 'no';
    case 'string':
      return 'yes';
    case 'boolean':
      return /^BOOLEAN$/i.test(actual) ? 'yes' : 'no';
  }
}

/**
 * Batch-level anomalies (TFDV's catalogue, and the ones it lacks): empty or undersized batch, missing and extra
 * columns, type changes, missing-value rates and their jumps, NaN/Inf, new categories, duplicates, a row count far
 * from the reference's, and the share of bad rows.
 */
export function batchChecks(
  dataset: DatasetRef,
  contract: Contract,
  profile: Profile,
  rows: RowCheckResult,
  reference: Profile | null,
): Check[] {
  const checks: Check[] = [];
  const policy = contract.policy;
  const col = (p: Profile | null, name: string): ColumnProfile | undefined => p?.columns.find((c) => c.name === name);

  if (dataset.rows === 0)
    checks.push({ name: 'rows', outcome: 'fail', detail: 'the batch is empty (0 rows)', value: 0 });
  else if (dataset.rows < policy.minRows) {
    checks.push({
      name: 'rows',
      outcome: 'fail',
      detail: `${dataset.rows} rows, fewer than the minimum ${policy.minRows}`,
      value: dataset.rows,
      threshold: policy.minRows,
    });
  } else checks.push({ name: 'rows', outcome: 'pass', detail: `${dataset.rows} rows`, value: dataset.rows });

  if (reference && reference.rows > 0 && dataset.rows > 0) {
    const ratio = Math.max(dataset.rows / reference.rows, reference.rows / dataset.rows);
    const { warn, fail } = policy.rowCountRatio;
    const change =
      dataset.rows >= reference.rows
        ? `${(dataset.rows / reference.rows).toFixed(2)}× the reference`
        : `shrank to ${(dataset.rows / reference.rows).toFixed(2)}× the reference`;
    checks.push({
      name: 'row-count',
      outcome: ratio >= fail ? 'fail' : ratio >= warn ? 'warn' : 'pass',
      detail: `${dataset.rows} rows against ${reference.rows} in the reference (${change}; warn beyond ×${warn} either way, fail beyond ×${fail})`,
      value: ratio,
      threshold: fail,
    });
  }

  const declared = new Set(contract.columns.map((c) => c.name));
  const extra = dataset.columns.filter((c) => !declared.has(c.name)).map((c) => c.name);
  if (extra.length) {
    checks.push({
      name: 'extra-columns',
      outcome: 'warn',
      detail: `columns not in the contract (ignored): ${quotedList(extra)}`,
    });
  }

  for (const c of contract.columns) {
    const p = col(profile, c.name);
    const actual = dataset.columns.find((d) => d.name === c.name)?.type;
    if (actual === undefined || !p) {
      const renamed = extra.length ? ` (the batch has unexpected columns ${quotedList(extra)} — renamed?)` : '';
      checks.push({
        name: 'column',
        column: c.name,
        // the label column may have empty values (those rows are not trained on), but it must be there
        outcome: c.required || c.name === contract.label ? 'fail' : 'warn',
        detail: `column "${c.name}" (${c.type}) is missing${renamed}`,
      });
      continue;
    }
    const readable = readableAs(c, actual);
    if (readable !== 'yes') {
      checks.push({
        name: 'type',
        column: c.name,
        outcome: readable === 'no' ? 'fail' : 'warn',
        detail:
          readable === 'no'
            ? `column "${c.name}" should be ${c.type} but is ${actual}`
            : `column "${c.name}" should be ${c.type} but arrived as ${actual}; values that do not convert are bad rows`,
      });
    }
    const refCol = col(reference, c.name);
    if (refCol && refCol.type !== p.type && readable === 'yes') {
      checks.push({
        name: 'type-change',
        column: c.name,
        outcome: 'warn',
        detail: `column "${c.name}" was ${refCol.type} in the reference, now ${p.type}`,
      });
    }
    const missingShare = profile.rows ? p.missing / profile.rows : 0;
    const allowed = allowedMissing(c);
    if (missingShare > allowed) {
      checks.push({
        name: 'missing',
        column: c.name,
        outcome: 'fail',
        detail: `column "${c.name}" is missing in ${pct(missingShare)} of rows${missingShare === 1 ? ' (all null)' : ''}, more than the allowed ${pct(allowed)}`,
        value: missingShare,
        threshold: allowed,
      });
    }
    if (refCol && reference && reference.rows > 0 && profile.rows > 0) {
      const increase = missingShare - refCol.missing / reference.rows;
      const { warn, fail } = policy.nullRateIncrease;
      if (increase >= warn) {
        checks.push({
          name: 'missing-increase',
          column: c.name,
          outcome: increase >= fail ? 'fail' : 'warn',
          detail: `column "${c.name}": missing share rose by ${pct(increase)} over the reference`,
          value: increase,
          threshold: fail,
        });
      }
    }
    if (p.kind === 'numeric' && p.nan + p.posInf + p.negInf > 0) {
      checks.push({
        name: 'non-finite',
        column: c.name,
        outcome: 'warn',
        detail: `column "${c.name}" has ${p.nan} NaN, ${p.posInf} +Inf and ${p.negInf} -Inf values (those rows are bad rows)`,
        value: p.nan + p.posInf + p.negInf,
      });
    }
    if (c.domain === 'learned' && p.kind === 'categorical' && refCol?.kind === 'categorical' && p.count > 0) {
      let unseen = 0;
      const examples: string[] = [];
      for (const [v, n] of Object.entries(p.values)) {
        if (!(v in refCol.values)) {
          unseen += n;
          if (examples.length < 5) examples.push(`"${v}"`);
        }
      }
      const share = unseen / p.count;
      const { warn, fail } = policy.newCategoryShare;
      checks.push({
        name: 'new-categories',
        column: c.name,
        outcome: share >= fail ? 'fail' : share >= warn ? 'warn' : 'pass',
        detail: `column "${c.name}": ${pct(share)} of values never seen in the reference${examples.length ? ` (e.g. ${examples.join(', ')})` : ''}; warn at ${pct(warn)}, fail at ${pct(fail)}`,
        value: share,
        threshold: fail,
      });
    }
  }

  if (dataset.rows > 0) {
    const share = profile.duplicateRows / dataset.rows;
    const { warn, fail } = policy.maxDuplicateShare;
    checks.push({
      name: 'duplicates',
      outcome: share >= fail ? 'fail' : share >= warn ? 'warn' : 'pass',
      detail: `${profile.duplicateRows} duplicated rows (${pct(share)}); warn at ${pct(warn)}, fail at ${pct(fail)}`,
      value: share,
      threshold: fail,
    });
    const badShare = rows.badRows / dataset.rows;
    const first = (column: string): string => {
      const s = rows.samples.find((b) => b.column === column);
      return s ? ` — e.g. row ${s.row}: ${s.reason}` : '';
    };
    const perColumn = Object.entries(rows.byColumn)
      .map(([column, n]) => `column "${column}": ${n} bad rows${first(column)}`)
      .join('; ');
    checks.push({
      name: 'bad-rows',
      outcome: badShare > policy.maxBadRowShare ? 'fail' : rows.badRows > 0 ? 'warn' : 'pass',
      detail:
        rows.badRows === 0
          ? 'every row passes the row checks'
          : `${rows.badRows} rows (${pct(badShare)}) break the contract (tolerated: ${pct(policy.maxBadRowShare)}): ${perColumn}`,
      value: badShare,
      threshold: policy.maxBadRowShare,
    });
  }
  return checks;
}
