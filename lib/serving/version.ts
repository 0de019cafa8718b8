import type { ArtifactRef, ArtifactStore } from '../artifacts';
import { readJsonArtifact } from '../artifacts/store';
import { canaryTable, compareCanary, type Canary } from '../evaluation/evaluate';
import { decodeRegression, encodeFeatures, type Preprocessor } from '../features';
import { loadModelArtifact, type LoadedModel } from '../model/artifact';
import { servingForward, type ServingForward } from '../model/predict';
import { loadTf, type Tf } from '../model/tf';
import type { Table } from '../data/table';
import type { ModelVersion } from '../registry/types';
import { ServedRows } from './rows';

/** One prediction, in the shape of the model's task. */
export type Output =
  { probability: number } | { class: string; probabilities: Record<string, number> } | { value: number };

/**
 * What the prediction log keeps of an output, and the monitor scores: the positive class's probability, the chosen
 * class's, or the value; and the chosen class (multi-class only).
 */
export function scoreOf(o: Output): { score: number; predicted: string | null } {
  if ('probability' in o) return { score: o.probability, predicted: null };
  if ('value' in o) return { score: o.value, predicted: null };
  return { score: o.probabilities[o.class], predicted: o.class };
}

/**
 * A model version ready to answer: its bytes verified against the registered digest, loaded, and warmed up by
 * predicting its canary rows, which must match the predictions recorded at evaluation — a version that fails any
 * of this is never served.
 */
export class ServedVersion {
  private inflight = 0;
  private retired = false;
  private disposed = false;
  private readonly forward: ServingForward;

  private constructor(
    readonly model: string,
    readonly version: number,
    readonly artifact: ArtifactRef,
    readonly record: ModelVersion,
    private readonly tf: Tf,
    private readonly loaded: LoadedModel,
    readonly rows: ServedRows,
  ) {
    this.forward = servingForward(tf, loaded.model);
  }

  static async load(store: ArtifactStore, record: ModelVersion, tolerance = 1e-4): Promise<ServedVersion> {
    const { tf } = await loadTf();
    // loadModelArtifact re-hashes every file against the registered digest before it reads one
    const loaded = await loadModelArtifact(store, tf, record.artifact);
    const served = new ServedVersion(
      record.model,
      record.version,
      record.artifact,
      record,
      tf,
      loaded,
      new ServedRows(loaded.spec, loaded.preprocessor),
    );
    try {
      const canaryRef = (record.evaluation as { canary?: ArtifactRef }).canary;
      if (!canaryRef) throw new Error(`${record.model} v${record.version} has no canary to warm up with`);
      const canary = (await readJsonArtifact(store, canaryRef)) as Canary;
      const { table, rows } = canaryTable(canary);
      const check = compareCanary(served.raw(table, rows.length), canary, tolerance);
      if (!check.passed) throw new Error(`the warm-up failed: ${check.detail}`);
    } catch (err) {
      served.dispose();
      throw err;
    }
    return served;
  }

  get preprocessor(): Preprocessor {
    return this.loaded.preprocessor;
  }

  /** Raw model outputs for encoded rows (`rows × width` of the preprocessor): rows × outputs. */
  forwardEncoded(x: Float32Array, rows: number): Float32Array {
    return this.forward(x, rows, this.loaded.preprocessor.width);
  }

  /** Raw model outputs for rows of a table: rows × outputs. */
  raw(table: Table, rows: number): Float32Array {
    const pre = this.loaded.preprocessor;
    const index = Uint32Array.from({ length: rows }, (_, i) => i);
    const x = encodeFeatures(pre, table, index);
    return this.forward(x, rows, pre.width);
  }

  /** Predictions in the task's shape. */
  predict(table: Table): Output[] {
    const p = this.raw(table, table.rows);
    return outputsOf(this.loaded.preprocessor, p, table.rows);
  }

  /** Count a request in; the version is disposed only after the last one is out, even if replaced meanwhile. */
  enter(): void {
    if (this.disposed) throw new Error(`${this.model} v${this.version} is no longer loaded`);
    this.inflight++;
  }

  leave(): void {
    this.inflight--;
    if (this.retired && this.inflight === 0) this.dispose();
  }

  /** No new requests will come; free the model once the ones in flight are done. */
  retire(): void {
    this.retired = true;
    if (this.inflight === 0) this.dispose();
  }

  get inFlight(): number {
    return this.inflight;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.loaded.model.dispose();
  }
}

/** Raw outputs to the task's shape: a probability, class probabilities with the likeliest class, or a value. */
export function outputsOf(pre: Preprocessor, p: Float32Array, rows: number): Output[] {
  const label = pre.label;
  const out = new Array<Output>(rows);
  if (label.task === 'binary') {
    for (let r = 0; r < rows; r++) out[r] = { probability: p[r] };
  } else if (label.task === 'multiclass') {
    const k = label.classes.length;
    for (let r = 0; r < rows; r++) {
      const probabilities: Record<string, number> = {};
      let best = 0;
      for (let c = 0; c < k; c++) {
        probabilities[label.classes[c]] = p[r * k + c];
        if (p[r * k + c] > p[r * k + best]) best = c;
      }
      out[r] = { class: label.classes[best], probabilities };
    }
  } else {
    for (let r = 0; r < rows; r++) out[r] = { value: decodeRegression(pre, p[r]) };
  }
  return out;
}
