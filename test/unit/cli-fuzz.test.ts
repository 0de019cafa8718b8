import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { prng } from '../../lib/rng';
import { repoRoot, tempHome, type TestHome } from '../support/env';

/**
 * Seeded random mutations of valid `lumen` command lines, run through the CLI's own entry point in this process:
 * each ends with an exit code of Lumen's (0–4) and, when it fails, a message of its own — never a stack trace or a
 * TypeError — and a failed command leaves the registry and the files as they were (a refused decision adds only
 * its refusal to the audit trail). Temporal is configured by a broken profile file, so a command that gets past
 * its own checks fails fast at "how do I connect" instead of waiting for a server.
 */

const SEEDS: string[][] = [
  ['start', 'examples/models/seattle-weather.json', '--source', 'data/missing.csv', '--detach'],
  ['status', 'train:m1:0123456789abcdef'],
  ['models', 'm1', '--json'],
  ['lineage', 'm1@1'],
  ['quarantine', 'list', 'm1'],
  ['quarantine', 'release', 'abcdef123456', '--reason', 'units fixed'],
  ['approve', 'm1', '--version', '1', '--comment', 'looks right'],
  ['reject', 'm1', '--version', '2', '--comment', 'worse on the slice'],
  ['pending', 'm1'],
  ['history', 'm1'],
  ['rollback', 'm1', '--to', '1', '--reason', 'bad'],
  ['promote', 'm1', '--version', '2', '--reason', 'better'],
  ['alias', 'm1', 'staging', '1', '--reason', 'try it'],
  ['verify', 'm1@1'],
  ['keys', 'list', '--json'],
  ['keys', 'add', 'ana', 'missing.pub.pem', '--reason', 'new admin'],
  ['keys', 'revoke', 'a'.repeat(32), '--reason', 'lost'],
  ['audit', 'm1', '--since', '24h', '--limit', '10'],
  ['alerts', 'm1', '--limit', '5'],
  ['check', 'examples/models/seattle-weather.json', '--source', 'data/missing.csv'],
  ['schema', 'infer', 'data/missing.csv'],
  ['predict', 'm1', '--input', 'data/missing.csv'],
  ['monitor', 'status', 'm1'],
  ['monitor', 'report', 'm1', '--since', '2026-01-01'],
  ['monitor', 'policy', 'm1', '--set', '{"everyMinutes": 5}', '--reason', 'calmer'],
  ['monitor', 'rollback', 'm1', '--reason', 'complaints'],
  ['schedule', 'list'],
  ['inbox', 'status', 'm1'],
  ['serving', 'show', 'm1'],
  ['serving', 'set', 'm1', '--canary', '2', '--canary-percent', '10', '--reason', 'try'],
];

/** never run under mutation: they start servers or processes that outlive a call */
const LONG_RUNNING = new Set(['serve', 'server', 'demo']);

const ODD: string[] = [
  '',
  ' ',
  '-',
  '--',
  '-x',
  '--nonsense',
  '--version',
  '--json',
  '--since',
  '--reason',
  '0',
  '-1',
  '1.5',
  '1e309',
  'NaN',
  '99999999999999999999',
  'm1@',
  '@1',
  'm1@v1',
  '../../etc/passwd',
  '/dev/zero',
  'x'.repeat(5000),
  '{"everyMinutes": -1}',
  '{',
  'null',
  'ünïcödé',
  '\u0000',
  'vega-datasets:../../package.json',
  'file:///etc/passwd',
  'http://example.invalid/x.csv',
];

function mutate(argv: string[], rand: () => number): string[] {
  const out = [...argv];
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const times = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < times; i++) {
    const at = Math.floor(rand() * (out.length + 1));
    const op = rand();
    if (op < 0.25 && out.length > 1) out.splice(Math.min(at, out.length - 1), 1);
    else if (op < 0.6) out[Math.min(at, out.length - 1)] = pick(ODD);
    else if (op < 0.8) out.splice(at, 0, pick(ODD));
    else {
      const j = Math.floor(rand() * out.length);
      const k = Math.floor(rand() * out.length);
      [out[j], out[k]] = [out[k], out[j]];
    }
  }
  return out;
}

/** Files by path with size and content hash-free identity (size + mtime), and the registry's rows per table. */
function snapshot(dirs: string[], registry: string): { files: string; rows: Record<string, number> } {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (!full.startsWith(registry)) {
        const s = fs.statSync(full);
        files.push(`${full} ${s.size} ${s.mtimeMs}`);
      }
    }
  };
  for (const d of dirs) walk(d);
  const db = new Database(registry, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    const rows = Object.fromEntries(
      tables.map((t) => [t.name, (db.prepare(`SELECT count(*) AS n FROM "${t.name}"`).get() as { n: number }).n]),
    );
    return { files: files.sort().join('\n'), rows };
  } finally {
    db.close();
  }
}

describe('fuzz: seeded mutations of lumen command lines', () => {
  let t: TestHome;
  let config: string;
  // taken when the suite starts, not when the file loads: the global fixture sets the server's address in between
  let saved: NodeJS.ProcessEnv = {};

  let main: (argv: string[]) => Promise<number>;
  before(() => {
    // the compiled CLI (set-up builds dist/), as `./lumen` runs it: each command is loaded by import() when it
    // runs, which the TypeScript loader of the tests does not resolve
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    main = (require(path.join(repoRoot, 'dist', 'cli', 'lumen.js')) as { main: typeof main }).main;
    saved = { ...process.env };
    t = tempHome('lumen-cli-fuzz-');
    config = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-cli-fuzz-config-'));
    const profile = path.join(config, 'temporal.toml');
    fs.writeFileSync(profile, '[profile.default\naddress = ');
    for (const k of Object.keys(process.env))
      if (k.startsWith('TEMPORAL_') || k.startsWith('LUMEN_')) delete process.env[k];
    Object.assign(process.env, {
      LUMEN_HOME: t.home,
      TEMPORAL_CONFIG_FILE: profile,
      XDG_CONFIG_HOME: config,
      NO_COLOR: '1',
    });
  });
  after(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    fs.rmSync(config, { recursive: true, force: true });
    t.cleanup();
  });

  async function lumen(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
    const logs = { log: console.log, error: console.error, warn: console.warn };
    process.stdout.write = (chunk: string | Uint8Array) => ((out += String(chunk)), true);
    process.stderr.write = (chunk: string | Uint8Array) => ((err += String(chunk)), true);
    console.log = (...a: unknown[]) => void (out += `${a.map(String).join(' ')}\n`);
    console.error = console.warn = (...a: unknown[]) => void (err += `${a.map(String).join(' ')}\n`);
    process.exitCode = undefined;
    try {
      const code = await main(['node', 'lumen', ...argv]);
      return { code, out, err };
    } finally {
      process.stdout.write = writes.out;
      process.stderr.write = writes.err;
      Object.assign(console, logs);
      process.exitCode = undefined;
    }
  }

  it("2,000 mutated command lines: an exit code of Lumen's, a message of its own, nothing written on failure", async () => {
    const rand = prng(20261126);
    const registry = path.join(t.home, 'registry.sqlite');
    const codes = new Map<number, number>();
    let cases = 0;
    while (cases < 2000) {
      const argv = mutate(SEEDS[Math.floor(rand() * SEEDS.length)], rand);
      if (argv.some((a) => LONG_RUNNING.has(a))) continue;
      cases++;
      const before = snapshot([t.home, config], registry);
      const ran = await lumen(argv);
      const shown = JSON.stringify(argv).slice(0, 300);
      codes.set(ran.code, (codes.get(ran.code) ?? 0) + 1);
      assert.ok([0, 1, 2, 3, 4].includes(ran.code), `${shown}: exit ${ran.code}`);
      const said = `${ran.err}${ran.out}`;
      assert.doesNotMatch(
        said,
        /TypeError|ReferenceError|RangeError|Cannot read propert|Cannot find module|is not a function|\n\s+at .+:\d+:\d+/,
        shown,
      );
      if (ran.code === 0) continue;
      assert.ok(ran.err.trim().length > 0, `${shown}: exit ${ran.code} with nothing said`);
      const after = snapshot([t.home, config], registry);
      assert.equal(after.files, before.files, `${shown}: files changed by a failed command`);
      const { audit_events: auditAfter, ...restAfter } = after.rows;
      const { audit_events: auditBefore, ...restBefore } = before.rows;
      assert.deepEqual(restAfter, restBefore, `${shown}: registry rows changed by a failed command`);
      if (auditAfter !== auditBefore) {
        const db = new Database(registry, { readonly: true });
        const added = db.prepare('SELECT outcome FROM audit_events WHERE id > ?').all(auditBefore) as {
          outcome: string;
        }[];
        db.close();
        assert.ok(
          added.every((a) => a.outcome === 'refused'),
          `${shown}: only a refusal may be recorded`,
        );
      }
    }
    console.log(
      `      exit codes: ${[...codes]
        .sort()
        .map(([c, n]) => `${c}×${n}`)
        .join(', ')}`,
    );
    // the fuzz reached every kind of ending, not just "usage"
    assert.ok((codes.get(4) ?? 0) > 100, JSON.stringify([...codes]));
    assert.ok((codes.get(0) ?? 0) > 10, JSON.stringify([...codes]));
  });
});
