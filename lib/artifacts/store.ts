import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ArtifactIntegrityError, SourceError } from '../errors';
import { canonicalJson, sha256, sha256File } from '../hash';
import { temporaryPath } from './temporary';

/** A reference to an immutable artifact: where it is and what its bytes must hash to. Small enough for payloads. */
export const ArtifactRef = z.object({
  uri: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
});
export type ArtifactRef = z.infer<typeof ArtifactRef>;

/** Files of a directory artifact with their digests; the directory's digest is the hash of this manifest. */
export interface DirectoryManifest {
  files: Record<string, { sha256: string; bytes: number }>;
}

export const MANIFEST = 'manifest.json';

/** How a process opens a store: what the load check's fresh process is told, so it reads the same artifacts. */
export type StoreConfig =
  { kind: 'file'; root: string; home: string } | { kind: 's3'; url: string; root: string; home: string };

/**
 * Content-addressed, immutable artifacts (snapshots, models, checkpoints, reports) plus small mutable notes.
 * Every read goes through `verify` or `localFile`, which hand back a local path whose bytes hash to the reference:
 * a folder store reads in place, a remote store downloads into this process's cache first.
 */
export interface ArtifactStore {
  /** This process's own working folder: temporary files, and for a remote store the cache of verified copies. */
  readonly root: string;
  /** The Lumen home whose rules (source access, tokens) this process follows. */
  readonly home: string;
  /** Where the artifacts live, for messages: a folder or s3://bucket/prefix. */
  readonly location: string;
  readonly config: StoreConfig;
  /** A fresh temporary path in the working folder (a finished file is handed to putFile/putDirectory). */
  tempPath(hint?: string): string;
  /** Store a finished file as `<kind>/<sha256><ext>`; the file is consumed. */
  putFile(kind: string, file: string, ext: string): Promise<ArtifactRef>;
  putJson(kind: string, value: unknown): Promise<ArtifactRef>;
  /** Store a finished directory as `<kind>/<digest of its manifest>/`; the directory is consumed. */
  putDirectory(kind: string, dir: string): Promise<ArtifactRef>;
  /** Replace a small mutable note (e.g. the newest checkpoint of a run) so a reader sees the old or the new one. */
  writeNote(kind: string, name: string, value: unknown): Promise<void>;
  /** The note, or undefined when there is none or it cannot be parsed. */
  readNote(kind: string, name: string): Promise<unknown>;
  /** Delete every artifact and note of a kind (the checkpoints of a finished training run). */
  removeKind(kind: string): Promise<void>;
  /** A local path whose bytes have just been hashed and match the reference; otherwise ArtifactIntegrityError. */
  verify(ref: ArtifactRef): Promise<string>;
  /**
   * A local path of the artifact for reading in place (DuckDB over a snapshot). A remote artifact is downloaded and
   * verified once into the cache; a local one is not re-hashed on every scan.
   */
  localFile(ref: ArtifactRef): Promise<string>;
}

export function uriToPath(uri: string): string {
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  if (uri.startsWith('s3://')) {
    throw new SourceError(
      `artifact ${uri} is in an S3 store, and this process reads artifacts from a folder (set LUMEN_ARTIFACTS_URL to the store)`,
      { uri },
    );
  }
  throw new SourceError(`unsupported artifact URI scheme in "${uri}" (artifacts are file:// or s3://)`);
}

export function pathToUri(p: string): string {
  return pathToFileURL(path.resolve(p)).href;
}

/** Re-hash a local file or directory artifact and refuse it if a single byte differs from the reference. */
export async function verifyLocal(p: string, ref: ArtifactRef): Promise<string> {
  if (!fs.existsSync(p)) throw new ArtifactIntegrityError(`artifact ${ref.uri} is missing`, { uri: ref.uri });
  if (fs.statSync(p).isDirectory()) {
    const recorded = fs.readFileSync(path.join(p, MANIFEST), 'utf8');
    if (sha256(recorded) !== ref.sha256) {
      throw new ArtifactIntegrityError(`artifact ${ref.uri}: manifest digest differs from registered ${ref.sha256}`);
    }
    const actual = await manifestOf(p);
    const expected = JSON.parse(recorded) as DirectoryManifest;
    for (const [name, want] of Object.entries(expected.files)) {
      const got = actual.files[name];
      if (!got) throw new ArtifactIntegrityError(`artifact ${ref.uri}: file ${name} is missing`);
      if (got.sha256 !== want.sha256) {
        throw new ArtifactIntegrityError(
          `artifact ${ref.uri}: file ${name} has sha256 ${got.sha256}, manifest says ${want.sha256}`,
        );
      }
    }
    const extra = Object.keys(actual.files).filter((name) => !(name in expected.files));
    if (extra.length) throw new ArtifactIntegrityError(`artifact ${ref.uri}: unexpected files ${extra.join(', ')}`);
  } else {
    const digest = await sha256File(p);
    if (digest !== ref.sha256) {
      throw new ArtifactIntegrityError(`artifact ${ref.uri} has sha256 ${digest}, registered ${ref.sha256}`);
    }
  }
  return p;
}

/** The manifest of a directory (every file but the manifest itself, with digest and size). */
export async function manifestOf(dir: string): Promise<DirectoryManifest> {
  const files: DirectoryManifest['files'] = {};
  const walk = async (rel: string): Promise<void> => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(name);
      else if (name !== MANIFEST) {
        const full = path.join(dir, name);
        files[name] = { sha256: await sha256File(full), bytes: fs.statSync(full).size };
      }
    }
  };
  await walk('');
  return { files };
}

/** A path inside a folder, or an error: names built from kinds and notes never climb out of the store. */
export function inside(root: string, ...parts: string[]): string {
  const file = path.resolve(root, ...parts);
  if (!file.startsWith(path.resolve(root) + path.sep)) throw new Error(`${file} is outside the store ${root}`);
  return file;
}

/** What both stores do the same way: temporary files in the working folder, JSON through putFile, manifests. */
export abstract class LocalWorkingFolder {
  abstract readonly root: string;
  abstract putFile(kind: string, file: string, ext: string): Promise<ArtifactRef>;

  tempPath(hint = 'tmp'): string {
    return temporaryPath(this.root, hint);
  }

  async putJson(kind: string, value: unknown): Promise<ArtifactRef> {
    const tmp = this.tempPath('json');
    fs.writeFileSync(tmp, JSON.stringify(value, null, 2));
    return this.putFile(kind, tmp, '.json');
  }
}

/** Write a finished directory's manifest into it; its digest (the manifest's) names the directory artifact. */
export async function sealDirectory(
  dir: string,
): Promise<{ manifest: DirectoryManifest; digest: string; bytes: number }> {
  const manifest = await manifestOf(dir);
  const body = canonicalJson(manifest);
  fs.writeFileSync(path.join(dir, MANIFEST), body);
  const bytes = Object.values(manifest.files).reduce((sum, f) => sum + f.bytes, 0);
  return { manifest, digest: sha256(body), bytes };
}

/** A JSON artifact's content, read once its bytes are verified against the reference's digest. */
export async function readJsonArtifact(store: ArtifactStore, ref: ArtifactRef): Promise<unknown> {
  return JSON.parse(fs.readFileSync(await store.verify(ref), 'utf8'));
}
