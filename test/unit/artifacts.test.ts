import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ArtifactStore, uriToPath } from '../../lib/artifacts';
import { ArtifactIntegrityError } from '../../lib/errors';
import { tempHome, type TestHome } from '../support/env';

describe('artifact store', () => {
  let t: TestHome;
  let store: ArtifactStore;
  beforeEach(() => {
    t = tempHome();
    store = t.deps.store;
  });
  afterEach(() => t.cleanup());

  function makeDir(files: Record<string, string>): string {
    const dir = store.tempPath('dir');
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), body);
    return dir;
  }

  it('names files by content: the same bytes give the same reference', async () => {
    const a = await store.putJson('reports', { x: 1 });
    const b = await store.putJson('reports', { x: 1 });
    const c = await store.putJson('reports', { x: 2 });
    assert.deepEqual(a, b);
    assert.notEqual(a.sha256, c.sha256);
    assert.equal(await store.verify(a), uriToPath(a.uri));
  });

  it('refuses a directory artifact with one byte flipped, a file swapped, or a file added', async () => {
    const ref = await store.putDirectory('models/m', makeDir({ 'a.bin': 'AAAA', 'b.bin': 'BBBB' }));
    await store.verify(ref);
    const dir = uriToPath(ref.uri);

    const a = path.join(dir, 'a.bin');
    fs.writeFileSync(a, 'AAAB');
    await assert.rejects(
      store.verify(ref),
      (e: unknown) => e instanceof ArtifactIntegrityError && /a\.bin/.test(e.message),
    );
    fs.writeFileSync(a, 'AAAA');
    await store.verify(ref);

    fs.writeFileSync(a, 'BBBB');
    fs.writeFileSync(path.join(dir, 'b.bin'), 'AAAA');
    await assert.rejects(store.verify(ref), ArtifactIntegrityError);
    fs.writeFileSync(a, 'AAAA');
    fs.writeFileSync(path.join(dir, 'b.bin'), 'BBBB');

    fs.writeFileSync(path.join(dir, 'extra.bin'), 'x');
    await assert.rejects(store.verify(ref), /unexpected files extra\.bin/);
  });

  it('refuses an artifact whose manifest was edited to match tampered files', async () => {
    const ref = await store.putDirectory('models/m', makeDir({ 'w.bin': 'weights' }));
    const dir = uriToPath(ref.uri);
    fs.writeFileSync(path.join(dir, 'w.bin'), 'tampered');
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
      files: Record<string, { sha256: string }>;
    };
    manifest.files['w.bin'].sha256 = '0'.repeat(64);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    await assert.rejects(store.verify(ref), /manifest digest differs/);
  });

  it('a missing artifact is an integrity error, not a crash', async () => {
    const ref = await store.putJson('reports', { y: 1 });
    fs.rmSync(uriToPath(ref.uri));
    await assert.rejects(store.verify(ref), /is missing/);
  });
});
