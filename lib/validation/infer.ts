import path from 'node:path';
import { sqlIdent, sqlString, withDuckDB } from '../data/duckdb';
import type { ArtifactStore } from '../artifacts';
import { snapshotPath, type DatasetRef } from '../data/snapshot';
import { SpecError } from '../errors';
import { LabelRule, parseModelSpec, type ModelSpec, type ModelSpecInput, type Task } from '../spec';
import type { SourceColumn } from './contract';
import { labelReading } from '../labels';
import { likelyLeaks, snapshotColumnPowers, type LikelyLeak } from './leakage';
import { familyOf, profileDataset, type ColumnProfile, type Profile } from './profile';

/**
 * Propose a contract from a first dataset, TFDV-style: types from what DuckDB read (and dates written as text,
 * in the formats people write them), required when nothing is missing, numeric bounds from what was seen (widened
 * by 10% of the range, so the next batch is not rejected for one new extreme), learned domains for
 * low-cardinality strings. A proposal for a person to review and commit.
 */
export async function inferContract(
  store: ArtifactStore,
  dataset: DatasetRef,
): Promise<{ columns: SourceColumn[]; notes: string[]; profile: Profile }> {
  const notes: string[] = [];
  const formats = await textDateFormats(store, dataset);
  const declared: SourceColumn[] = [...formats].map(([name, format]) => ({
    name,
    type: 'timestamp',
    required: true,
    ...(format ? { format } : {}),
  }));
  const profile = await profileDataset(store, dataset, undefined, declared);
  const columns = profile.columns.map((p: ColumnProfile): SourceColumn => {
    const missingShare = profile.rows ? p.missing / profile.rows : 0;
    const required = missingShare === 0;
    const base: SourceColumn = { name: p.name, type: 'string', required };
    if (!required) base.maxMissing = Math.min(1, Math.ceil(missingShare * 1.5 * 1000) / 1000);
    if (p.kind === 'timestamp') {
      const format = formats.get(p.name);
      if (format) notes.push(`column "${p.name}" holds dates written as text, read with the format ${format}`);
      return { ...base, type: 'timestamp', ...(format ? { format } : {}) };
    }
    if (p.kind === 'numeric') {
      const integer = /INT/i.test(p.type) && familyOf(p.type) === 'numeric';
      const out: SourceColumn = { ...base, type: integer ? 'integer' : 'float' };
      if (p.min !== null && p.max !== null) {
        const margin = (p.max - p.min) * 0.1;
        // a column never seen negative stays non-negative; bounds are rounded outward to 3 decimals
        const low = p.min >= 0 ? Math.max(0, p.min - margin) : p.min - margin;
        out.min = integer ? Math.floor(low) : Math.floor(low * 1000) / 1000;
        out.max = integer ? Math.ceil(p.max + margin) : Math.ceil((p.max + margin) * 1000) / 1000;
      }
      if (p.nan + p.posInf + p.negInf > 0) notes.push(`column "${p.name}" has NaN or infinite values in the sample`);
      return out;
    }
    if (/^BOOLEAN$/i.test(p.type)) return { ...base, type: 'boolean' };
    if (p.distinct > 0 && p.distinct <= 1000) return { ...base, domain: 'learned' };
    notes.push(`column "${p.name}" has ${p.distinct} distinct values: no domain proposed`);
    return base;
  });
  if (profile.duplicateRows > 0) notes.push(`${profile.duplicateRows} duplicated rows in the sample`);
  return { columns, notes, profile };
}

/** Ways people write dates as text, tried on text columns; ISO 8601 is read without a format. */
const DATE_FORMATS = [
  '%b %d %Y',
  '%B %d %Y',
  '%d %b %Y',
  '%m/%d/%Y',
  '%d/%m/%Y',
  '%m/%d/%Y %H:%M',
  '%d/%m/%Y %H:%M',
  '%d.%m.%Y',
  '%Y/%m/%d',
  '%Y%m%d',
];

/** Text columns whose values read as dates: with no format (ISO 8601) or the first format that reads ≥ 98%. */
async function textDateFormats(store: ArtifactStore, dataset: DatasetRef): Promise<Map<string, string | undefined>> {
  const found = new Map<string, string | undefined>();
  const text = dataset.columns.filter((c) => /^VARCHAR/i.test(c.type));
  if (text.length === 0 || dataset.rows === 0) return found;
  await withDuckDB(async (con) => {
    const src = `(SELECT * FROM read_parquet(${sqlString(await snapshotPath(store, dataset))}) LIMIT 10000)`;
    for (const col of text) {
      const c = sqlIdent(col.name);
      const tries = [
        `count(TRY_CAST(${c} AS TIMESTAMP))`,
        ...DATE_FORMATS.map((f) => `count(try_strptime(${c}, ${sqlString(f)}))`),
      ];
      const [present, ...counts] = (await con.runAndReadAll(`SELECT count(${c}), ${tries.join(', ')} FROM ${src}`))
        .getRowsJS()[0]
        .map(Number);
      if (present === 0) continue;
      const best = counts.findIndex((n) => n / present >= 0.98);
      if (best >= 0) found.set(col.name, best === 0 ? undefined : DATE_FORMATS[best - 1]);
    }
  });
  return found;
}

export interface ProposeOptions {
  /** the column to predict */
  label: string;
  /** default: from the values of the label column */
  task?: Task;
  /** default: from the source file's name */
  name?: string;
  /** where the data came from, for the description */
  sourceName: string;
}

/**
 * A whole model spec from a first dataset: its contract, a label rule and task read from the label column, and one
 * feature per other usable column (numbers as numbers, a log for long-tailed positive ones; low-cardinality text as
 * categories; dates as weekday and month). Identifier-like columns (a distinct value on most rows) are left out.
 * The proposal parses as a spec as it is; a person reviews it before it trains anything.
 */
export async function proposeSpec(
  store: ArtifactStore,
  dataset: DatasetRef,
  options: ProposeOptions,
): Promise<{ spec: ModelSpec; notes: string[] }> {
  const { columns, notes, profile } = await inferContract(store, dataset);
  const labelColumn = columns.find((c) => c.name === options.label);
  if (!labelColumn) {
    throw new SpecError(
      `--label "${options.label}" is not a column of ${options.sourceName} (columns: ${columns.map((c) => `"${c.name}"`).join(', ')})`,
    );
  }
  const labelProfile = profile.columns.find((p) => p.name === options.label)!;
  const task = options.task ?? taskOf(labelColumn, labelProfile);
  const label = labelRule(task, labelColumn, labelProfile);
  const features: ModelSpecInput['features'] = [];
  const names = new Set<string>();
  const featureName = (column: string, suffix = ''): string => {
    let base = `${column}${suffix}`
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '');
    if (!/^[a-z_]/.test(base)) base = `_${base}`;
    let name = base || 'feature';
    for (let i = 2; names.has(name); i++) name = `${base}_${i}`;
    names.add(name);
    return name;
  };
  for (const c of columns) {
    if (c.name === options.label) continue;
    const p = profile.columns.find((q) => q.name === c.name)!;
    if (p.count === 0) {
      notes.push(`column "${c.name}" is empty: not a feature`);
    } else if (c.type === 'timestamp') {
      // the time as a number (the year, the day) and its calendar parts (the weekday, the month, the hour)
      features.push({ name: featureName(c.name), column: c.name, transform: { kind: 'timeValue' } });
      features.push({ name: featureName(c.name, ' weekday'), column: c.name, transform: { kind: 'dayOfWeek' } });
      features.push({ name: featureName(c.name, ' month'), column: c.name, transform: { kind: 'month' } });
      const hours = p.kind === 'timestamp' ? (p.hourOfDay ?? []).filter((n) => n > 0).length : 0;
      if (hours > 1) {
        features.push({ name: featureName(c.name, ' hour'), column: c.name, transform: { kind: 'hourOfDay' } });
      }
    } else if (c.type === 'integer' && p.kind === 'numeric' && looksLikeRowNumber(p)) {
      // consecutive whole numbers, one per row: a row number, not a measurement
      notes.push(
        `column "${c.name}" looks like a row number (whole numbers from ${p.min} to ${p.max}, one per row, spread evenly): not a feature`,
      );
    } else if (c.type === 'float' || c.type === 'integer' || c.type === 'boolean') {
      const skewed =
        p.kind === 'numeric' &&
        p.min !== null &&
        p.min >= 0 &&
        // long-tailed: grosses, budgets, vote counts (movies: R² 0.53 → 0.57 with their logs; docs/benchmarks.md)
        (p.quantiles.p99 ?? 0) > 5 * Math.max(p.quantiles.p50 ?? 0, 1e-9);
      // a measurement with many values also in pieces, so the network can bend where the data does
      const pieces = c.type !== 'boolean' && p.kind === 'numeric' && p.distinct >= 4 * PIECES ? { pieces: PIECES } : {};
      features.push({
        name: featureName(c.name),
        column: c.name,
        transform: { kind: 'numeric', log: skewed, ...pieces },
      });
    } else if (p.kind === 'categorical' && (p.distinct > 1000 || p.distinct > 0.5 * p.count)) {
      notes.push(`column "${c.name}" looks like an identifier (${p.distinct} distinct values): not a feature`);
    } else {
      features.push({ name: featureName(c.name), column: c.name, transform: { kind: 'categorical' } });
    }
  }
  // a column that gives the answer away (recorded after the outcome) is left out, with its number and how to undo
  const leaks = await leakingColumns(store, dataset, LabelRule.parse(label), columns, features);
  for (const leak of leaks) {
    notes.push(
      `column "${leak.column}" left out: ${leak.why} — likely recorded after the outcome (leakage). ` +
        `Add it back by hand only if it is known when a prediction is made.`,
    );
  }
  const kept = features.filter((f) => !leaks.some((l) => l.column === f.column));
  if (kept.length === 0) {
    throw new SpecError(
      `every candidate feature of ${options.sourceName} looks like a leak of "${options.label}": ${leaks.map((l) => `"${l.column}"`).join(', ')}; check the label, or write the spec by hand`,
    );
  }
  const name = (options.name ?? path.basename(options.sourceName).replace(/\.[^.]*$/, ''))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^[^a-z]+|-+$/g, '')
    .slice(0, 63);
  const timeColumn = columns.find((c) => c.type === 'timestamp')?.name;
  const labelled = labelProfile.count;
  const training = trainingSettings(labelled, task, labelProfile);
  const stopping = training.earlyStopping
    ? `${training.epochs} epochs at most, early stopping on ${100 * training.earlyStopping.validationFraction}% of the training rows (patience ${training.earlyStopping.patience})`
    : `${training.epochs} epochs, no early stopping`;
  notes.push(
    `training settings for ${labelled} labelled rows: ${stopping}, batch ${training.batchSize}, learning rate ${training.learningRate}, l2 ${training.l2}` +
      (training.classWeight ? `, classWeight ${training.classWeight} (${training.why})` : ''),
  );
  const proposal: ModelSpecInput = {
    name: name || 'model',
    description: `Proposed by lumen schema infer from ${options.sourceName}: ${task}, predicting "${options.label}".`,
    task,
    source: { columns, ...(timeColumn ? { timeColumn } : {}) },
    label,
    features: kept,
    training: {
      epochs: training.epochs,
      batchSize: training.batchSize,
      learningRate: training.learningRate,
      ...(training.l2 ? { l2: training.l2 } : {}),
      ...(training.earlyStopping ? { earlyStopping: training.earlyStopping } : {}),
      ...(training.classWeight ? { classWeight: training.classWeight } : {}),
    },
  };
  return { spec: parseModelSpec(proposal, 'the proposed spec'), notes };
}

/**
 * The pieces proposed for a number with many values (see the numeric transform's `pieces`): beside an l2 penalty of
 * 0.03 they brought movies from R² 0.608 to 0.615 over five splits, and to 0.618 with 0.01 over ten.
 */
const PIECES = 8;

function taskOf(column: SourceColumn, profile: ColumnProfile): Task {
  if (column.type === 'boolean') return 'binary';
  if (profile.kind === 'categorical') {
    if (profile.distinct === 2) return 'binary';
    if (profile.distinct > 2 && profile.distinct <= 100) return 'multiclass';
    throw new SpecError(
      `cannot tell the task from label "${column.name}" (${profile.distinct} distinct values); pass --task`,
    );
  }
  if (profile.kind === 'numeric') return profile.distinct === 2 ? 'binary' : 'regression';
  throw new SpecError(`label "${column.name}" is a ${column.type} column; pass --task, or choose another label`);
}

function labelRule(task: Task, column: SourceColumn, profile: ColumnProfile): ModelSpecInput['label'] {
  switch (task) {
    case 'regression':
      return { kind: 'value', column: column.name };
    case 'multiclass':
      return { kind: 'classes', column: column.name };
    case 'binary': {
      if (profile.kind === 'categorical') {
        // the rarer value is the positive class (the event a model is usually built to find)
        const rarest = Object.entries(profile.values).sort((a, b) => a[1] - b[1])[0]?.[0];
        if (rarest !== undefined) return { kind: 'oneOf', column: column.name, positive: [rarest] };
      }
      if (column.type === 'boolean') return { kind: 'oneOf', column: column.name, positive: [true] };
      if (profile.kind === 'numeric' && profile.max !== null) {
        return { kind: 'threshold', column: column.name, op: '>=', value: profile.max };
      }
      throw new SpecError(`cannot make a binary label from "${column.name}"; choose another --task`);
    }
  }
}

/** The proposed features' columns that likely leak the label (lib/validation/leakage.ts). */
async function leakingColumns(
  store: ArtifactStore,
  dataset: DatasetRef,
  label: LabelRule,
  columns: SourceColumn[],
  features: ModelSpecInput['features'],
): Promise<LikelyLeak[]> {
  const used = new Set(features.flatMap((f) => ('column' in f && f.column ? [f.column] : [])));
  const measured = columns.filter((c) => used.has(c.name));
  const reading = labelReading({ label, source: { columns } });
  return likelyLeaks(await snapshotColumnPowers(store, dataset, reading, measured));
}

/**
 * Training settings by the data's size, so a small dataset is not trained for a handful of steps and a large one not
 * for hours: batches of 32 rows for a few thousand rows up to 512 for hundreds of thousands; epochs enough for about
 * 3,000 steps (at least 10, at most 200), with early stopping keeping the best epoch on a validation share of the
 * training rows; and, for multi-class labels as uneven as one class under a third of an even share, every class drawn
 * equally often.
 */
function trainingSettings(
  labelled: number,
  task: Task,
  label: ColumnProfile,
): {
  epochs: number;
  batchSize: number;
  learningRate: number;
  l2?: number;
  /** absent: every epoch is trained (balanced classes: see below) */
  earlyStopping?: { validationFraction: number; patience: number };
  classWeight?: 'balanced';
  why?: string;
} {
  const trainRows = Math.max(1, Math.round(labelled * 0.8));
  const batchSize = trainRows < 2_000 ? 32 : trainRows < 20_000 ? 128 : trainRows < 200_000 ? 256 : 512;
  const validationFraction = trainRows < 2_000 ? 0.2 : 0.1;
  const steps = Math.max(1, Math.ceil((trainRows * (1 - validationFraction)) / batchSize));
  const epochs = Math.min(200, Math.max(10, Math.ceil(3_000 / steps)));
  const earlyStopping = { validationFraction, patience: epochs >= 50 ? 20 : 3 };
  // a few hundred rows give a few steps an epoch: a larger step, or the best epoch comes before anything is learned
  const learningRate = trainRows < 2_000 ? 0.005 : 0.001;
  // a penalty on the weights, so a network fitted to a few thousand rows learns their pattern and not the rows
  // (with the pieces, over ten splits: movies R² 0.581 → 0.618, seattle-weather macro-F1 0.513 → 0.557;
  // docs/benchmarks.md); weaker as rows grow
  const l2 = Number((0.01 * Math.min(1, 10_000 / trainRows)).toPrecision(2));
  // multi-class only: its primary metric, macro-F1, weighs every class; a binary model is judged on AUC (a ranking,
  // indifferent to balance) and on log loss against the base rate, which balanced draws would miscalibrate
  if (task === 'multiclass' && label.kind === 'categorical') {
    const counts = Object.values(label.values);
    const k = counts.length;
    const total = counts.reduce((a, b) => a + b, 0);
    const rarest = Math.min(...counts) / Math.max(total, 1);
    if (k >= 2 && rarest < 1 / (3 * k)) {
      const share = `${rarest >= 0.01 ? (100 * rarest).toFixed(1) : (100 * rarest).toPrecision(1)}%`;
      // no early stopping: the validation loss, on rows as uneven as the data, is lowest in the early epochs that
      // still favour the commonest class, so it would keep those (seattle-weather: macro-F1 0.55 kept at epoch 8,
      // 0.63 after 40 epochs; docs/benchmarks.md); the epochs for about 3,000 steps, at most 100
      return {
        epochs: Math.min(epochs, 100),
        batchSize,
        learningRate,
        l2,
        classWeight: 'balanced',
        why: `the rarest class is ${share} of the rows`,
      };
    }
  }
  return { epochs, batchSize, learningRate, l2, earlyStopping };
}

/**
 * Whole numbers that run through a range about as long as the rows, spread evenly: a row number or a sequential id.
 * (The profile's distinct count is an estimate, off by up to ~15% here, so the spread decides: a consecutive run has
 * its mean at the middle and the standard deviation of a uniform range.)
 */
function looksLikeRowNumber(p: ColumnProfile): boolean {
  if (p.kind !== 'numeric' || p.count <= 100 || p.min === null || p.max === null || p.mean === null || p.std === null) {
    return false;
  }
  const range = p.max - p.min + 1;
  const uniformStd = range / Math.sqrt(12);
  return (
    p.distinct >= 0.8 * p.count &&
    range <= 1.1 * p.count &&
    Math.abs(p.mean - (p.min + p.max) / 2) <= 0.02 * range &&
    Math.abs(p.std - uniformStd) <= 0.05 * uniformStd
  );
}
