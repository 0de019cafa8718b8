import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/env';

describe('package.json', () => {
  // `npm run server` once pointed at a file that did not exist
  it('every script runs files that exist, and the bin entry is there', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      bin: Record<string, string>;
    };
    for (const [name, command] of Object.entries(pkg.scripts)) {
      for (const file of command.match(/[\w./*-]+\.(?:[cm]?js|ts)\b/g) ?? []) {
        if (file.includes('*')) {
          // a glob (test/stream/*.stream.ts): it must match a file
          const dir = path.join(repoRoot, path.dirname(file));
          const pattern = new RegExp(`^${path.basename(file).replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
          const matched = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => pattern.test(f)) : [];
          assert.ok(matched.length > 0, `npm run ${name}: ${file} matches no file`);
          continue;
        }
        // dist/ is what set-up compiles: its sources must exist
        const source = file.startsWith('dist/') ? file.replace(/^dist\//, '').replace(/\.js$/, '.ts') : file;
        assert.ok(fs.existsSync(path.join(repoRoot, source)), `npm run ${name}: ${file} (${source}) is missing`);
      }
    }
    assert.ok(fs.existsSync(path.join(repoRoot, pkg.bin.lumen)), 'bin/lumen.js');
  });

  it('./lumen runs the command line from any folder', () => {
    const r = spawnSync(path.join(repoRoot, 'lumen'), ['--version'], { cwd: '/', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+/);
  });

  // its check of what is installed removed the workflow bundle as a compiled file without a source, so every
  // `npm test`, `npm run demo` and `npm run lumen` compiled everything again (7 s instead of 0.2 s)
  it("set-up's check, with nothing changed, compiles nothing and keeps the workflow bundle", () => {
    const bundle = path.join(repoRoot, 'dist', 'workflow-bundle.js');
    const before = fs.statSync(bundle).mtimeMs;
    const r = spawnSync(process.execPath, ['tools/setup.mjs'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /compiling|bundling/);
    assert.equal(fs.statSync(bundle).mtimeMs, before, 'the bundle was not rewritten');
  });
});
