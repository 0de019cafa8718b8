import { CliError } from '../client/errors';
import { traceUrlTemplate } from '../lib/telemetry';

/**
 * LUMEN_TRACE_URL for a command that shows trace ids, checked before the command reads anything: a wrong one is the
 * command's error, not a broken link later.
 */
export function tracesTemplate(): string | null {
  try {
    return traceUrlTemplate();
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
