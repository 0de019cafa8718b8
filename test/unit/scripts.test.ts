import assert from 'node:assert/strict';
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
});
