import { createHash } from 'node:crypto';
import type { Message } from '@platformatic/kafka';
import type { CheckedEvent, EventProblem, EventRows } from './events';

/**
 * Which events make one window, decided as they are read. A window is a range of offsets per partition:
 *
 *   rows   — the next N accepted rows, whichever partitions they come from;
 *   time   — the hour or day (UTC) of the first accepted event: on each partition, the window ends at its first event
 *            of a later hour or day. An earlier (late) event met before that end is kept, and the batch's lineage
 *            gives its true event-time span.
 *
 * A window also closes when no event has come for a while and it holds at least one row (the stream paused: what
 * came is not held back). Events read past a window's end on a partition are not part of it: the next window reads
 * them again from the offsets this one hands on.
 *
 * Within a window, an offset met twice (a fetch repeated after a reconnect) counts once, and an event with the same
 * key and the same bytes as one already taken (a producer's retry) is a duplicate, counted and not a second row.
 */
export type WindowRule = { by: 'rows'; rows: number } | { by: 'time'; every: 'hour' | 'day' };

export interface OffsetRange {
  partition: number;
  /** first offset of the window on this partition */
  from: string;
  /** the offset after its last (exclusive) */
  to: string;
}

export interface DeadLetter {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  problems: EventProblem[];
}

export type Row = Record<string, string | number | boolean | null>;

export interface WindowCounts {
  /** events of the window (each offset once) */
  events: number;
  accepted: number;
  refused: number;
  /** same key and bytes as an event already taken */
  duplicates: number;
  /** offsets delivered again by the client within this read */
  redelivered: number;
  /** refused events per problem code */
  refusedBy: Record<string, number>;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

interface Taken {
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  checked: CheckedEvent;
}

/** What a finished window holds. */
export interface WindowContent {
  rows: Row[];
  ranges: OffsetRange[];
  deadLetters: DeadLetter[];
  counts: WindowCounts;
  /** the time window (time rule) */
  window: { start: number; end: number } | null;
  /** event time of the first and last accepted row */
  span: { first: number; last: number } | null;
  /** where the next window starts on each partition */
  next: Map<number, bigint>;
}

/** Most events one window holds (refused ones included) before it closes by size: its memory is bounded. */
export const MAX_WINDOW_EVENTS = 1_000_000;

export class WindowPlanner {
  private readonly last = new Map<number, bigint>();
  private readonly taken = new Map<number, Taken[]>();
  private events = 0;
  /** rows rule: accepted events so far (a key and bytes met again not counted) */
  private accepted = 0;
  private readonly seen = new Set<string>();
  private redelivered = 0;
  /** time rule: each partition's first accepted event time (in offset order), and its latest */
  private readonly first = new Map<number, number>();
  private readonly latest = new Map<number, number>();

  constructor(
    private readonly rule: WindowRule,
    private readonly checker: EventRows,
    /** where this window starts on each partition */
    private readonly start: Map<number, bigint>,
    /**
     * each partition's end offset when the window began: a partition with events before it must be read (up to a
     * later hour or day, or to that end) before a time window may close, however the fetches interleave
     */
    private readonly ends: Map<number, bigint> = new Map(),
    private readonly maxEvents = MAX_WINDOW_EVENTS,
  ) {}

  /** Take one message as it arrives. */
  take(
    m: Pick<Message<Buffer, Buffer, Buffer, Buffer>, 'partition' | 'offset' | 'key' | 'value'> & { timestamp?: bigint },
  ): void {
    const p = m.partition;
    const before = this.last.get(p);
    if (m.offset < (this.start.get(p) ?? 0n) || (before !== undefined && m.offset <= before)) {
      this.redelivered++;
      return;
    }
    this.last.set(p, m.offset);
    // a full window takes nothing more: what comes after is the next window's
    if (this.full) return;
    const checked = this.checker.check(m.value, Number(m.timestamp ?? BigInt(Date.now())));
    const list = this.taken.get(p) ?? [];
    list.push({ offset: m.offset, key: m.key?.length ? m.key : null, value: m.value ?? null, checked });
    this.taken.set(p, list);
    this.events++;
    if (!checked.ok) return;
    if (this.rule.by === 'rows') {
      if (!this.duplicate(this.seen, list.at(-1)!)) this.accepted++;
    } else if (checked.timeMs !== null) {
      if (!this.first.has(p)) this.first.set(p, checked.timeMs);
      this.latest.set(p, Math.max(this.latest.get(p) ?? -Infinity, checked.timeMs));
    }
  }

  /** Whether the window holds as much as it may: its rows, or the events one window may hold. */
  get full(): boolean {
    return this.events >= this.maxEvents || (this.rule.by === 'rows' && this.accepted >= this.rule.rows);
  }

  /** Closed by size rather than by its rule. */
  get capped(): boolean {
    return this.events >= this.maxEvents && !(this.rule.by === 'rows' && this.accepted >= this.rule.rows);
  }

  /**
   * The time window: the hour or day of the earliest of the partitions' first accepted events. A late event further
   * on in a partition never moves it, so the partition that set it always has an event inside it.
   */
  private timeWindow(): { start: number; end: number } | null {
    if (this.rule.by !== 'time' || this.first.size === 0) return null;
    const size = this.rule.every === 'hour' ? HOUR : DAY;
    const start = Math.floor(Math.min(...this.first.values()) / size) * size;
    return { start, end: start + size };
  }

  /** Whether the window is complete by its rule, or full (a paused stream closes it by time instead). */
  get complete(): boolean {
    if (this.full) return true;
    if (this.rule.by === 'rows') return false;
    const window = this.timeWindow();
    if (!window) return false;
    const passed = (p: number): boolean => (this.latest.get(p) ?? -Infinity) >= window.end;
    const caughtUp = (p: number): boolean => {
      const end = this.ends.get(p);
      const last = this.last.get(p);
      return end !== undefined && last !== undefined && last + 1n >= end;
    };
    // every partition that had events waiting when the window began has been read past it, or to its end then
    for (const [p, end] of this.ends) {
      if ((this.start.get(p) ?? 0n) >= end) continue;
      if (!this.last.has(p) || !(passed(p) || caughtUp(p))) return false;
    }
    // and every other partition that delivered events has too
    return [...this.taken.keys()].every((p) => this.ends.has(p) || passed(p));
  }

  get empty(): boolean {
    return this.taken.size === 0;
  }

  /** Events read so far (for progress). */
  get read(): number {
    return this.events;
  }

  private duplicate(seen: Set<string>, t: Taken): boolean {
    if (!t.key) return false;
    const identity = `${t.key.toString('base64')}:${createHash('sha256')
      .update(t.value ?? Buffer.alloc(0))
      .digest('base64')}`;
    if (seen.has(identity)) return true;
    seen.add(identity);
    return false;
  }

  /**
   * The window's content, in a fixed order (by partition, then offset): what it holds depends on the events and
   * the rule, not on the order partitions were fetched in.
   */
  finish(): WindowContent {
    const window = this.timeWindow();
    const counts: WindowCounts = {
      events: 0,
      accepted: 0,
      refused: 0,
      duplicates: 0,
      redelivered: this.redelivered,
      refusedBy: {},
    };
    const rows: Row[] = [];
    const ranges: OffsetRange[] = [];
    const deadLetters: DeadLetter[] = [];
    const next = new Map(this.start);
    const seen = new Set<string>();
    let span: { first: number; last: number } | null = null;
    for (const p of [...this.taken.keys()].sort((a, b) => a - b)) {
      const list = this.taken.get(p)!;
      // a time window ends on each partition at its first event of a later hour or day
      const cut = window
        ? list.findIndex((t) => t.checked.ok && t.checked.timeMs !== null && t.checked.timeMs >= window.end)
        : -1;
      const held = cut === -1 ? list : list.slice(0, cut);
      if (held.length === 0) continue;
      ranges.push({ partition: p, from: String(held[0].offset), to: String(held.at(-1)!.offset + 1n) });
      next.set(p, held.at(-1)!.offset + 1n);
      for (const t of held) {
        counts.events++;
        if (!t.checked.ok) {
          counts.refused++;
          for (const code of new Set(t.checked.problems.map((x) => x.code))) {
            counts.refusedBy[code] = (counts.refusedBy[code] ?? 0) + 1;
          }
          deadLetters.push({
            partition: p,
            offset: String(t.offset),
            key: t.key,
            value: t.value,
            problems: t.checked.problems,
          });
          continue;
        }
        if (this.duplicate(seen, t)) {
          counts.duplicates++;
          continue;
        }
        counts.accepted++;
        rows.push(t.checked.row);
        const ms = t.checked.timeMs;
        if (ms !== null)
          span = span ? { first: Math.min(span.first, ms), last: Math.max(span.last, ms) } : { first: ms, last: ms };
      }
    }
    return { rows, ranges, deadLetters, counts, window, span, next };
  }
}
