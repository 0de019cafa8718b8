import { Option } from 'commander';
import { SOURCE_FORMATS } from '../../lib/data/formats';

// Options several commands share, spelled once.

export const actorOption = (): Option =>
  new Option('--actor <name>', 'who decides, for the record (default: your OS user name)');
/** the earlier spelling of --actor */
export const byOption = (): Option => new Option('--by <name>').hideHelp();
export const jsonOption = (): Option => new Option('--json', 'machine-readable output');

/** `--format`: how to read a source whose extension does not say (every command that reads one). */
export function sourceFormatOption(): Option {
  return new Option('--format <format>', 'source format (default: from extension)').choices(SOURCE_FORMATS);
}
