import { partIndex, partLabel, PERIOD, timePart } from '../calendar';
import type { Table } from '../data/table';
import { CROSS_SEPARATOR, type CrossPart, type FittedFeature } from './types';

/**
 * Feature crosses: a category made of two to four parts' values. Fitting counts the combinations as text keys;
 * encoding turns each row's parts into small integers and looks the combination up in a table built once per cross,
 * so a crossed row costs a few array reads instead of a string built and hashed.
 */

type Cross = Extract<FittedFeature, { kind: 'cross' }>;

function textColumn(table: Table, column: string): (string | null)[] {
  const data = table.columns.get(`string:${column}`);
  if (data?.kind !== 'string') throw new Error(`column string:${column} was not loaded`);
  return data.values;
}

function timeColumn(table: Table, column: string): Float64Array {
  const data = table.columns.get(`timestamp:${column}`);
  if (data?.kind !== 'number') throw new Error(`column timestamp:${column} was not loaded`);
  return data.values;
}

/** A cross's category of each row as text: its parts' values joined (null when any part is missing). */
export function crossKeys(parts: CrossPart[], table: Table): (row: number) => string | null {
  const readers = parts.map((part): ((row: number) => string | null) => {
    if (part.kind === 'categorical') {
      const values = textColumn(table, part.column);
      return (i) => values[i];
    }
    const values = timeColumn(table, part.column);
    const kind = part.kind;
    return (i) => {
      const k = timePart(kind, values[i]);
      return k < 0 ? null : partLabel(kind, k);
    };
  });
  return (i) => {
    let key = '';
    for (let p = 0; p < readers.length; p++) {
      const v = readers[p](i);
      if (v === null) return null;
      key = p === 0 ? v : key + CROSS_SEPARATOR + v;
    }
    return key;
  };
}

/**
 * How a cross's vocabulary is looked up by numbers: each categorical part's values numbered, and a table from the
 * combined number (mixed radix over the parts) to the vocabulary position — dense while it stays small, a map
 * beyond that.
 */
interface CrossPlan {
  dictionaries: (Map<string, number> | null)[];
  radix: number[];
  lookup: (combined: number) => number;
}

const DENSE_LIMIT = 1 << 22;
const plans = new WeakMap<Cross, CrossPlan>();

function planOf(cross: Cross): CrossPlan {
  const cached = plans.get(cross);
  if (cached) return cached;
  const dictionaries = cross.parts.map((p) => (p.kind === 'categorical' ? new Map<string, number>() : null));
  const split = cross.vocabulary.map((key) => key.split(CROSS_SEPARATOR));
  for (const labels of split) {
    labels.forEach((label, p) => {
      const d = dictionaries[p];
      if (d && !d.has(label)) d.set(label, d.size);
    });
  }
  const radix = cross.parts.map((p, i) => (p.kind === 'categorical' ? dictionaries[i]!.size : PERIOD[p.kind]));
  const total = radix.reduce((a, b) => a * b, 1);
  const unknown = cross.vocabulary.length;
  const entries = split.map((labels, position): [number, number] => {
    let combined = 0;
    for (let p = 0; p < labels.length; p++) {
      const part = cross.parts[p];
      const code = part.kind === 'categorical' ? dictionaries[p]!.get(labels[p])! : partIndex(part.kind, labels[p]);
      if (code < 0) return [-1, position];
      combined = combined * radix[p] + code;
    }
    return [combined, position];
  });
  let lookup: (combined: number) => number;
  if (total <= DENSE_LIMIT) {
    const table = new Int32Array(total).fill(unknown);
    for (const [at, position] of entries) if (at >= 0) table[at] = position;
    lookup = (combined) => table[combined];
  } else {
    const map = new Map(entries.filter(([at]) => at >= 0));
    lookup = (combined) => map.get(combined) ?? unknown;
  }
  const plan = { dictionaries, radix, lookup };
  plans.set(cross, plan);
  return plan;
}

/** The vocabulary position of each row's combination (the unknown bucket when a part is missing or unseen). */
export function crossIndexer(cross: Cross, table: Table): (row: number) => number {
  const plan = planOf(cross);
  const unknown = cross.vocabulary.length;
  const readers = cross.parts.map((part, p): ((row: number) => number) => {
    if (part.kind === 'categorical') {
      const values = textColumn(table, part.column);
      const dictionary = plan.dictionaries[p]!;
      return (i) => {
        const v = values[i];
        return v === null ? -1 : (dictionary.get(v) ?? -1);
      };
    }
    const values = timeColumn(table, part.column);
    const kind = part.kind;
    return (i) => timePart(kind, values[i]);
  });
  return (i) => {
    let combined = 0;
    for (let p = 0; p < readers.length; p++) {
      const code = readers[p](i);
      if (code < 0) return unknown;
      combined = combined * plan.radix[p] + code;
    }
    return plan.lookup(combined);
  };
}
