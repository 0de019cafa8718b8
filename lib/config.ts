import fs from 'node:fs';
import path from 'node:path';

/** Where Lumen keeps its state on this machine. One root; everything else is derived. */
export interface LumenPaths {
  /** Root folder (LUMEN_HOME, default ./.lumen). */
  home: string;
  /** Content-addressed artifacts: snapshots, models, checkpoints, reports. */
  artifacts: string;
  /** The SQLite registry file. */
  registry: string;
}

export function lumenPaths(home = process.env.LUMEN_HOME ?? path.resolve('.lumen')): LumenPaths {
  const root = path.resolve(home);
  return {
    home: root,
    artifacts: path.join(root, 'artifacts'),
    registry: process.env.LUMEN_REGISTRY ?? path.join(root, 'registry.sqlite'),
  };
}

/**
 * The project's root folder (where package.json is), whether this code runs from source or compiled into dist/:
 * examples, set-up state and bundled data are found from here.
 */
export function projectRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'tools', 'setup.mjs')))
      return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find Lumen's project folder above ${__dirname}`);
  }
}

/**
 * Files Lumen writes are its owner's alone: artifacts, reports, the registry, logs and tokens may hold data and
 * secrets, so a process that writes them (the CLI, a worker, a server) starts with umask 077. Set it on a running
 * process once, at its entry point.
 */
export function keepFilesPrivate(): void {
  process.umask(0o077);
}
