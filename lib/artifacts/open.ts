import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpecError } from '../errors';
import type { LumenPaths } from '../config';
import { FileArtifactStore } from './file';
import type { ArtifactStore, StoreConfig } from './store';

/**
 * The artifact store this process uses: by default the `artifacts` folder of LUMEN_HOME. LUMEN_ARTIFACTS_URL moves
 * the artifacts elsewhere: `file:///mnt/shared/lumen` (a volume every host mounts) or `s3://bucket/prefix` (any
 * S3-compatible store; `?endpoint=http://host:9000` for a self-hosted one). Temporary files, and an S3 store's cache
 * of verified downloads, stay in this host's own `artifacts` folder.
 */
export async function openArtifactStore(
  paths: Pick<LumenPaths, 'home' | 'artifacts'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ArtifactStore> {
  const url = env.LUMEN_ARTIFACTS_URL?.trim();
  if (!url) return new FileArtifactStore(paths.artifacts, paths.home);
  if (url.startsWith('file://')) {
    let root: string;
    try {
      root = fileURLToPath(url);
    } catch (err) {
      throw new SpecError(`LUMEN_ARTIFACTS_URL "${url}" is not a file URL: ${(err as Error).message}`);
    }
    return new FileArtifactStore(path.resolve(root), paths.home);
  }
  if (url.startsWith('s3://')) {
    const store = openS3(url, paths.artifacts, paths.home, env);
    await store.check();
    return store;
  }
  throw new SpecError(`LUMEN_ARTIFACTS_URL must be a file:// or s3:// URL; got "${url}"`);
}

/** The same store in another process (the load check), from the config the first one reported. */
export async function storeFromConfig(config: StoreConfig): Promise<ArtifactStore> {
  if (config.kind === 'file') return new FileArtifactStore(config.root, config.home);
  return openS3(config.url, config.root, config.home, process.env);
}

function openS3(url: string, root: string, home: string, env: NodeJS.ProcessEnv): import('./s3').S3ArtifactStore {
  // loaded only here: the AWS SDK is no part of a command that reads a folder store (require, not import(): the
  // same lazy load compiled or run from source)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { S3ArtifactStore } = require('./s3') as typeof import('./s3');
  return S3ArtifactStore.open(url, root, home, env);
}
