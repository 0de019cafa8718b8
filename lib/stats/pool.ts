import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { numericDrift, type NumericDrift } from './drift';
import { sortFloat64 } from './sort';

/**
 * Numeric drift for many columns at once, spread over worker threads (one per core): the sort of each current
 * column and its statistics run in parallel. Small jobs stay on the calling thread, where a thread hop would
 * cost more than it saves. The pool is created on first use and does not keep the process alive.
 */

export interface DriftJob {
  /** reference values, sorted (they are cached sorted across batches) */
  reference: Float64Array;
  /** current finite values, unsorted */
  current: Float64Array;
}

/** Below this many values in all, the work is done inline. */
const PARALLEL_THRESHOLD = 400_000;

let pool: Worker[] | undefined;

function workers(): Worker[] {
  if (pool) return pool;
  // run from source, the thread needs tsx to load the TypeScript modules; compiled, it loads the .js beside this one
  const loader = __filename.endsWith('.ts') ? `require(${JSON.stringify(require.resolve('tsx/cjs'))});` : '';
  const script = `
    ${loader}
    const { parentPort } = require('node:worker_threads');
    const { numericDrift } = require(${JSON.stringify(path.join(__dirname, 'drift'))});
    const { sortFloat64 } = require(${JSON.stringify(path.join(__dirname, 'sort'))});
    parentPort.on('message', ({ id, reference, current }) => {
      try {
        const result = numericDrift(new Float64Array(reference), sortFloat64(new Float64Array(current)));
        parentPort.postMessage({ id, result });
      } catch (err) {
        parentPort.postMessage({ id, error: String(err && err.stack || err) });
      }
    });`;
  pool = Array.from({ length: Math.max(1, os.availableParallelism()) }, () => {
    const w = new Worker(script, { eval: true });
    w.unref();
    return w;
  });
  return pool;
}

/** Values in memory the worker threads can read without a copy (copied once if they are not there yet). */
export function toShared(values: Float64Array): Float64Array {
  if (values.buffer instanceof SharedArrayBuffer) return values;
  const out = new Float64Array(new SharedArrayBuffer(values.byteLength));
  out.set(values);
  return out;
}

function shared(values: Float64Array): SharedArrayBuffer | ArrayBufferLike {
  const s = toShared(values);
  return s.byteOffset === 0 && s.length * 8 === s.buffer.byteLength ? s.buffer : toShared(s.slice()).buffer;
}

let nextId = 0;

export async function numericDriftMany(jobs: DriftJob[]): Promise<NumericDrift[]> {
  const size = jobs.reduce((s, j) => s + j.current.length + j.reference.length, 0);
  if (jobs.length < 2 || size < PARALLEL_THRESHOLD || os.availableParallelism() < 2) {
    return jobs.map((j) => numericDrift(j.reference, sortFloat64(j.current)));
  }
  const threads = workers();
  const results = new Array<NumericDrift>(jobs.length);
  let next = 0;
  await Promise.all(
    threads.map(async (worker) => {
      worker.ref();
      try {
        while (next < jobs.length) {
          const index = next++;
          const id = nextId++;
          results[index] = await new Promise<NumericDrift>((resolve, reject) => {
            const onMessage = (message: { id: number; result?: NumericDrift; error?: string }): void => {
              if (message.id !== id) return;
              worker.off('message', onMessage);
              if (message.error) reject(new Error(`drift worker: ${message.error}`));
              else resolve(message.result!);
            };
            worker.on('message', onMessage);
            worker.postMessage({ id, reference: shared(jobs[index].reference), current: shared(jobs[index].current) });
          });
        }
      } finally {
        worker.unref();
      }
    }),
  );
  return results;
}
