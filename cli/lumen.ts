import { Command, CommanderError } from 'commander';
import { EXIT, explain } from '../client/errors';
import { keepFilesPrivate } from '../lib/config';
import { startTracing, tracingWanted, type Tracing } from '../lib/telemetry';
import { addDataCommands } from './program/data';
import { addDecisionCommands } from './program/decisions';
import { addOperationsCommands } from './program/operations';

/**
 * The `lumen` command line. Each command loads only what it needs, so a command that reads the registry answers
 * in a fraction of a second; the compiled JavaScript (dist/, built by set-up) is what `./lumen` and `npx lumen` run.
 * Exit codes: client/errors.ts (EXIT) and docs/operating.md.
 */

export function buildProgram(): Command {
  const program = new Command('lumen')
    .description('Lumen: machine-learning pipelines as durable Temporal workflows')
    .version(packageVersion(), '-V, --version', 'the version of Lumen')
    // program options (--version) only before the command: `approve m --version 3` is the command's own option
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError('(lumen <command> --help for its options)');

  addDataCommands(program);
  addDecisionCommands(program);
  addOperationsCommands(program);

  return program;
}

function packageVersion(): string {
  // cli/lumen.ts sits one level below package.json, its compiled dist/cli/lumen.js two
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pkg = require(candidate) as { name?: string; version: string };
      if (pkg.name === 'lumen') return pkg.version;
    } catch {
      // try the next
    }
  }
  return 'unknown';
}

/** The Temporal address the commands use, for messages; undefined when the settings do not even load. */
function configuredAddress(): string | undefined {
  try {
    // loaded here, on a failure only: the commands that never talk to Temporal start without it
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../client/connection') as typeof import('../client/connection')).clientConfig().address;
  } catch {
    return undefined;
  }
}

/**
 * A command named with --help that does not exist: commander would print the general help and exit 0, as if the
 * command were fine. The unknown name is an error, the same as without --help.
 */
function unknownCommandAsked(program: Command, args: string[]): string | null {
  if (!args.includes('--help') && !args.includes('-h')) return null;
  let at: Command = program;
  for (const word of args) {
    if (word.startsWith('-')) continue;
    if (at.commands.length === 0) return null; // an argument of a leaf command
    const next = at.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) return word === 'help' ? null : `${at === program ? '' : `${at.name()} `}${word}`;
    at = next;
  }
  return null;
}

/**
 * Commands that run until stopped (and `stream score`): not one trace for their whole life, but one per request
 * they answer (serve/tracing.ts); a Temporal dev server or a Kafka broker answers none of Lumen's own.
 */
const UNTIL_STOPPED = new Set(['serve', 'server', 'kafka']);

export async function main(argv = process.argv): Promise<number> {
  keepFilesPrivate();
  if (!tracingWanted()) return run(argv);
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const command = words[0] ?? '(none)';
  if (UNTIL_STOPPED.has(command) || (command === 'stream' && words[1] === 'score')) {
    // a process that serves for as long as it runs: each request it answers is a trace of its own (serve/tracing.ts).
    // One that answers predictions does not start with tracing asked for and broken, as a worker does not: it would
    // serve for months untraced, said once at its start
    const serves = command === 'serve' || command === 'stream';
    let tracing: Tracing | null;
    try {
      tracing = await startTracing('lumen-serve');
    } catch (err) {
      if (serves) {
        console.error(`lumen: cannot start tracing (OTEL_* settings): ${(err as Error).message}`);
        return EXIT.usage;
      }
      console.error(`lumen: tracing is off: ${(err as Error).message}`);
      tracing = null;
    }
    const code = await run(argv);
    await tracing?.shutdown();
    return code;
  }
  // the command is the root of its trace: the run it starts, and that run's activities on any worker, join it
  const tracing = await tracingOrNot('lumen-cli');
  if (!tracing) return run(argv);
  const { trace, SpanStatusCode } = await import('@opentelemetry/api');
  const code = await trace
    .getTracer('lumen')
    .startActiveSpan(`lumen ${command}`, { attributes: { 'lumen.command': command } }, async (span) => {
      const exitCode = await run(argv);
      span.setAttribute('lumen.exit_code', exitCode);
      if (exitCode !== EXIT.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: `exit code ${exitCode}` });
      span.end();
      return exitCode;
    });
  // what is buffered leaves before the process does; a collector that is away is not the command's failure
  await tracing.shutdown();
  return code;
}

/** Traces as the environment asks; if they cannot be started, the command runs without them, and says why. */
async function tracingOrNot(service: string): Promise<Tracing | null> {
  try {
    return await startTracing(service);
  } catch (err) {
    console.error(`lumen: tracing is off: ${(err as Error).message}`);
    return null;
  }
}

async function run(argv: string[]): Promise<number> {
  try {
    const program = buildProgram();
    const unknown = unknownCommandAsked(program, argv.slice(2));
    if (unknown) {
      console.error(`lumen: unknown command '${unknown}' (lumen --help lists the commands)`);
      return EXIT.usage;
    }
    await program.parseAsync(argv);
    return Number(process.exitCode ?? EXIT.ok);
  } catch (err) {
    // commander has already printed its own message (unknown option, missing argument, --help, --version)
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const { message, exitCode } = explain(err, configuredAddress());
    console.error(`lumen: ${message}`);
    if (process.env.LUMEN_DEBUG) console.error(err);
    return exitCode;
  }
}

if (require.main === module) {
  void main().then((code) => process.exit(code));
}
