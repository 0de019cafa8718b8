import { encodeCodes, type Preprocessor } from '../features';
import { featureColumns } from '../features/types';
import { prng } from '../rng';

/**
 * Why a model gave one output: Shapley values over the spec's features — a numeric column, a calendar part of a
 * time, a categorical column, a cross — never over the one-hot or piece inputs a feature is encoded into, so an
 * attribution names what a person wrote in the spec.
 *
 * The game is interventional (as SHAP's exact and kernel explainers play it): the value of a set S of features is
 * the model's output averaged over a background of training rows, each with the features of S taken from the
 * explained row and the others left as the background row has them. The values then add up exactly to the output
 * minus its average over the background (efficiency, checked by the tests), and are held to the Python `shap`
 * package on the same model and background (test/reference/shap_reference.py).
 *
 * Up to EXACT_FEATURES features every subset is played (2^F subsets × the background, in one batch); beyond, seeded
 * random orders of the features are played, each with its reverse (antithetic), and each feature's marginal
 * contributions averaged — still adding up exactly, as each order's contributions do.
 */
export const EXACT_FEATURES = 10;

export interface FeatureAttribution {
  feature: string;
  /** the source columns the feature reads */
  columns: string[];
  /** how much it moved the output from the background's average */
  value: number;
}

export interface Attribution {
  /** one per feature of the spec, in its order */
  features: FeatureAttribution[];
  /** the output averaged over the background: where the contributions start */
  base: number;
  /** the explained output: base + the sum of the values, up to rounding */
  output: number;
  method: 'exact' | 'sampled';
  /** sampled: the orders played (each with its reverse) */
  orders?: number;
}

export interface Game {
  pre: Preprocessor;
  /** the scalar explained, per encoded row: `rows × pre.width` row-major in, one number per row out */
  score: (x: Float32Array, rows: number) => ArrayLike<number>;
  /** the background: feature codes (lib/features `featureCodes`), one array per feature, all the same length */
  background: Float64Array[];
}

/** Shapley values of one row, given as its feature codes (one per feature). */
export function shapley(
  game: Game,
  row: ArrayLike<number>,
  options: {
    /** the seed of the sampled orders (lineage: the version's seed) */
    seed?: number;
    /** how many orders to play when sampled, reverses included: 32 is 16 random orders and their reverses */
    orders?: number;
    /** up to how many features every subset is played (default EXACT_FEATURES) */
    exactUpTo?: number;
  } = {},
): Attribution {
  const { pre, background } = game;
  const F = pre.features.length;
  if (row.length !== F) throw new Error(`a row of ${row.length} feature codes; the model has ${F} features`);
  const B = background[0]?.length ?? 0;
  if (B === 0) throw new Error('an attribution needs a background of at least one row');

  const exact = F <= (options.exactUpTo ?? EXACT_FEATURES);
  const orders = exact ? [] : playOrders(F, options.orders ?? 32, options.seed ?? 0);
  // the coalitions to value, each a bit set over the features (as text, so any number of features fits)
  const coalitions = exact ? allSubsets(F) : chains(orders, F);
  const index = new Map(coalitions.map((c, i) => [c, i]));
  const v = coalitionValues(game, row, coalitions);

  const values = new Float64Array(F);
  if (exact) {
    const weight = shapleyWeights(F);
    for (const [c, i] of index) {
      const size = countSet(c);
      for (let f = 0; f < F; f++) {
        if (c[f] === '1') continue;
        values[f] += weight[size] * (v[index.get(withFeature(c, f))!] - v[i]);
      }
    }
  } else {
    for (const order of orders) {
      let c = '0'.repeat(F);
      for (const f of order) {
        const next = withFeature(c, f);
        values[f] += v[index.get(next)!] - v[index.get(c)!];
        c = next;
      }
    }
    for (let f = 0; f < F; f++) values[f] /= orders.length;
  }
  const base = v[index.get('0'.repeat(F))!];
  const output = v[index.get('1'.repeat(F))!];
  return {
    features: pre.features.map((feature, f) => ({
      feature: feature.name,
      columns: featureColumns(feature),
      value: values[f],
    })),
    base,
    output,
    method: exact ? 'exact' : 'sampled',
    ...(exact ? {} : { orders: orders.length }),
  };
}

/** Model rows encoded and scored at once: bounds the memory of a wide model's 2^F × background rows. */
const CHUNK_ROWS = 4096;

/** Each coalition's value: the score averaged over the background, with the coalition's features from `row`. */
function coalitionValues(game: Game, row: ArrayLike<number>, coalitions: string[]): Float64Array {
  const { pre, background } = game;
  const B = background[0].length;
  const v = new Float64Array(coalitions.length);
  const perChunk = Math.max(1, Math.floor(CHUNK_ROWS / B));
  for (let from = 0; from < coalitions.length; from += perChunk) {
    const chunk = coalitions.slice(from, from + perChunk);
    const n = chunk.length * B;
    const codes = pre.features.map((_, f) => {
      const column = new Float64Array(n);
      chunk.forEach((c, k) => {
        if (c[f] === '1') column.fill(row[f], k * B, (k + 1) * B);
        else column.set(background[f], k * B);
      });
      return column;
    });
    const scores = game.score(encodeCodes(pre, codes, n), n);
    for (let k = 0; k < chunk.length; k++) {
      let sum = 0;
      for (let b = 0; b < B; b++) sum += scores[k * B + b];
      v[from + k] = sum / B;
    }
  }
  return v;
}

/** |S|! (F − |S| − 1)! / F!, for each size of S: a subset's share in a feature's value. */
function shapleyWeights(F: number): Float64Array {
  const w = new Float64Array(F);
  for (let s = 0; s < F; s++) {
    // 1 / (F · C(F − 1, s)), with C built up term by term in floats
    let choose = 1;
    for (let k = 1; k <= s; k++) choose = (choose * (F - 1 - s + k)) / k;
    w[s] = 1 / (F * choose);
  }
  return w;
}

function allSubsets(F: number): string[] {
  const out: string[] = [];
  for (let m = 0; m < 2 ** F; m++) {
    let c = '';
    for (let f = 0; f < F; f++) c += (m >> f) & 1 ? '1' : '0';
    out.push(c);
  }
  return out;
}

/** Seeded random orders of the features, each followed by its reverse. */
function playOrders(F: number, count: number, seed: number): number[][] {
  const rand = prng(seed);
  const orders: number[][] = [];
  while (orders.length < count) {
    const order = Array.from({ length: F }, (_, f) => f);
    for (let i = F - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    orders.push(order, [...order].reverse());
  }
  return orders;
}

/** Every coalition an order passes through, from none of the features to all of them, once each. */
function chains(orders: number[][], F: number): string[] {
  const seen = new Set<string>();
  for (const order of orders) {
    let c = '0'.repeat(F);
    seen.add(c);
    for (const f of order) seen.add((c = withFeature(c, f)));
  }
  return [...seen];
}

function withFeature(c: string, f: number): string {
  return `${c.slice(0, f)}1${c.slice(f + 1)}`;
}

function countSet(c: string): number {
  let n = 0;
  for (let i = 0; i < c.length; i++) if (c[i] === '1') n++;
  return n;
}
