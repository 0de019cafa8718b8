import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { ArtifactIntegrityError, SourceError, SpecError } from '../errors';
import { sha256File } from '../hash';
import {
  inside,
  LocalWorkingFolder,
  MANIFEST,
  sealDirectory,
  uriToPath,
  verifyLocal,
  type ArtifactRef,
  type ArtifactStore,
  type DirectoryManifest,
  type StoreConfig,
} from './store';

/** Where an S3 store lives and how to reach it, read from `s3://bucket/prefix?endpoint=…&region=…&pathStyle=true`. */
export interface S3Location {
  bucket: string;
  prefix: string;
  client: S3ClientConfig;
}

const QUERY = ['endpoint', 'region', 'pathStyle'];

/** Parse LUMEN_ARTIFACTS_URL's s3:// form; every mistake names the part of the URL that is wrong. */
export function parseS3Url(url: string, env: NodeJS.ProcessEnv = process.env): S3Location {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SpecError(`LUMEN_ARTIFACTS_URL "${url}" is not a URL (expected s3://bucket/prefix)`);
  }
  if (parsed.protocol !== 's3:') throw new SpecError(`LUMEN_ARTIFACTS_URL "${url}" is not an s3:// URL`);
  if (parsed.username || parsed.password) {
    throw new SpecError(
      `LUMEN_ARTIFACTS_URL must not carry credentials; use the AWS credential chain (AWS_ACCESS_KEY_ID, a profile, a role)`,
    );
  }
  const bucket = /^s3:\/\/([^/?#]*)/.exec(url)?.[1] ?? ''; // as written: URL parsing would lower-case it
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new SpecError(`LUMEN_ARTIFACTS_URL "${url}": "${bucket}" is not a valid bucket name (3–63 of a-z 0-9 . -)`);
  }
  // as written, too: URL parsing would resolve the dot segments away
  const rawPath = /^s3:\/\/[^/?#]*([^?#]*)/.exec(url)?.[1] ?? '';
  const prefix = decodeURIComponent(rawPath).replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '..' || part === '.')) {
    throw new SpecError(`LUMEN_ARTIFACTS_URL "${url}": the prefix may not contain "." or ".." segments`);
  }
  for (const key of parsed.searchParams.keys()) {
    if (!QUERY.includes(key)) {
      throw new SpecError(`LUMEN_ARTIFACTS_URL "${url}": unknown option "${key}" (known: ${QUERY.join(', ')})`);
    }
  }
  const endpoint = parsed.searchParams.get('endpoint') ?? undefined;
  if (endpoint && !/^https?:\/\/[^/]+/.test(endpoint)) {
    throw new SpecError(`LUMEN_ARTIFACTS_URL "${url}": endpoint "${endpoint}" must be an http(s):// address`);
  }
  const pathStyle = parsed.searchParams.get('pathStyle');
  if (pathStyle !== null && pathStyle !== 'true' && pathStyle !== 'false') {
    throw new SpecError(`LUMEN_ARTIFACTS_URL "${url}": pathStyle must be true or false, got "${pathStyle}"`);
  }
  return {
    bucket,
    prefix,
    client: {
      region: parsed.searchParams.get('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      // keys in the environment this store was opened with; otherwise the SDK's chain (profile, role, …)
      ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            credentials: {
              accessKeyId: env.AWS_ACCESS_KEY_ID,
              secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
              ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
            },
          }
        : {}),
      ...(endpoint ? { endpoint } : {}),
      // a self-hosted server (MinIO, Ceph, s3rver) is usually addressed by path, not by a bucket subdomain
      forcePathStyle: pathStyle === null ? Boolean(endpoint) : pathStyle === 'true',
      // Lumen hashes every artifact itself (sha256, checked on every download). The SDK's default trailing
      // checksums use aws-chunked uploads, which several S3-compatible servers store with the chunk framing
      // inside the object; checksums only where an operation requires them work everywhere.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    },
  };
}

/** No such object (a missing bucket is not that: it is the store that is wrong, and is said so). */
function isMissing(err: unknown): boolean {
  const e = err as { name?: string };
  return e.name === 'NoSuchKey' || e.name === 'NotFound';
}

/** What an S3 error says, in one line: its code, the server's message and the HTTP status. */
export function describeS3Error(err: unknown): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const message = e.message && e.message !== e.name && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  return `${e.name ?? 'Error'}${message}${status ? ` (HTTP ${status})` : ''}`;
}

/**
 * Artifacts in an S3 bucket (AWS or any S3-compatible server), for workers on several hosts. Objects are named by
 * their digest, so an upload is idempotent and an object never changes. Every read downloads into this process's
 * cache (under `root`) and hashes what arrived before anything uses it; a cached copy is re-hashed by `verify`, and
 * a cached copy that no longer matches is dropped and fetched again. Notes are small objects replaced whole.
 */
export class S3ArtifactStore extends LocalWorkingFolder implements ArtifactStore {
  private readonly client: S3Client;

  constructor(
    private readonly url: string,
    private readonly where: S3Location,
    readonly root: string,
    readonly home: string,
  ) {
    super();
    this.client = new S3Client(where.client);
  }

  static open(url: string, root: string, home: string, env: NodeJS.ProcessEnv = process.env): S3ArtifactStore {
    return new S3ArtifactStore(url, parseS3Url(url, env), root, home);
  }

  /**
   * Whether the bucket answers to these credentials: a wrong bucket, wrong credentials or no server fail here,
   * when a process opens the store, not in the middle of a pipeline.
   */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.where.bucket }));
    } catch (err) {
      // a HEAD answer has no body: what its status means
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const meaning =
        status === 404
          ? `bucket "${this.where.bucket}" does not exist`
          : status === 403
            ? 'access denied (the credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile or a role; or the bucket policy)'
            : status === 301
              ? 'the bucket is in another region (add ?region=… to the URL, or set AWS_REGION)'
              : describeS3Error(err);
      throw new SpecError(`cannot use the artifact store ${this.location} (LUMEN_ARTIFACTS_URL): ${meaning}`);
    }
  }

  /** One request; a failure other than a missing object names the store, the operation and the key. */
  private async send<T>(what: string, key: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (isMissing(err)) throw err;
      throw new Error(`artifact store ${this.location}: ${what} ${key}: ${describeS3Error(err)}`, { cause: err });
    }
  }

  get location(): string {
    return `s3://${this.where.bucket}/${this.where.prefix}`;
  }

  get config(): StoreConfig {
    return { kind: 's3', url: this.url, root: this.root, home: this.home };
  }

  async putFile(kind: string, file: string, ext: string): Promise<ArtifactRef> {
    const digest = await sha256File(file);
    const bytes = fs.statSync(file).size;
    const key = this.key(kind, `${digest}${ext}`);
    await this.upload(key, file, bytes, digest);
    this.keepInCache(key, file);
    return { uri: this.uriOf(key), sha256: digest, bytes };
  }

  async putDirectory(kind: string, dir: string): Promise<ArtifactRef> {
    const { manifest, digest, bytes } = await sealDirectory(dir);
    const body = fs.readFileSync(path.join(dir, MANIFEST));
    const key = this.key(kind, digest);
    // the manifest goes last: a directory whose manifest can be read is complete
    for (const [name, f] of Object.entries(manifest.files)) {
      await this.upload(`${key}/${name}`, path.join(dir, name), f.bytes, f.sha256);
    }
    await this.upload(`${key}/${MANIFEST}`, path.join(dir, MANIFEST), body.length, digest);
    this.keepInCache(key, dir);
    return { uri: this.uriOf(key), sha256: digest, bytes };
  }

  async writeNote(kind: string, name: string, value: unknown): Promise<void> {
    const key = this.key(kind, `${name}.note.json`);
    await this.send('writing note', key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.where.bucket,
          Key: key,
          Body: JSON.stringify(value),
          ContentType: 'application/json',
        }),
      ),
    );
  }

  async readNote(kind: string, name: string): Promise<unknown> {
    let text: string;
    const key = this.key(kind, `${name}.note.json`);
    try {
      const got = await this.send('reading note', key, () =>
        this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: key })),
      );
      text = await got.Body!.transformToString();
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err; // the store cannot be reached: the activity retries rather than start over without its note
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  async removeKind(kind: string): Promise<void> {
    const prefix = `${this.key(kind, '')}`;
    let token: string | undefined;
    do {
      const page = await this.send('listing', prefix, () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: prefix, ContinuationToken: token }),
        ),
      );
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length) {
        const done = await this.send('deleting under', prefix, () =>
          this.client.send(
            new DeleteObjectsCommand({ Bucket: this.where.bucket, Delete: { Objects: keys, Quiet: true } }),
          ),
        );
        if (done.Errors?.length) {
          const first = done.Errors[0];
          throw new Error(`could not delete ${done.Errors.length} objects under ${prefix}: ${first.Key} ${first.Code}`);
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    fs.rmSync(inside(this.cacheRoot(), prefix), { recursive: true, force: true });
  }

  async verify(ref: ArtifactRef): Promise<string> {
    if (ref.uri.startsWith('file://')) return verifyLocal(uriToPath(ref.uri), ref); // stored before the move to S3
    const local = await this.fetch(ref);
    try {
      return await verifyLocal(local, ref);
    } catch (err) {
      if (!(err instanceof ArtifactIntegrityError)) throw err;
      // the cached copy changed after it was checked: drop it and hash a fresh download
      fs.rmSync(local, { recursive: true, force: true });
      return verifyLocal(await this.fetch(ref), ref);
    }
  }

  async localFile(ref: ArtifactRef): Promise<string> {
    if (ref.uri.startsWith('file://')) return uriToPath(ref.uri);
    return this.fetch(ref);
  }

  /** The cached copy of an artifact, downloaded and hashed first when this process has none. */
  private async fetch(ref: ArtifactRef): Promise<string> {
    const key = this.keyOf(ref.uri);
    const local = inside(this.cacheRoot(), key);
    if (fs.existsSync(local)) return local;
    const tmp = this.tempPath('download');
    try {
      const manifest = await this.download(key, tmp).then(
        () => undefined,
        async (err: unknown) => {
          if (!isMissing(err)) throw err;
          // not a file: a directory artifact, read through its manifest
          fs.mkdirSync(tmp, { recursive: true });
          try {
            await this.download(`${key}/${MANIFEST}`, path.join(tmp, MANIFEST));
          } catch (inner) {
            if (isMissing(inner)) throw new ArtifactIntegrityError(`artifact ${ref.uri} is missing`, { uri: ref.uri });
            throw inner;
          }
          return JSON.parse(fs.readFileSync(path.join(tmp, MANIFEST), 'utf8')) as DirectoryManifest;
        },
      );
      if (manifest) {
        for (const name of Object.keys(manifest.files)) {
          const file = inside(tmp, name);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          await this.download(`${key}/${name}`, file);
        }
      }
      await verifyLocal(tmp, ref); // nothing unverified enters the cache
      fs.mkdirSync(path.dirname(local), { recursive: true });
      try {
        fs.renameSync(tmp, local);
      } catch (err) {
        if (!fs.existsSync(local)) throw err; // another download of the same artifact finished first
      }
      return local;
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  private async download(key: string, file: string): Promise<void> {
    await this.send('downloading', key, async () => {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: key }));
      await pipeline(got.Body as Readable, fs.createWriteStream(file));
    });
  }

  private async upload(key: string, file: string, bytes: number, digest: string): Promise<void> {
    await this.send('uploading', key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.where.bucket,
          Key: key,
          Body: fs.createReadStream(file),
          ContentLength: bytes,
          Metadata: { sha256: digest },
        }),
      ),
    );
  }

  /** A finished upload's local copy becomes the cached copy (same file system: a rename). */
  private keepInCache(key: string, from: string): void {
    const local = inside(this.cacheRoot(), key);
    fs.mkdirSync(path.dirname(local), { recursive: true });
    if (fs.existsSync(local)) fs.rmSync(from, { recursive: true, force: true });
    else fs.renameSync(from, local);
  }

  private cacheRoot(): string {
    return path.join(this.root, 's3-cache', this.where.bucket);
  }

  private key(kind: string, name: string): string {
    return [this.where.prefix, kind, name].filter(Boolean).join('/') + (name === '' ? '/' : '');
  }

  private uriOf(key: string): string {
    return `s3://${this.where.bucket}/${key}`;
  }

  /** The object key of an artifact of this store; a URI of another bucket, or one that climbs, is refused. */
  private keyOf(uri: string): string {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!m) throw new SourceError(`artifact URI "${uri}" is not s3://bucket/key`, { uri });
    if (m[1] !== this.where.bucket) {
      throw new SourceError(`artifact ${uri} is in bucket "${m[1]}"; this process's store is ${this.location}`, {
        uri,
      });
    }
    if (m[2].split('/').some((part) => part === '..' || part === '.' || part === '')) {
      throw new SourceError(`artifact URI "${uri}" has an empty, "." or ".." segment`, { uri });
    }
    return m[2];
  }
}
