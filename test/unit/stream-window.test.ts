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
const NOW = '2026-01-01T00:00:00Z';

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
}

function plan(
  rule: WindowRule,
  events: Event[],
  start = new Map([
    [0, 0n],
    [1, 0n],
  ]),
) {
  const planner = new WindowPlanner(rule, new EventRows(spec, NOW), start);
  for (const e of events) planner.take(e);
  return { planner, content: planner.finish() };
}

describe('stream events and windows', () => {
  it('refuses an event per problem, naming the field and why, and types what it accepts', () => {
    const rows = new EventRows(spec, NOW, 400);
    const ok = rows.check(weather(3, 5));
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
      const checked = rows.check(event);
      assert.equal(checked.ok, false, `${event.toString().slice(0, 60)} should be refused`);
      if (checked.ok) continue;
      assert.ok(
        checked.problems.some((p) => p.field === field && p.code === code && p.reason.length > 5),
        `${field}/${code} in ${JSON.stringify(checked.problems)}`,
      );
    }
    // a whole number is what an integer column holds
    const integer = new EventRows(
      {
        ...spec,
        source: { ...spec.source, columns: [...spec.source.columns, { name: 'n', type: 'integer', required: true }] },
      },
      NOW,
    );
    const half = integer.check(weather(1, 0, { n: 2.5 }));
    assert.ok(!half.ok && half.problems.some((p) => p.field === 'n' && /whole number/.test(p.reason)));
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
