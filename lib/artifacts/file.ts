import fs from 'node:fs';
import path from 'node:path';
import { sha256File } from '../hash';
import { makeFolder } from './write-failure';
import {
  inside,
  LocalWorkingFolder,
  pathToUri,
  sealDirectory,
  uriToPath,
  verifyLocal,
  type ArtifactRef,
  type ArtifactStore,
  type StoreConfig,
} from './store';

/**
 * A content-addressed store in a folder: on this machine, or on a volume every host mounts (NFS and the like, which
 * must offer atomic rename within the folder). Artifacts are written to a temporary name inside the store, hashed,
 * then renamed to their digest, so a reader never sees a half-written artifact and writing the same content twice
 * yields the same reference.
 */
export class FileArtifactStore extends LocalWorkingFolder implements ArtifactStore {
  readonly home: string;

  /** `root` holds the artifacts; `home` is the Lumen home whose rules apply (by default the folder above). */
  constructor(
    readonly root: string,
    home?: string,
  ) {
    super();
    this.home = home ?? path.dirname(path.resolve(root));
  }

  get location(): string {
    return this.root;
  }

  get config(): StoreConfig {
    return { kind: 'file', root: this.root, home: this.home };
  }

  async putFile(kind: string, file: string, ext: string): Promise<ArtifactRef> {
    const digest = await sha256File(file);
    const bytes = fs.statSync(file).size;
    const dest = inside(this.root, kind, `${digest}${ext}`);
    makeFolder(path.dirname(dest));
    if (fs.existsSync(dest)) fs.rmSync(file);
    else fs.renameSync(file, dest);
    return { uri: pathToUri(dest), sha256: digest, bytes };
  }

  async putDirectory(kind: string, dir: string): Promise<ArtifactRef> {
    const { digest, bytes } = await sealDirectory(dir);
    const dest = inside(this.root, kind, digest);
    makeFolder(path.dirname(dest));
    if (fs.existsSync(dest)) fs.rmSync(dir, { recursive: true, force: true });
    else fs.renameSync(dir, dest);
    return { uri: pathToUri(dest), sha256: digest, bytes };
  }

  async writeNote(kind: string, name: string, value: unknown): Promise<void> {
    const file = inside(this.root, kind, `${name}.note.json`);
    makeFolder(path.dirname(file));
    const tmp = this.tempPath('note');
    fs.writeFileSync(tmp, JSON.stringify(value));
    fs.renameSync(tmp, file);
  }

  async readNote(kind: string, name: string): Promise<unknown> {
    try {
      return JSON.parse(fs.readFileSync(inside(this.root, kind, `${name}.note.json`), 'utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  async removeKind(kind: string): Promise<void> {
    fs.rmSync(inside(this.root, kind), { recursive: true, force: true });
  }

  async verify(ref: ArtifactRef): Promise<string> {
    return verifyLocal(uriToPath(ref.uri), ref);
  }

  async localFile(ref: ArtifactRef): Promise<string> {
    return uriToPath(ref.uri);
  }
}
