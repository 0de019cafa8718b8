import path from 'node:path';
import { sqlString, withDuckDB } from '../../lib/data/duckdb';
import { monthWindow } from '../../lib/data/source';

/** how long after a prediction its true label comes back */
export const LABEL_DELAY_MS = 4000;
/** traffic: one request of ROWS rows every TICK_MS */
export const TICK_MS = 50;
export const ROWS = 8;

export interface Flight {
  date: string;
  distance: number;
  origin: string;
  destination: string;
  delay: number;
}

/** What the traffic saw: predictions served per version, labels sent back, failed requests, hot swaps. */
export interface TrafficCounts {
  served: number;
  labelled: number;
  failed: number;
  byVersion: Map<number, number>;
  swaps: { at: number; from: number | null; to: number }[];
  /** the version that answered the last request */
  lastServed: number | null;
}

/** The 2001 flights file in the vega-datasets package, as a DuckDB table expression. */
export function flightsScan(): string {
  const file = path.join(
    path.resolve(path.dirname(require.resolve('vega-datasets')), '..'),
    'data',
    'flights-3m.parquet',
  );
  return `read_parquet(${sqlString(file)})`;
}

/**
 * Real flights as prediction requests to the serving instance, and their true delays sent back as feedback a few
 * seconds later, the way labels arrive in production: late, and keyed by the prediction id.
 */
export class Traffic {
  readonly counts: TrafficCounts = {
    served: 0,
    labelled: 0,
    failed: 0,
    byVersion: new Map(),
    swaps: [],
    lastServed: null,
  };
  protected pool: Flight[] = [];
  protected next = 0;
  private readonly labels: { id: string; delay: number; due: number }[] = [];
  protected timer?: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly model: string,
    private readonly token: string,
    protected readonly rand: () => number,
  ) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** The month's flights: a seeded sample of the whole month's mix (evening flights only, when asked). */
  async load(month: string, evening = false): Promise<void> {
    const { start, end } = monthWindow('date', month);
    const rows = await withDuckDB(async (con) =>
      (
        await con.runAndReadAll(
          `SELECT strftime(date, '%Y-%m-%d %H:%M:%S') AS date, distance, origin, destination, delay FROM ${flightsScan()}
            WHERE date >= '${start}' AND date < '${end}' ${evening ? 'AND hour(date) >= 17' : ''}
            ORDER BY hash(date, origin, destination, distance, ${Math.floor(this.rand() * 1e9)}) LIMIT 40000`,
        )
      ).getRowObjectsJS(),
    );
    this.pool = rows.map((r) => ({
      date: r.date as string,
      distance: Number(r.distance),
      origin: r.origin as string,
      destination: r.destination as string,
      delay: Number(r.delay),
    }));
    this.next = 0;
  }

  /** Begin sending traffic (and answers to it). */
  start(): void {
    let sending = 0;
    this.timer = setInterval(() => {
      if (sending > 4) return; // the server is behind: do not pile requests up
      sending++;
      void this.tick().finally(() => sending--);
    }, TICK_MS);
  }

  /** Stop sending traffic. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    // each flight of the month once, in the seeded order of the pool
    const batch = Array.from({ length: ROWS }, () => this.pool[this.next++ % this.pool.length]);
    const counts = this.counts;
    try {
      const res = await fetch(`${this.url}/v1/models/${this.model}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch.map(({ delay: _label, ...input }) => input)),
      });
      if (res.status !== 200) {
        counts.failed++;
        return;
      }
      const answer = (await res.json()) as { version: number; predictions: { id: string }[] };
      counts.served += answer.predictions.length;
      counts.byVersion.set(answer.version, (counts.byVersion.get(answer.version) ?? 0) + answer.predictions.length);
      if (counts.lastServed !== answer.version) {
        counts.swaps.push({ at: Date.now(), from: counts.lastServed, to: answer.version });
        counts.lastServed = answer.version;
      }
      const due = Date.now() + LABEL_DELAY_MS;
      answer.predictions.forEach((p, i) => this.labels.push({ id: p.id, delay: batch[i].delay, due }));
      if (this.labels.length && this.labels[0].due <= Date.now()) await this.sendLabels();
    } catch {
      counts.failed++;
    }
  }

  private async sendLabels(): Promise<void> {
    const now = Date.now();
    let n = 0;
    while (n < this.labels.length && this.labels[n].due <= now) n++;
    const due = this.labels.splice(0, n);
    if (due.length === 0) return;
    const res = await fetch(`${this.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify(due.map((l) => ({ predictionId: l.id, label: l.delay }))),
    });
    if (res.status === 200) this.counts.labelled += due.length;
  }
}
