import { setImmediate as nextTurn, setTimeout as delay } from 'node:timers/promises';
import { featureCodes } from '../features';
import type { Background } from '../explain/background';
import { explainRow, type Explanation } from '../explain/explain';
import type { RowFlag, ReadRow } from './rows';
import type { Output, ServedVersion } from './version';

export interface Explained {
  outputs: Output[];
  flags: RowFlag[][];
  explanations: Explanation[];
  background: Pick<Background, 'dataset' | 'rows' | 'seed'>;
}

/**
 * Explanations by one loaded version, apart from its predictions: the background is drawn once, from the dataset
 * the version was trained on; requests are taken one at a time, a row at a time, and each row waits for a moment
 * when no prediction is in progress (`PredictionTraffic`). Under load, explanations get what predictions leave;
 * a row waits at most `MAX_YIELD_MS` for that, so they are never starved outright either.
 */
/** The longest an explained row waits for its turn: however busy predictions keep the process, never starved. */
export const MAX_YIELD_MS = 1000;

/**
 * The share of the process's time explanations may take while predictions are being served (one was in the last
 * second): a row of the flights model costs about 2 ms, so about 25 rows a second then. With no predictions,
 * explanations take what they need.
 */
export const EXPLAIN_SHARE = 0.05;
const WINDOW_MS = 1000;

/** Predictions in progress in this process, and the turns explanations take around them. */
export class PredictionTraffic {
  private active = 0;
  private lastEnded = 0;
  private waiters: (() => void)[] = [];
  /** explanation rows run in the last second: when they ended and how long they took */
  private spent: { at: number; ms: number }[] = [];

  begin(): void {
    this.active++;
  }

  end(): void {
    this.lastEnded = Date.now();
    if (--this.active > 0) return;
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }

  /**
   * Run one explanation row at a moment with no prediction in progress, within the share explanations may take
   * while predictions are served — or after `maxWaitMs`, whatever the traffic. The moment is taken a turn of the
   * event loop after the last prediction ended, so its answer is on its way first.
   */
  async turn<T>(maxWaitMs: number, work: () => T): Promise<T> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      await nextTurn();
      const now = Date.now();
      const left = deadline - now;
      if (left <= 0) break;
      if (this.active > 0) {
        await this.wake(left);
        continue;
      }
      const over = this.overBudget(now);
      if (over <= 0) break;
      await delay(Math.min(over, left));
    }
    const started = performance.now();
    try {
      return work();
    } finally {
      this.spent.push({ at: Date.now(), ms: performance.now() - started });
    }
  }

  /** How long until explanations are within their share again (0: now). */
  private overBudget(now: number): number {
    while (this.spent.length && this.spent[0].at <= now - WINDOW_MS) this.spent.shift();
    if (now - this.lastEnded > WINDOW_MS) return 0; // no prediction lately: no share to keep
    const budget = EXPLAIN_SHARE * WINDOW_MS;
    let used = this.spent.reduce((sum, s) => sum + s.ms, 0);
    if (used <= budget) return 0;
    for (const s of this.spent) {
      used -= s.ms;
      if (used <= budget) return s.at + WINDOW_MS - now; // when this row leaves the window
    }
    return 0;
  }

  private wake(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export class VersionExplainer {
  private background?: Promise<Background>;
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly served: ServedVersion,
    private readonly loadBackground: () => Promise<Background>,
    private readonly traffic: PredictionTraffic,
  ) {}

  explain(rows: ReadRow[]): Promise<Explained> {
    const run = this.last.then(() => this.run(rows));
    this.last = run.catch(() => undefined);
    return run;
  }

  private async run(rows: ReadRow[]): Promise<Explained> {
    // a failure to draw the background is tried again by the next request, not remembered
    const background = await (this.background ??= this.loadBackground().catch((err: unknown) => {
      this.background = undefined;
      throw err;
    }));
    const served = this.served;
    served.enter();
    try {
      const pre = served.preprocessor;
      const { table, flags } = served.rows.layout(rows);
      const index = Uint32Array.from({ length: table.rows }, (_, i) => i);
      const codes = featureCodes(pre, table, index);
      const outputs = served.predict(table);
      const forward = (x: Float32Array, n: number) => served.forwardEncoded(x, n);
      const explanations: Explanation[] = [];
      for (let r = 0; r < table.rows; r++) {
        const row = Float64Array.from(codes, (c) => c[r]);
        explanations.push(
          await this.traffic.turn(MAX_YIELD_MS, () => explainRow(pre, forward, background, row, served.record.seed)),
        );
      }
      const { dataset, rows: drawn, seed } = background;
      return { outputs, flags, explanations, background: { dataset, rows: drawn, seed } };
    } finally {
      served.leave();
    }
  }
}
