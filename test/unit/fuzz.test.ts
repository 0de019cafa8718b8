import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SpecError } from '../../lib/errors';
import { prng } from '../../lib/rng';
import { parseModelSpec } from '../../lib/spec';
import { approvalPayload, personPayload, policyPayload, quarantinePayload } from '../../workflows/message-shapes';
import { repoRoot } from '../support/env';

/**
 * Seeded random mutations of valid inputs — the example specs and valid decision payloads — thousands of them. Each
 * must either be accepted or refused with a clear error of Lumen's own: a spec names every offending field; a
 * payload names the field and what it should be. A TypeError from deep inside is a failure.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const ODD_VALUES: Json[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e300,
  -1e300,
  '',
  ' ',
  'x'.repeat(20_000),
  'NaN',
  '../../etc/passwd',
  [],
  [null],
  {},
  { kind: 'numeric' },
];

/** Every path to a value inside a JSON document. */
function paths(value: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [at];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...at, i])));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...at, k]));
  return out;
}

/** One to three mutations: delete a field, change a value's kind, add an unknown field, duplicate an entry. */
function mutate(doc: Json, rand: () => number): Json {
  const copy = JSON.parse(JSON.stringify(doc)) as Json;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const times = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < times; i++) {
    const all = paths(copy).filter((p) => p.length > 0);
    if (all.length === 0) return pick(ODD_VALUES);
    const at = pick(all);
    const parent = at.slice(0, -1).reduce<Json>((v, k) => (v as Record<string, Json>)[k], copy) as
      Json[] | Record<string, Json>;
    const key = at[at.length - 1];
    const op = rand();
    if (op < 0.25) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else if (op < 0.7) {
      (parent as Record<string, Json>)[key] = pick(ODD_VALUES);
    } else if (op < 0.85) {
      if (Array.isArray(parent)) parent.push(parent[key as number]);
      else parent[`unexpected_${Math.floor(rand() * 100)}`] = pick(ODD_VALUES);
    } else {
      // a value from elsewhere in the document: plausible, but in the wrong place
      const donor = pick(paths(copy).filter((p) => p.length > 0));
      const value = donor.reduce<Json>((v, k) => (v as Record<string, Json>)[k], copy);
      (parent as Record<string, Json>)[key] = JSON.parse(JSON.stringify(value)) as Json; // a copy: no cycles
    }
  }
  return copy;
}

describe('fuzz: seeded mutations of valid inputs get clear errors', () => {
  const examples = fs
    .readdirSync(path.join(repoRoot, 'examples', 'models'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', 'models', f), 'utf8')) as Json);

  it('the spec loader: 3,000 mutated example specs, each accepted or refused field by field', () => {
    const rand = prng(20261126);
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const doc = mutate(examples[i % examples.length], rand);
      try {
        parseModelSpec(doc, `case ${i}`);
      } catch (err) {
        assert.ok(err instanceof SpecError, `case ${i}: ${(err as Error).stack}\n${JSON.stringify(doc).slice(0, 500)}`);
        const lines = err.message.split('\n');
        assert.equal(lines[0], `case ${i} is invalid:`);
        assert.ok(lines.length > 1, `case ${i}: no field named`);
        for (const line of lines.slice(1)) assert.match(line, /^ {2}\S.*: \S/, `case ${i}: "${line}"`);
        refused++;
      }
    }
    // most mutations break something: the loader is being tested, not skipped
    assert.ok(refused > 2000, `${refused} of 3000 refused`);
  });

  it('decision payloads: 4,000 mutated approvals, quarantine decisions, policy changes and requests', () => {
    const rand = prng(7);
    const valid: [string, (v: unknown) => unknown, Json][] = [
      ['an approval', approvalPayload, { version: 3, artifactSha256: 'a'.repeat(64), by: 'ana', comment: 'ok' }],
      ['a quarantine decision', quarantinePayload, { dataset: 'b'.repeat(16), by: 'ana', reason: 'units fixed' }],
      ['a policy change', policyPayload, { policy: { everyMinutes: 5 }, by: 'ana', reason: 'faster' }],
      ['a request to the monitor', personPayload, { by: 'ana', reason: 'bad data', requestId: 'r-1', to: 2 }],
    ];
    for (const [, check, doc] of valid) assert.doesNotThrow(() => check(doc));
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      const [what, check, doc] = valid[i % valid.length];
      const payload = rand() < 0.05 ? ODD_VALUES[i % ODD_VALUES.length] : mutate(doc, rand);
      try {
        check(payload);
      } catch (err) {
        assert.ok(!(err instanceof TypeError), `case ${i}: ${(err as Error).stack}`);
        assert.ok((err as Error).message.startsWith(what), `case ${i}: "${(err as Error).message}"`);
        refused++;
      }
    }
    assert.ok(refused > 2500, `${refused} of 4000 refused`);
  });
});
