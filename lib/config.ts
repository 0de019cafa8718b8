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
