import os from 'node:os';
import { ResourceLimitError } from '../errors';
import type { ColumnRequest } from '../data/table';

/**
 * How much memory training may hold in arrays: LUMEN_TRAINING_MEMORY (e.g. "4GB", "512MB"), default 60% of this
 * machine's memory. A batch that needs more is refused with a message saying how much and what to change, before
 * the arrays are made — never by the operating system killing the worker halfway through.
 */
export function trainingMemoryBudget(env: NodeJS.ProcessEnv = process.env): number {
  const declared = env.LUMEN_TRAINING_MEMORY;
  if (!declared) return Math.floor(os.totalmem() * 0.6);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$/i.exec(declared);
  if (!m) throw new ResourceLimitError(`LUMEN_TRAINING_MEMORY must look like "4GB" or "512MB", got "${declared}"`);
  const unit = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40 }[(m[2] ?? 'B').toUpperCase() as 'B'];
  return Math.floor(Number(m[1]) * unit);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(0)} MB`;
  return `${Math.ceil(bytes / 2 ** 10)} KB`;
}

/** what a loaded text value costs on average (a JavaScript string and its slot), measured loosely: a bound, not a count */
const TEXT_BYTES = 48;

/** About what a batch's columns take once loaded: 8 bytes a number, TEXT_BYTES a text value. */
export function loadedBytes(rows: number, requests: ColumnRequest[]): number {
  return rows * requests.reduce((sum, r) => sum + (r.as === 'string' ? TEXT_BYTES : 8), 0);
}

/** The columns of a batch, loaded as typed arrays and strings: refused when they alone would not fit. */
export function checkTableFits(what: string, rows: number, requests: ColumnRequest[], budget: number): void {
  const needed = loadedBytes(rows, requests);
  if (needed > budget) {
    throw new ResourceLimitError(
      `${what} has ${rows.toLocaleString('en-US')} rows: loading its ${requests.length} columns takes about ${formatBytes(needed)}, ` +
        `over this worker's training memory of ${formatBytes(budget)} (LUMEN_TRAINING_MEMORY). ` +
        'Cap the rows with training.maxTrainingRows, send smaller batches, or give the worker more.',
      { rows, needed, budget },
    );
  }
}

/** The encoded inputs (float32, rows × width), on top of the loaded columns. */
export function checkEncodingFits(
  what: string,
  rows: number,
  width: number,
  alreadyHeld: number,
  budget: number,
): void {
  const needed = rows * width * 4 + alreadyHeld;
  if (needed > budget) {
    throw new ResourceLimitError(
      `${what}: encoding ${rows.toLocaleString('en-US')} rows × ${width} inputs takes about ${formatBytes(needed)} ` +
        `with the loaded columns, over this worker's training memory of ${formatBytes(budget)} (LUMEN_TRAINING_MEMORY). ` +
        'Cap the rows with training.maxTrainingRows, use embeddings for wide categorical features, or give the worker more.',
      { rows, width, needed, budget },
    );
  }
}
