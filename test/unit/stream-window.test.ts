import assert from 'node:assert/strict';
import path from 'node:path';
import { loadModelSpec } from '../../lib/spec';
import { sendAll } from '../../lib/stream/clients';
import { EventRows } from '../../lib/stream/events';
import { WindowPlanner, type WindowRule } from '../../lib/stream/window';
import { repoRoot } from '../support/env';

/**
 * Events checked one at a time against the row contract, and windows decided from them: which events a window
 * holds depends on the events and the rule, never on the order partitions were fetched in.
 */
const spec = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
const NOW = Date.parse('2026-01-01T00:00:00Z');

function weather(day: number, hour = 0, extra: Record<string, unknown> = {}): Buffer {
  const date = new Date(Date.UTC(2014, 0, 1 + day, hour)).toISOString().slice(0, 19);
  return Buffer.from(
    JSON.stringify({ date, precipitation: 0.5, temp_max: 9, temp_min: 2, wind: 3.1, weather: 'rain', ...extra }),
  );
}

interface Event {
  partition: number;
  offset: bigint;
  key: Buffer;
  value: Buffer;
  timestamp?: bigint;
}

function plan(
  rule: WindowRule,
  events: Event[],
  start = new Map([
    [0, 0n],
    [1, 0n],
  ]),
  ends?: Map<number, bigint>,
) {
  const planner = new WindowPlanner(rule, new EventRows(spec), start, ends);
  for (const e of events) planner.take({ ...e, timestamp: e.timestamp ?? BigInt(NOW) });
  return { planner, content: planner.finish() };
}

describe('stream events and windows', () => {
  it('refuses an event per problem, naming the field and why, and types what it accepts', () => {
    const rows = new EventRows(spec, 400);
    const ok = rows.check(weather(3, 5), NOW);
    assert.ok(ok.ok);
    assert.deepEqual(ok.row, {
      date: '2014-01-04T05:00:00.000',
      precipitation: 0.5,
      temp_max: 9,
      temp_min: 2,
      wind: 3.1,
      weather: 'rain',
    });
    assert.equal(ok.timeMs, Date.UTC(2014, 0, 4, 5));
    const cases: [Buffer, string, string][] = [
      [Buffer.from('{"date": "2014-01-01"'), '(event)', 'malformed'],
      [Buffer.from('[1, 2]'), '(event)', 'type'],
      [Buffer.alloc(0), '(event)', 'empty'],
      [Buffer.from(JSON.stringify({ pad: 'x'.repeat(500) })), '(event)', 'oversized'],
      [weather(1, 0, { wind: undefined }), 'wind', 'missing'],
      [weather(1, 0, { temp_max: 'hot' }), 'temp_max', 'type'],
      [weather(1, 0, { date: '2030-01-01T00:00:00' }), 'date', 'future'],
    ];
    for (const [event, field, code] of cases) {
      const checked = rows.check(event, NOW);
      assert.equal(checked.ok, false, `${event.toString().slice(0, 60)} should be refused`);
      if (checked.ok) continue;
      assert.ok(
        checked.problems.some((p) => p.field === field && p.code === code && p.reason.length > 5),
        `${field}/${code} in ${JSON.stringify(checked.problems)}`,
      );
    }
    // a whole number is what an integer column holds
    const integer = new EventRows({
      ...spec,
      source: { ...spec.source, columns: [...spec.source.columns, { name: 'n', type: 'integer', required: true }] },
    });
    const half = integer.check(weather(1, 0, { n: 2.5 }), NOW);
    assert.ok(!half.ok && half.problems.some((p) => p.field === 'n' && /whole number/.test(p.reason)));
    const huge = integer.check(weather(1, 0, { n: 1e20 }), NOW);
    assert.ok(!huge.ok && huge.problems.some((p) => p.field === 'n' && /beyond the whole numbers/.test(p.reason)));
    // "not in the future" is judged against when the event was produced, not when it is read
    const live = weather(5, 10);
    assert.ok(rows.check(live, Date.UTC(2014, 0, 6, 10) - 60_000).ok, 'a minute ahead of its producer: clocks');
    const ahead = rows.check(live, Date.UTC(2014, 0, 6, 9));
    assert.ok(!ahead.ok && ahead.problems.some((p) => p.field === 'date' && p.code === 'future'));
  });

  it('a rows window takes the next n accepted rows; refused events and duplicates do not count as rows', () => {
    const events: Event[] = [];
    for (let i = 0; i < 12; i++) {
      const value = i === 3 ? Buffer.from('not json') : weather(i);
      events.push({ partition: 0, offset: BigInt(i), key: Buffer.from(`k${i}`), value });
    }
    // a producer's retry: the same key and bytes again, at a later offset
    events.splice(5, 0, { partition: 0, offset: 12n, key: Buffer.from('k1'), value: weather(1) });
    events.forEach((e, i) => (e.offset = BigInt(i)));
    const { content } = plan({ by: 'rows', rows: 8 }, events);
    assert.equal(content.counts.accepted, 8);
    assert.equal(content.counts.refused, 1);
    assert.equal(content.counts.duplicates, 1);
    assert.equal(content.deadLetters[0].offset, '3');
    assert.equal(content.rows.length, 8);
    // the window ends after its eighth row; the rest is the next window's
    assert.deepEqual(content.ranges, [{ partition: 0, from: '0', to: '10' }]);
    assert.equal(content.next.get(0), 10n);
    assert.equal(content.next.get(1), 0n);
  });

  it('an offset delivered twice counts once', () => {
    const events: Event[] = [0, 1, 2, 1, 2, 3].map((o) => ({
      partition: 1,
      offset: BigInt(o),
      key: Buffer.from(`k${o}`),
      value: weather(o),
    }));
    const { content } = plan({ by: 'rows', rows: 100 }, events);
    assert.equal(content.counts.accepted, 4);
    assert.equal(content.counts.redelivered, 2);
  });

  it('a day window is the day of the earliest event read, cut per partition, the same whatever the fetch order', () => {
    // partition 0 is days ahead of partition 1 (a backlog): the window is partition 1's first day
    const p0: Event[] = [5, 5, 6].map((d, i) => ({
      partition: 0,
      offset: BigInt(i),
      key: Buffer.from(`a${i}`),
      value: weather(d, i),
    }));
    const p1: Event[] = [
      [0, 1],
      [0, 7],
      [0, 3], // out of order within the day: still the day's
      [1, 0],
      [1, 5],
    ].map(([d, h], i) => ({ partition: 1, offset: BigInt(i), key: Buffer.from(`b${i}`), value: weather(d, h) }));
    const rule: WindowRule = { by: 'time', every: 'day' };
    const interleaved = [p0[0], p1[0], p0[1], p1[1], p0[2], p1[2], p1[3], p1[4]];
    const a = plan(rule, [...p0, ...p1]);
    const b = plan(rule, interleaved);
    assert.ok(a.planner.complete && b.planner.complete);
    assert.deepEqual(a.content.rows, b.content.rows);
    assert.deepEqual(a.content.ranges, [{ partition: 1, from: '0', to: '3' }]);
    assert.equal(a.content.rows.length, 3);
    assert.deepEqual(a.content.window, { start: Date.UTC(2014, 0, 1), end: Date.UTC(2014, 0, 2) });
    assert.deepEqual(a.content.span, { first: Date.UTC(2014, 0, 1, 1), last: Date.UTC(2014, 0, 1, 7) });
    // partition 0 starts again where it was: none of its events are in this window
    assert.equal(a.content.next.get(0), 0n);
    assert.equal(a.content.next.get(1), 3n);
  });

  it('a day window is not complete while a partition that delivered events has not passed the day', () => {
    const events: Event[] = [
      { partition: 0, offset: 0n, key: Buffer.from('a'), value: weather(0, 1) },
      { partition: 1, offset: 0n, key: Buffer.from('b'), value: weather(0, 2) },
      { partition: 0, offset: 1n, key: Buffer.from('c'), value: weather(1, 0) },
    ];
    const { planner } = plan({ by: 'time', every: 'day' }, events);
    assert.equal(planner.complete, false);
    planner.take({ partition: 1, offset: 1n, key: Buffer.from('d'), value: weather(2, 0) });
    assert.equal(planner.complete, true);
  });

  it('a late event further on in a partition does not move the window away from the events before it', () => {
    // 10:00:05, then one from 09:59:58: the hour is 10:00's, and the late event stays in it
    const events: Event[] = [
      { partition: 0, offset: 0n, key: Buffer.from('a'), value: weather(0, 10) },
      { partition: 0, offset: 1n, key: Buffer.from('b'), value: weather(0, 9) },
      { partition: 0, offset: 2n, key: Buffer.from('c'), value: weather(0, 11) },
    ];
    const { planner, content } = plan({ by: 'time', every: 'hour' }, events);
    assert.ok(planner.complete);
    assert.deepEqual(content.ranges, [{ partition: 0, from: '0', to: '2' }]);
    assert.equal(content.counts.accepted, 2);
    assert.deepEqual(content.window, { start: Date.UTC(2014, 0, 1, 10), end: Date.UTC(2014, 0, 1, 11) });
  });

  it('a time window waits for every partition with events waiting, whichever fetch comes first', () => {
    const ends = new Map([
      [0, 3n],
      [1, 2n],
    ]);
    const p0: Event[] = [1, 2, 3].map((d, i) => ({
      partition: 0,
      offset: BigInt(i),
      key: Buffer.from(`a${i}`),
      value: weather(d),
    }));
    const p1: Event[] = [0, 2].map((d, i) => ({
      partition: 1,
      offset: BigInt(i),
      key: Buffer.from(`b${i}`),
      value: weather(d),
    }));
    const early = plan({ by: 'time', every: 'day' }, p0, undefined, ends);
    // partition 0 alone has passed its first day, but partition 1 had events waiting: not yet
    assert.equal(early.planner.complete, false);
    const all = plan({ by: 'time', every: 'day' }, [...p0, ...p1], undefined, ends);
    assert.ok(all.planner.complete);
    // the day is partition 1's first; partition 0 starts after it, so nothing of it is in this window
    assert.deepEqual(all.content.ranges, [{ partition: 1, from: '0', to: '1' }]);
    // a quiet partition read to its end does not hold the window open
    const quiet = plan(
      { by: 'time', every: 'day' },
      [...p0, p1[0]],
      undefined,
      new Map([
        [0, 3n],
        [1, 1n],
      ]),
    );
    assert.ok(quiet.planner.complete);
  });

  it('a window closes by size at the most events one may hold, refused ones counted', () => {
    const planner = new WindowPlanner(
      { by: 'rows', rows: 1000 },
      new EventRows(spec),
      new Map([[0, 0n]]),
      new Map(),
      10,
    );
    for (let i = 0; i < 30; i++) {
      planner.take({
        partition: 0,
        offset: BigInt(i),
        key: Buffer.from(`k${i}`),
        value: Buffer.from('not json'),
        timestamp: BigInt(NOW),
      });
    }
    assert.ok(planner.complete && planner.capped);
    const content = planner.finish();
    assert.equal(content.counts.refused, 10);
    assert.equal(content.next.get(0), 10n);
  });

  it('answers go to the broker in slices a record batch can hold, in order', async () => {
    const sent: number[][] = [];
    const fake = {
      send: ({ messages }: { messages: { value: Buffer }[] }) => {
        sent.push(messages.map((m) => m.value.readUInt32BE(0)));
        assert.ok(messages.reduce((n, m) => n + m.value.length, 0) <= 512 * 1024);
        return Promise.resolve();
      },
    };
    const messages = Array.from({ length: 8192 }, (_, i) => {
      const value = Buffer.alloc(300);
      value.writeUInt32BE(i, 0);
      return { topic: 'answers', value };
    });
    await sendAll(fake as unknown as Parameters<typeof sendAll>[0], messages);
    assert.ok(sent.length >= 5, `${sent.length} requests`);
    assert.deepEqual(
      sent.flat(),
      messages.map((_, i) => i),
    );
  });
});
