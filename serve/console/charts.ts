/**
 * Charts for the console, drawn on the server as SVG: no script, no library, nothing fetched by the browser. Each
 * chart says how many points it drew (`data-points`), so a test — or a person reading the source — can tell an
 * empty chart from one with data.
 */

import { esc } from '../../lib/html';

export { esc };

export interface Point {
  /** ms since the epoch */
  t: number;
  y: number | null;
  /** an interval around y (drawn as a band) */
  low?: number | null;
  high?: number | null;
}

export interface Series {
  name: string;
  color: string;
  points: Point[];
}

/** A limit drawn as a dashed line: constant, or a step line over time (a limit that changed with the champion). */
export interface Threshold {
  label: string;
  color: string;
  y: number | Point[];
}

const W = 560;
const H = 190;
const LEFT = 62;
const RIGHT = 120;
const TOP = 14;
const BOTTOM = 30;

const finite = (v: number | null | undefined): v is number => v !== null && v !== undefined && Number.isFinite(v);

function timeLabel(t: number, span: number): string {
  const iso = new Date(t).toISOString();
  return span > 2 * 86_400_000 ? iso.slice(0, 10) : iso.slice(5, 16).replace('T', ' ');
}

/** A line chart over time with optional interval bands and limits. */
export function timeChart(
  title: string,
  series: Series[],
  thresholds: Threshold[],
  format: (v: number) => string,
): string {
  const points = series.flatMap((s) => s.points.filter((p) => finite(p.y)));
  if (points.length === 0) {
    return `<figure class="chart" data-points="0"><figcaption>${esc(title)}</figcaption><p class="muted">nothing measured yet</p></figure>`;
  }
  const limits = thresholds.flatMap((th) => (typeof th.y === 'number' ? [th.y] : th.y.map((p) => p.y).filter(finite)));
  const ts = points.map((p) => p.t);
  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts);
  const highs = series.flatMap((s) => s.points.map((p) => (finite(p.high) ? p.high : p.y)).filter(finite));
  const lows = series.flatMap((s) => s.points.map((p) => (finite(p.low) ? p.low : p.y)).filter(finite));
  const y1 = Math.max(...highs, ...limits) * 1.08 || 1;
  const y0 = Math.min(0, ...lows);
  const x = (t: number): number =>
    LEFT + (t1 === t0 ? (W - LEFT - RIGHT) / 2 : ((t - t0) / (t1 - t0)) * (W - LEFT - RIGHT));
  const y = (v: number): number => TOP + (1 - (v - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
  const xy = (p: { t: number; y: number }): string => `${x(p.t).toFixed(1)},${y(p.y).toFixed(1)}`;
  const parts: string[] = [];
  // axes and labels
  parts.push(
    `<line x1="${LEFT}" y1="${H - BOTTOM}" x2="${W - RIGHT}" y2="${H - BOTTOM}" stroke="#999"/>`,
    `<line x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${H - BOTTOM}" stroke="#999"/>`,
    `<text x="${LEFT - 4}" y="${y(y1 / 1.08) + 4}" text-anchor="end">${esc(format(y1 / 1.08))}</text>`,
    `<text x="${LEFT - 4}" y="${y(y0) + 4}" text-anchor="end">${esc(format(y0))}</text>`,
    `<text x="${LEFT}" y="${H - 8}">${esc(timeLabel(t0, t1 - t0))}</text>`,
    `<text x="${W - RIGHT}" y="${H - 8}" text-anchor="end">${esc(timeLabel(t1, t1 - t0))}</text>`,
  );
  for (const th of thresholds) {
    const steps =
      typeof th.y === 'number'
        ? [
            { t: t0, y: th.y },
            { t: t1, y: th.y },
          ]
        : th.y.filter((p) => finite(p.y));
    if (steps.length === 0) continue;
    const path = steps
      .map((p, i) => {
        const here = `${x(p.t).toFixed(1)},${y(p.y as number).toFixed(1)}`;
        const before = i > 0 ? `${x(p.t).toFixed(1)},${y(steps[i - 1].y as number).toFixed(1)} ` : '';
        return before + here;
      })
      .join(' ');
    const last = steps[steps.length - 1];
    parts.push(
      `<polyline class="limit" fill="none" stroke="${th.color}" stroke-dasharray="5 4" points="${path}"/>`,
      `<text x="${W - RIGHT + 6}" y="${y(last.y as number) + 4}" style="fill:${th.color}">${esc(`${th.label} ${format(last.y as number)}`)}</text>`,
    );
  }
  series.forEach((s) => {
    const drawn = s.points.filter((p): p is Point & { y: number } => finite(p.y));
    const banded = drawn.filter((p) => finite(p.low) && finite(p.high));
    if (banded.length > 1) {
      const upper = banded.map((p) => `${x(p.t).toFixed(1)},${y(p.high!).toFixed(1)}`);
      const lower = banded.map((p) => `${x(p.t).toFixed(1)},${y(p.low!).toFixed(1)}`).reverse();
      parts.push(
        `<polygon fill="${s.color}" fill-opacity="0.15" stroke="none" points="${[...upper, ...lower].join(' ')}"/>`,
      );
    }
    if (drawn.length > 1) {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${drawn.map(xy).join(' ')}"/>`);
    }
    for (const p of drawn) {
      const interval = finite(p.low) && finite(p.high) ? ` (95% ${format(p.low)}–${format(p.high)})` : '';
      parts.push(
        `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="2.5" fill="${s.color}"><title>${esc(`${s.name} ${new Date(p.t).toISOString()}: ${format(p.y)}${interval}`)}</title></circle>`,
      );
    }
  });
  const legend = series
    .filter((s) => s.points.some((p) => finite(p.y)))
    .map((s) => `<span class="key" style="color:${s.color}">■ ${esc(s.name)}</span>`)
    .join(' ');
  return `<figure class="chart" data-points="${points.length}"><figcaption>${esc(title)} ${legend}</figcaption>
<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg></figure>`;
}

export interface Stint {
  version: number;
  from: number;
  /** null: still serving */
  to: number | null;
  why: string;
}

const PALETTE = ['#2c7fb8', '#e6550d', '#31a354', '#756bb1', '#de2d26', '#636363', '#fdae6b', '#9ecae1'];

/** Which version served when: one band per stint as champion, coloured by version. */
export function championTimeline(stints: Stint[], now: number): string {
  if (stints.length === 0) {
    return `<figure class="chart" data-points="0"><figcaption>champion over time</figcaption><p class="muted">no champion yet</p></figure>`;
  }
  const t0 = stints[0].from;
  const t1 = Math.max(now, ...stints.map((s) => s.to ?? now));
  const x = (t: number): number => LEFT + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (W - LEFT - RIGHT));
  const bars = stints
    .map((s) => {
      const a = x(s.from);
      const b = Math.max(a + 2, x(s.to ?? now));
      const colour = PALETTE[(s.version - 1) % PALETTE.length];
      return `<rect x="${a.toFixed(1)}" y="${TOP}" width="${(b - a).toFixed(1)}" height="34" fill="${colour}"><title>${esc(`v${s.version} from ${new Date(s.from).toISOString()}${s.to ? ` to ${new Date(s.to).toISOString()}` : ' (serving)'}: ${s.why}`)}</title></rect>${b - a > 24 ? `<text x="${(a + 4).toFixed(1)}" y="${TOP + 22}" style="fill:#fff">v${s.version}</text>` : ''}`;
    })
    .join('');
  const h = TOP + 34 + 30;
  return `<figure class="chart" data-points="${stints.length}"><figcaption>champion over time</figcaption>
<svg viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="champion over time">${bars}
<text x="${LEFT}" y="${h - 8}">${esc(timeLabel(t0, t1 - t0))}</text><text x="${W - RIGHT}" y="${h - 8}" text-anchor="end">${esc(timeLabel(t1, t1 - t0))}</text></svg></figure>`;
}
