/**
 * Dynamic micro-batching (TF Serving's batching, Triton's dynamic batcher): requests that arrive while the model
 * is busy, or within `maxWaitMs` of each other, are joined into one call of up to `maxBatch` rows, and each request
 * gets its own slice of the answer back.
 */
export interface BatcherOptions {
  /** most rows in one call (a single larger request runs alone) */
  maxBatch: number;
  /** how long the first waiting request may wait for company (0: only what queued while the model was busy) */
  maxWaitMs: number;
}

export interface BatchStats {
  rows: number;
  requests: number;
  /** how long each request waited before its batch ran (ms) */
  waits: number[];
}

/** When a request's batch ran, for its trace (performance.now() times), filled in by the batcher. */
export interface BatchTiming {
  ran?: number;
  done?: number;
  /** rows in the whole batch */
  rows?: number;
}

interface Waiting<I, O> {
  items: I[];
  enqueuedAt: number;
  timing?: BatchTiming;
  resolve: (out: O[]) => void;
  reject: (err: unknown) => void;
}

export class MicroBatcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]> | O[],
    private readonly options: BatcherOptions,
    private readonly onBatch: (stats: BatchStats) => void = () => undefined,
  ) {}

  submit(items: I[], timing?: BatchTiming): Promise<O[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ items, enqueuedAt: performance.now(), resolve, reject, timing });
      this.queuedRows += items.length;
      this.schedule();
    });
  }

  /** Requests waiting for a batch. */
  get pending(): number {
    return this.queue.length;
  }

  private cancelTimer(): void {
    if (!this.timer) return;
    if (this.options.maxWaitMs > 0) clearTimeout(this.timer);
    else clearImmediate(this.timer as unknown as NodeJS.Immediate);
    this.timer = null;
  }

  private schedule(): void {
    if (this.running) return; // the batch in flight takes the next ones when it ends
    if (this.queuedRows >= this.options.maxBatch) {
      this.cancelTimer();
      setImmediate(() => void this.flush());
    } else if (!this.timer) {
      const go = (): void => {
        this.timer = null;
        void this.flush();
      };
      // no wait: still every request parsed in this turn of the event loop (a timer would wait ≥ 1 ms)
      this.timer =
        this.options.maxWaitMs > 0
          ? setTimeout(go, this.options.maxWaitMs)
          : (setImmediate(go) as unknown as NodeJS.Timeout);
    }
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch: Waiting<I, O>[] = [];
    let rows = 0;
    while (this.queue.length && (batch.length === 0 || rows + this.queue[0].items.length <= this.options.maxBatch)) {
      const next = this.queue.shift()!;
      batch.push(next);
      rows += next.items.length;
    }
    this.queuedRows -= rows;
    const started = performance.now();
    try {
      const out = await this.run(batch.flatMap((w) => w.items));
      const done = performance.now();
      let offset = 0;
      for (const w of batch) {
        if (w.timing) Object.assign(w.timing, { ran: started, done, rows });
        w.resolve(out.slice(offset, offset + w.items.length));
        offset += w.items.length;
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.onBatch({ rows, requests: batch.length, waits: batch.map((w) => started - w.enqueuedAt) });
      this.running = false;
      if (this.queue.length) {
        // what queued while this batch ran goes now, without waiting again
        setImmediate(() => void this.flush());
      }
    }
  }
}
