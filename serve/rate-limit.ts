/**
 * A token bucket per client address: `perSecond` requests a second on average, bursts up to `burst`. Buckets of
 * clients that went quiet are forgotten, so the table stays bounded.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = Date.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  take(client: string, now = Date.now()): boolean {
    if (now - this.lastSweep > 60_000) this.sweep(now);
    const b = this.buckets.get(client) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    this.buckets.set(client, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [client, b] of this.buckets) if (now - b.at > 60_000) this.buckets.delete(client);
  }
}
