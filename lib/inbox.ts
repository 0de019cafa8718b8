import fs from 'node:fs';
import path from 'node:path';
import type { ArtifactStore } from './artifacts';
import { uriToPath, type ArtifactRef } from './artifacts';
import { openSource, sourceFingerprint, storeAccess, type SourceRef } from './data/source';
import { SourceError } from './errors';
import { sha256File } from './hash';

/**
 * A folder where batches arrive as files. Each scan stages every settled file into the artifact store by its
 * content (so the same bytes under any name are one batch) and returns it with the fingerprint the training
 * workflow id derives from; the watcher starts a pipeline per fingerprint and only then clears the file from the
 * inbox. A crash between the two leaves the file in place, and the next scan finds the same fingerprint, whose
 * pipeline is already started: nothing is lost, nothing runs twice.
 */
export interface InboxFile {
  /** the file's name in the inbox */
  name: string;
  sha256: string;
  bytes: number;
  /** the staged copy, content-addressed */
  source: SourceRef;
  fingerprint: string;
}

const FORMATS = new Set(['.parquet', '.csv', '.json', '.arrow', '.feather']);
/** a file changed this recently may still be being written */
export const SETTLE_MS = 2000;

export async function scanInbox(
  store: ArtifactStore,
  dir: string,
  nowMs = Date.now(),
): Promise<{ files: InboxFile[]; refused: string[] }> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new SourceError(`inbox ${dir} is not a folder`, { dir });
  }
  const access = storeAccess(store);
  const found: InboxFile[] = [];
  const refused: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isFile() || entry.name.startsWith('.')) continue;
    const ext = path.extname(entry.name).toLowerCase();
    if (!FORMATS.has(ext)) continue; // *.part, *.tmp, notes: not batches
    // the inbox is a source like any other: inside the allowed roots, no link out of them
    let file: string;
    try {
      file = openSource({ uri: path.join(dir, entry.name) }, access).file;
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      refused.push(err.message); // said in the watch's status; the other files go on
      continue;
    }
    const stat = fs.statSync(file);
    if (nowMs - stat.mtimeMs < SETTLE_MS || stat.size === 0) continue;
    // a copy (not a move): the inbox file stays until its pipeline has started
    const tmp = `${store.tempPath('inbox')}${ext}`;
    fs.copyFileSync(file, tmp);
    const ref = await store.putFile('inbox', tmp, ext);
    const source: SourceRef = { uri: await stagedCopy(store, ref, dir, ext) };
    found.push({
      name: entry.name,
      sha256: ref.sha256,
      bytes: ref.bytes,
      source,
      fingerprint: await sourceFingerprint(source, access),
    });
  }
  return { files: found, refused };
}

/**
 * Clear a file whose pipeline has started: moved to `.processed/` beside it, named by its content, so a person can
 * see what arrived. Only if it still holds the bytes that were staged (a file replaced meanwhile stays).
 */
export async function clearInboxFile(dir: string, name: string, sha256: string): Promise<boolean> {
  const file = path.join(dir, name);
  if (!fs.existsSync(file) || (await sha256File(file)) !== sha256) return false;
  const done = path.join(dir, '.processed');
  fs.mkdirSync(done, { recursive: true });
  fs.renameSync(file, path.join(done, `${sha256.slice(0, 12)}-${name}`));
  return true;
}

/**
 * Where the pipeline reads a staged batch from. In a folder store, the artifact itself. An S3 store's copy is in
 * this host's cache only, and the pipeline may run on another host; the inbox is on a volume every pipeline worker
 * mounts (they all watch it), so the staged copy is kept beside it, in its hidden ".lumen-staged" folder.
 */
export async function stagedCopy(store: ArtifactStore, ref: ArtifactRef, dir: string, ext: string): Promise<string> {
  if (ref.uri.startsWith('file://')) return uriToPath(ref.uri);
  const staged = path.join(dir, '.lumen-staged', `${ref.sha256}${ext}`);
  if (!fs.existsSync(staged)) {
    fs.mkdirSync(path.dirname(staged), { recursive: true });
    const tmp = `${staged}.${process.pid}.tmp`;
    fs.copyFileSync(await store.verify(ref), tmp);
    fs.renameSync(tmp, staged);
  }
  return staged;
}
