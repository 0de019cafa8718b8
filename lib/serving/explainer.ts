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
    // the next row is expected to cost what the last one did: it starts only if that fits in the share
    const budget = EXPLAIN_SHARE * WINDOW_MS - (this.spent.at(-1)?.ms ?? 0);
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
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      // a wait that times out leaves the list, so a process always busy with predictions keeps none
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve();
      }, ms);
      this.waiters.push(wake);
    });
  }
}

/** How long a background that could not be drawn is not tried again. */
const BACKGROUND_RETRY_MS = 30_000;

/** Rows that may wait to be explained by one version; beyond, a request is refused (503) rather than queued. */
export const MAX_WAITING_ROWS = 200;

/** An explanation that cannot be given here now: its background cannot be drawn, or too many wait. */
export class ExplainUnavailable extends Error {}

/** The client that asked went away: its rows not yet explained are dropped, not computed for nobody. */
export class ExplainAbandoned extends Error {}

export class VersionExplainer {
  private background?: Promise<Background>;
  private last: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly served: ServedVersion,
    private readonly loadBackground: () => Promise<Background>,
    private readonly traffic: PredictionTraffic,
  ) {}

  /** Rows waiting to be explained, or being explained, now. */
  get waitingRows(): number {
    return this.waiting;
  }

  /**
   * Explain rows once the requests before have been, a row at a time. When `abandoned` aborts (the client went
   * away), the rows still waiting stop counting against MAX_WAITING_ROWS at once and are never computed.
   */
  explain(rows: ReadRow[], abandoned?: AbortSignal): Promise<Explained> {
    if (abandoned?.aborted) {
      return Promise.reject(new ExplainAbandoned('the client went away before its rows were explained'));
    }
    if (this.waiting + rows.length > MAX_WAITING_ROWS) {
      return Promise.reject(
        new ExplainUnavailable(`${this.waiting} rows already wait to be explained here; try again shortly`),
      );
    }
    this.waiting += rows.length;
    let counted = true;
    const release = () => {
      if (counted) this.waiting -= rows.length;
      counted = false;
    };
    abandoned?.addEventListener('abort', release, { once: true });
    const run = this.last
      .then(() => this.run(rows, abandoned))
      .finally(() => {
        abandoned?.removeEventListener('abort', release);
        release();
      });
    this.last = run.catch(() => undefined);
    return run;
  }

  private async run(rows: ReadRow[], abandoned?: AbortSignal): Promise<Explained> {
    const gone = () => {
      if (abandoned?.aborted) throw new ExplainAbandoned('the client went away before its rows were explained');
    };
    gone();
    const background = await (this.background ??= this.loadBackground().catch((err: unknown) => {
      // remembered for a while (a missing dataset is not read again on every request), then tried again
      setTimeout(() => (this.background = undefined), BACKGROUND_RETRY_MS).unref();
      // the reason may name files: it goes to the server's log, not to the client
      const { model, version } = this.served;
      console.error(`[lumen] explain ${model} v${version}: no background: ${(err as Error).message}`);
      throw new ExplainUnavailable(
        `the rows v${version} was trained on cannot be read here to explain against (the server's log says why)`,
      );
    }));
    gone(); // the background may have taken a while to draw
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
          await this.traffic.turn(MAX_YIELD_MS, () => {
            gone();
            return explainRow(pre, forward, background, row, served.record.seed);
          }),
        );
      }
      const { dataset, rows: drawn, seed } = background;
      return { outputs, flags, explanations, background: { dataset, rows: drawn, seed } };
    } finally {
      served.leave();
    }
  }
}
