import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * The code version recorded in lineage: LUMEN_CODE_VERSION if set (container images have no .git), otherwise the
 * git commit, marked "-dirty" when the work tree has uncommitted changes.
 */
export function codeVersion(cwd = path.resolve(__dirname, '..')): string {
  if (process.env.LUMEN_CODE_VERSION) return process.env.LUMEN_CODE_VERSION;
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: 'pipe' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      encoding: 'utf8',
      stdio: 'pipe',
    }).trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}
