import path from 'node:path';
import type * as tfjs from '@tensorflow/tfjs';

export type Tf = typeof tfjs;
export type TfBackend = 'tensorflow' | 'wasm' | 'cpu';

export interface LoadedTf {
  tf: Tf;
  /** the backend actually in use — recorded with every trained model */
  backend: TfBackend;
}

let loaded: Promise<LoadedTf> | undefined;

/**
 * For a process that mostly trains (a worker on the training queue, the demo): TensorFlow runs each op on one
 * thread unless TF_NUM_INTRAOP_THREADS says otherwise. A training step is dozens of small matrix products, and
 * waking the intra-op pool for each costs more than the second core saves: on this machine's 2 cores a flights
 * step takes 2.2 ms on one thread against 3.5 ms on two, a crossed-flights step 6.1 against 10.2 ms. Batch
 * scoring keeps TensorFlow's default, where 65k-row products are 1.4× faster on two threads. It must run before
 * TensorFlow loads; afterwards it says so instead of pretending.
 */
export function preferSingleThreadedOps(): void {
  if (loaded) {
    console.warn('[lumen] TensorFlow is already loaded: its thread count stays as it was');
    return;
  }
  process.env.TF_NUM_INTRAOP_THREADS ??= '1';
}

/**
 * Load TensorFlow.js once per process. Native tfjs-node is the default; if its addon cannot load (set-up could
 * not build it on this machine) Lumen falls back to tfjs-wasm with a one-line warning. LUMEN_TF_BACKEND
 * (tensorflow | wasm | cpu) forces a backend; forcing `tensorflow` makes a missing addon an error.
 */
export function loadTf(): Promise<LoadedTf> {
  loaded ??= load(process.env.LUMEN_TF_BACKEND as TfBackend | undefined);
  return loaded;
}

async function load(requested: TfBackend | undefined): Promise<LoadedTf> {
  if (requested && !['tensorflow', 'wasm', 'cpu'].includes(requested)) {
    throw new Error(`LUMEN_TF_BACKEND must be tensorflow, wasm or cpu, got "${String(requested)}"`);
  }
  if (requested === undefined || requested === 'tensorflow') {
    process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const tf = require('@tensorflow/tfjs-node') as Tf;
      await tf.ready();
      if (tf.getBackend() === 'tensorflow') return { tf, backend: 'tensorflow' };
      throw new Error(`tfjs-node loaded but the active backend is ${tf.getBackend()}`);
    } catch (err) {
      if (requested === 'tensorflow') throw err;
      console.warn(
        `[lumen] WARNING: native tfjs-node unavailable (${(err as Error).message.split('\n')[0]}); training on tfjs-wasm`,
      );
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as Tf;
  if (requested === 'cpu') {
    await tf.setBackend('cpu');
    return { tf, backend: 'cpu' };
  }
  await useWasm(tf);
  return { tf, backend: 'wasm' };
}

/** Register and select the wasm backend, with its .wasm files read from node_modules (no network). */
export async function useWasm(tf: Tf): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(`${dir}${path.sep}`);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs-wasm backend failed to initialise');
}
