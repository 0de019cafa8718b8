import { color, interactive } from '../../client/output';
import type { Registry } from '../../lib/registry/types';
import type { TrafficCounts } from './traffic';

interface Event {
  at: number;
  month: string;
  serving: number | null;
  what: string;
  link?: string;
}

/**
 * What the audience sees: each event as it happens (when, which month, which version served), a progress line
 * kept up to date under them, and at the end the timeline, the hot swaps, the error curve and where to look.
 */
export class Journal {
  readonly started = Date.now();
  month = '—';
  step = 'starting';
  /** a person is being asked at the terminal: the progress line stays out of the way */
  quiet = false;
  private readonly events: Event[] = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly counts: TrafficCounts) {}

  say(line: string): void {
    if (interactive) process.stdout.write('\r\x1b[2K');
    console.log(line);
  }

  event(what: string, link?: string): void {
    const e: Event = { at: Date.now(), month: this.month, serving: this.counts.lastServed, what, link };
    this.events.push(e);
    this.say(`${color.dim(clock(e.at - this.started))} ${color.bold(this.month.padEnd(8))} ${what}`);
  }

  showProgress(): void {
    this.timer = setInterval(() => {
      if (!interactive || this.quiet) return;
      const s = this.counts;
      const line = `${clock(Date.now() - this.started)} ${this.month}  served ${s.served.toLocaleString('en-US')} · labelled ${s.labelled.toLocaleString('en-US')}${s.failed ? color.red(` · ${s.failed} failed`) : ''} · serving v${s.lastServed ?? '–'}  ${color.dim(this.step)}`;
      process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns ?? 120) + 20)}`);
    }, 500);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (interactive) process.stdout.write('\r\x1b[2K');
  }

  /** What happened, when, which version served; the error on feedback check by check; where to look. */
  async report(registry: Registry, model: string, whereToLook: string[]): Promise<void> {
    this.say(color.bold('\nTimeline'));
    for (const e of this.events) {
      this.say(
        `  ${clock(e.at - this.started)}  ${e.month.padEnd(7)}  serving ${e.serving === null ? '– ' : `v${e.serving}`}  ${e.what}`,
      );
    }
    const c = this.counts;
    this.say(color.bold('\nHot swaps seen by the traffic'));
    for (const s of c.swaps) this.say(`  ${clock(s.at - this.started)}  v${s.from ?? '–'} → v${s.to}`);
    this.say(
      `  ${c.served.toLocaleString('en-US')} predictions served (${[...c.byVersion].map(([v, n]) => `v${v} ${n.toLocaleString('en-US')}`).join(', ')}), ${c.labelled.toLocaleString('en-US')} labelled, ${c.failed} failed requests`,
    );
    // from the registry: every health check's error on feedback, and the champion it judged
    const points = (await registry.listMonitorReports(model, { limit: 500 }))
      .map((r) => ({ s: r.summary, champion: r.champion }))
      .filter((p) => typeof p.s.championError === 'number');
    if (points.length > 0) {
      const values = points.map((p) => p.s.championError as number);
      const max = Math.max(...values);
      const bars = '▁▂▃▄▅▆▇█';
      this.say(color.bold('\nError rate on feedback, check by check (the champion then below)'));
      this.say(
        `  ${values.map((v) => bars[Math.min(7, Math.floor((v / max) * 7.999))]).join('')}  max ${(100 * max).toFixed(1)}%`,
      );
      this.say(`  ${points.map((p) => String(p.champion ?? '-').slice(-1)).join('')}`);
    }
    this.say(color.bold('\nWhere to look'));
    for (const line of whereToLook) this.say(`  ${line}`);
  }
}

/** A metric line for a version: its AUC and accuracy, as far as it has them. */
export function metric(m: Record<string, number> | null | undefined): string {
  if (!m) return 'no metrics';
  return ['auc', 'accuracy']
    .filter((k) => k in m)
    .map((k) => `${k} ${m[k].toFixed(3)}`)
    .join(', ');
}

function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}
