import os from 'node:os';
import { escapeUnprintable, identityProblem } from '../lib/access/identity';
import { CliError } from './errors';

/**
 * Who a person is, for the records of approvals, releases and champion moves: an explicit --actor, else the
 * operating-system account running the command, else $USER. Never "unknown": a record without a name is refused.
 */
export function actor(explicit?: string): string {
  if (explicit !== undefined && explicit.trim()) {
    const problem = identityProblem(explicit.trim());
    if (problem) throw new CliError(`--actor ${escapeUnprintable(JSON.stringify(explicit))}: ${problem}`);
    return explicit.trim();
  }
  try {
    const name = os.userInfo().username;
    if (name) return name;
  } catch {
    // no passwd entry for this uid (e.g. a container): fall through
  }
  if (process.env.USER?.trim()) return process.env.USER.trim();
  throw new CliError('cannot tell who you are (no OS user name, no $USER): pass --actor <name>');
}
