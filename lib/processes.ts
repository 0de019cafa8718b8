import fs from 'node:fs';

/**
 * Whether a process that left files behind still runs: its pid, and the time it started (a pid is used again by
 * another process soon enough). Used for what a dead process leaves: prediction-log files written ahead, temporary
 * files.
 */

/** When a process started, as the kernel counts it (Linux); null where /proc is not there. */
export function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command may hold spaces and parentheses: fields are counted after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** The process with this pid runs, and is the one that started then (when that is known). */
export function processRunning(pid: number, started: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: alive, another user's
  }
  const now = processStart(pid);
  return started === null || now === null || now === started;
}
