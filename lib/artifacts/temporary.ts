import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processRunning, processStart } from '../processes';
import { makeFolder } from './write-failure';

/**
 * Temporary files in a store's working folder (<root>/.tmp): each named by the process that made it, so that what a
 * process leaves behind can be found and removed — by the work that made it once that work ends (failed or not:
 * `withTemporaryFiles`), and, for a process that died, by the next worker to start on the host
 * (`removeOrphanedTemporaries`).
 *
 * Names: <hint>-<owner>-<uuid>[ext], owner = h<host hash>p<pid>s<process start>.
 */

const HOST = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
const OWNER = `h${HOST}p${process.pid}s${processStart(process.pid) ?? '0'}`;
const NAME = /-h([0-9a-f]{8})p(\d+)s(\d+)-[0-9a-f-]{36}/;

/** The temporary paths handed out within one piece of work. */
const scope = new AsyncLocalStorage<Set<string>>();

/** A name for something temporary this process makes, that says whose it is (`removeOrphansIn` reads it). */
export function ownedName(hint: string): string {
  return `${hint}-${OWNER}-${randomUUID()}`;
}

export function temporaryPath(root: string, hint: string): string {
  const dir = path.join(root, '.tmp');
  makeFolder(dir);
  const at = path.join(dir, ownedName(hint));
  scope.getStore()?.add(at);
  return at;
}

/**
 * Run a piece of work (an activity) and remove every temporary path it was handed that is still there once it ends,
 * however it ends — with any suffix its caller added (`<path>.parquet`). What the work stored is gone from .tmp
 * already (stored by rename).
 */
export async function withTemporaryFiles<T>(fn: () => Promise<T>): Promise<T> {
  const handed = new Set<string>();
  try {
    return await scope.run(handed, fn);
  } finally {
    removeHanded(handed);
  }
}

function removeHanded(handed: Set<string>): void {
  const byDir = new Map<string, string[]>();
  for (const at of handed) byDir.set(path.dirname(at), [...(byDir.get(path.dirname(at)) ?? []), path.basename(at)]);
  for (const [dir, bases] of byDir) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (bases.some((b) => name.startsWith(b))) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

/** Not heard of for this long, a temporary file of another host's process is taken to be left behind. */
const FOREIGN_AFTER_MS = 24 * 3_600_000;

/**
 * Remove the temporary files of processes that are gone: this host's whose pid no longer runs (or runs another
 * process), another host's once a day old. Returns how many were removed.
 */
export function removeOrphanedTemporaries(root: string, now = Date.now()): number {
  return removeOrphansIn(path.join(root, '.tmp'), now);
}

/** Remove what processes that are gone left in a folder of owned names (`ownedName`); see above. */
export function removeOrphansIn(dir: string, now = Date.now()): number {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = NAME.exec(name);
    const at = path.join(dir, name);
    let gone: boolean;
    if (!m) {
      // named before owners were: old enough, it is nobody's
      gone = ageOf(at, now) > FOREIGN_AFTER_MS;
    } else if (m[1] === HOST) {
      gone = !processRunning(Number(m[2]), m[3] === '0' ? null : m[3]);
    } else {
      gone = ageOf(at, now) > FOREIGN_AFTER_MS;
    }
    if (gone) {
      fs.rmSync(at, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

function ageOf(at: string, now: number): number {
  try {
    return now - fs.statSync(at).mtimeMs;
  } catch {
    return 0;
  }
}
