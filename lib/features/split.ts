import type { Table } from '../data/table';
import { deriveSeed, permutation, unitHash } from '../rng';
import type { ModelSpec } from '../spec';
import { column, labelRequest } from './columns';

export interface Split {
  train: Uint32Array;
  holdout: Uint32Array;
  /** rows dropped because their label is missing or not a declared class */
  unlabelled: number;
  /** training rows left out by maxTrainingRows */
  sampledOut: number;
}

/**
 * Deterministic split: a row is held out when a seeded hash of its position falls under the holdout fraction,
 * so the same snapshot and seed always give the same split, on any machine, with no shuffle state to store.
 */
export function splitRows(
  rows: number,
  labelled: (i: number) => boolean,
  settings: { seed: number; holdoutFraction: number; maxTrainingRows?: number },
): Split {
  const holdoutSeed = deriveSeed(settings.seed, 'holdout');
  const train: number[] = [];
  const holdout: number[] = [];
  let unlabelled = 0;
  for (let i = 0; i < rows; i++) {
    if (!labelled(i)) {
      unlabelled++;
      continue;
    }
    (unitHash(holdoutSeed, i) < settings.holdoutFraction ? holdout : train).push(i);
  }
  let trainRows = Uint32Array.from(train);
  let sampledOut = 0;
  if (settings.maxTrainingRows !== undefined && trainRows.length > settings.maxTrainingRows) {
    const order = permutation(trainRows.length, deriveSeed(settings.seed, 'sample'));
    const keep = order.subarray(0, settings.maxTrainingRows).slice().sort();
    sampledOut = trainRows.length - keep.length;
    trainRows = Uint32Array.from(keep, (k) => trainRows[k]);
  }
  return { train: trainRows, holdout: Uint32Array.from(holdout), unlabelled, sampledOut };
}

/**
 * Which rows carry a usable label — used before fitting, when classes may still be unknown. A learned class with
 * fewer rows than the rule's minClassRows is too rare to learn: its rows are not usable (rareClasses names them).
 */
export function labelPresent(spec: ModelSpec, table: Table): (i: number) => boolean {
  const req = labelRequest(spec);
  const data = column(table, req);
  const declared = spec.label.kind === 'classes' && spec.label.classes ? new Set(spec.label.classes) : undefined;
  if (data.kind === 'number') return (i) => Number.isFinite(data.values[i]);
  const rare = new Set(rareClasses(spec, table).map((c) => c.class));
  return (i) => data.values[i] !== null && (!declared || declared.has(data.values[i])) && !rare.has(data.values[i]);
}

/** The learned classes too rare to learn (fewer labelled rows than minClassRows), with their counts, rarest first. */
export function rareClasses(spec: ModelSpec, table: Table): { class: string; rows: number }[] {
  const rule = spec.label;
  if (rule.kind !== 'classes' || rule.classes) return [];
  const data = column(table, labelRequest(spec));
  if (data.kind !== 'string') return [];
  const counts = new Map<string, number>();
  for (const v of data.values) if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
  // a rule from a spec written before minClassRows existed has none: the default applies
  const least = rule.minClassRows ?? 10;
  return [...counts]
    .filter(([, n]) => n < least)
    .map(([c, n]) => ({ class: c, rows: n }))
    .sort((a, b) => a.rows - b.rows || a.class.localeCompare(b.class));
}
