import fs from 'node:fs';
import { StoreWriteError } from '../errors';

/**
 * What a failed write means, whoever wrote: Node's own errors carry an errno code; DuckDB and TensorFlow say it in
 * their message ("No space left on device", "Read-only file system"). One reading for all of them, so a full disk
 * is a full disk wherever it shows up — not "cannot read parquet source", not a retry that never says why.
 */

export type WriteErrno = 'ENOSPC' | 'EROFS' | 'EDQUOT' | 'EACCES' | 'EPERM';

const MESSAGES: [RegExp, WriteErrno][] = [
  [/no space left on device|ENOSPC/i, 'ENOSPC'],
  [/read-only file system|EROFS/i, 'EROFS'],
  [/disk quota exceeded|EDQUOT/i, 'EDQUOT'],
];

const CODES = new Set<string>(['ENOSPC', 'EROFS', 'EDQUOT', 'EACCES', 'EPERM']);

/** The errno of a failed write, from the error or anything it wraps; null when it is not one. */
export function writeErrno(err: unknown): WriteErrno | null {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && CODES.has(e.code)) return e.code as WriteErrno;
    const message = typeof e.message === 'string' ? e.message : '';
    for (const [pattern, code] of MESSAGES) if (pattern.test(message)) return code;
  }
  return null;
}

/** The errnos that no retry fixes by itself: a person must free space, lift a quota or make the volume writable. */
export function needsAPerson(code: WriteErrno): boolean {
  return code === 'ENOSPC' || code === 'EROFS' || code === 'EDQUOT';
}

const MEANING: Record<WriteErrno, string> = {
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Free space on the volume holding `at` (the nearest existing folder), as a person reads it. */
export function freeSpace(at: string): string {
  try {
    let dir = at;
    while (!fs.existsSync(dir) && dir !== '/' && dir !== '.') dir = dir.slice(0, Math.max(1, dir.lastIndexOf('/')));
    const s = fs.statfsSync(dir);
    return `${bytes(s.bavail * s.bsize)} free of ${bytes(s.blocks * s.bsize)}`;
  } catch {
    return 'free space unknown';
  }
}

/** The path a failed write names in its message, when the error gives one. */
function pathOf(err: unknown): string | null {
  for (let e = err as { path?: unknown; message?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.path === 'string') return e.path;
    const m = typeof e.message === 'string' ? /(?:file|open|write|writing)\s+"?'?(\/[^\s"':]+)/i.exec(e.message) : null;
    if (m) return m[1];
  }
  return null;
}

/**
 * A write failure, said as a person needs it: which store, which path, the errno and what it means, and the free
 * space on that volume. `where` names the store (e.g. "artifact store /srv/lumen/artifacts").
 */
export function storeWriteError(where: string, root: string, err: unknown, at?: string): StoreWriteError | null {
  const code = writeErrno(err);
  if (!code) return null;
  const target = at ?? pathOf(err) ?? root;
  return new StoreWriteError(
    `${where} cannot be written: ${code} (${MEANING[code]}) writing ${target}; ${freeSpace(target)}`,
    { code, path: target, store: root },
  );
}

/**
 * mkdir -p that says why it failed: Node's recursive mkdir reports ENOENT when the volume is read-only (it walks up
 * looking for a parent to create), which would read as "missing", not "read-only".
 */
export function makeFolder(dir: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT') throw err;
    const parent = dir.slice(0, dir.lastIndexOf('/'));
    if (!parent || parent === dir) throw err;
    makeFolder(parent);
    try {
      fs.mkdirSync(dir);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}
