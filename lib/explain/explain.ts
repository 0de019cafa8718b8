import { decodeRegression, encodeCodes, type Preprocessor } from '../features';
import type { Background } from './background';
import { shapley, type Attribution } from './shapley';

/** What a model output is explained as: the positive class's probability, the predicted class's, or the value. */
export interface Explanation extends Attribution {
  /** multi-class: the class whose probability is explained (the one predicted) */
  class?: string;
}

/**
 * Explain one row, given as its feature codes (`featureCodes`), with `forward` the version's own forward pass
 * (encoded rows in, raw outputs out) and its background: the output the version serves for the row — a binary
 * model's probability, a multi-class model's probability of the class it predicts, a regression's value in the
 * label's units — attributed to the spec's features. `seed` orders the sampled game of a model with many features.
 */
export function explainRow(
  pre: Preprocessor,
  forward: (x: Float32Array, rows: number) => Float32Array,
  background: Background,
  row: Float64Array,
  seed: number,
): Explanation {
  const label = pre.label;
  const outputs = label.task === 'multiclass' ? label.classes.length : 1;
  let cls = 0;
  if (label.task === 'multiclass') {
    const own = forward(
      encodeCodes(
        pre,
        Array.from(row, (v) => Float64Array.of(v)),
        1,
      ),
      1,
    );
    for (let k = 1; k < outputs; k++) if (own[k] > own[cls]) cls = k;
  }
  const score = (x: Float32Array, n: number): Float64Array => {
    const out = forward(x, n);
    const s = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const y = out[i * outputs + cls];
      s[i] = label.task === 'regression' ? decodeRegression(pre, y) : y;
    }
    return s;
  };
  const attribution = shapley({ pre, background: background.codes, score }, row, { seed });
  return label.task === 'multiclass' ? { ...attribution, class: label.classes[cls] } : attribution;
}
