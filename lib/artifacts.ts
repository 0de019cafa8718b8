import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ArtifactIntegrityError, SourceError } from './errors';
import { canonicalJson, sha256, sha256File } from './hash';

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

const MANIFEST = 'manifest.json';

export function uriToPath(uri: string): string {
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  throw new SourceError(`unsupported artifact URI scheme in "${uri}" (this store handles file:// only)`);
}

export function pathToUri(p: string): string {
  return pathToFileURL(path.resolve(p)).href;
}

/**
 * A content-addressed store on a local or shared file system. Artifacts are written to a temporary name,
 * hashed, then renamed to their digest, so a reader never sees a half-written artifact and writing the same
 * content twice yields the same reference.
 */
export class ArtifactStore {
  constructor(readonly root: string) {}

  /** A fresh temporary path inside the store (same file system, so the final rename is atomic). */
  tempPath(hint = 'tmp'): string {
    const dir = path.join(this.root, '.tmp');
    fs.mkdirSync(dir, { recursive: true });
    return path.join(dir, `${hint}-${randomUUID()}`);
  }

  /** Move a finished file into `<kind>/<sha256><ext>`. */
  async putFile(kind: string, file: string, ext: string): Promise<ArtifactRef> {
    const digest = await sha256File(file);
    const bytes = fs.statSync(file).size;
    const dest = path.join(this.root, kind, `${digest}${ext}`);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    if (fs.existsSync(dest)) fs.rmSync(file);
    else fs.renameSync(file, dest);
    return { uri: pathToUri(dest), sha256: digest, bytes };
  }

  async putJson(kind: string, value: unknown): Promise<ArtifactRef> {
    const tmp = this.tempPath('json');
    fs.writeFileSync(tmp, JSON.stringify(value, null, 2));
    return this.putFile(kind, tmp, '.json');
  }

  /** Move a finished directory into `<kind>/<digest>/` and write its manifest. */
  async putDirectory(kind: string, dir: string): Promise<ArtifactRef> {
    const manifest = await manifestOf(dir);
    const body = canonicalJson(manifest);
    const digest = sha256(body);
    fs.writeFileSync(path.join(dir, MANIFEST), body);
    const dest = path.join(this.root, kind, digest);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    if (fs.existsSync(dest)) fs.rmSync(dir, { recursive: true, force: true });
    else fs.renameSync(dir, dest);
    const bytes = Object.values(manifest.files).reduce((sum, f) => sum + f.bytes, 0);
    return { uri: pathToUri(dest), sha256: digest, bytes };
  }

  /**
   * A small mutable note beside the immutable artifacts of a kind (e.g. "the newest checkpoint of this run"),
   * replaced atomically so a reader sees the old note or the new one, never half of one.
   */
  writeNote(kind: string, name: string, value: unknown): void {
    const file = this.notePath(kind, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = this.tempPath('note');
    fs.writeFileSync(tmp, JSON.stringify(value));
    fs.renameSync(tmp, file);
  }

  /** The note, or undefined when there is none (or it cannot be read). */
  readNote(kind: string, name: string): unknown {
    try {
      return JSON.parse(fs.readFileSync(this.notePath(kind, name), 'utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  private notePath(kind: string, name: string): string {
    const file = path.resolve(this.root, kind, `${name}.note.json`);
    if (!file.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`note ${file} is outside the store`);
    return file;
  }

  /** Delete every artifact of a kind (e.g. the checkpoints of a finished training run). */
  removeKind(kind: string): void {
    const dir = path.resolve(this.root, kind);
    if (!dir.startsWith(path.resolve(this.root) + path.sep))
      throw new Error(`refusing to remove ${dir}: outside the store`);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  /** Re-hash an artifact and refuse it if a single byte differs from what was registered. */
  async verify(ref: ArtifactRef): Promise<string> {
    const p = uriToPath(ref.uri);
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
}

async function manifestOf(dir: string): Promise<DirectoryManifest> {
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
