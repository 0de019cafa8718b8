import { Command, CommanderError, Option } from 'commander';
import type { Task } from '../lib/spec';
import { EXIT, explain } from '../client/errors';
import { keepFilesPrivate } from '../lib/config';
import { SOURCE_FORMATS } from '../lib/data/formats';

/**
 * The `lumen` command line. Each command loads only what it needs, so a command that reads the registry answers
 * in a fraction of a second; the compiled JavaScript (dist/, built by set-up) is what `npx lumen` runs.
 * Exit codes: client/errors.ts (EXIT) and docs/operating.md.
 */

const actorOption = (): Option =>
  new Option('--actor <name>', 'who decides, for the record (default: your OS user name)');
/** the earlier spelling of --actor */
const byOption = (): Option => new Option('--by <name>').hideHelp();
const jsonOption = (): Option => new Option('--json', 'machine-readable output');

/** `--format`: how to read a source whose extension does not say (every command that reads one). */
function sourceFormatOption(): Option {
  return new Option('--format <format>', 'source format (default: from extension)').choices(SOURCE_FORMATS);
}

export function buildProgram(): Command {
  const program = new Command('lumen')
    .description('Lumen: machine-learning pipelines as durable Temporal workflows')
    .version(packageVersion(), '-V, --version', 'the version of Lumen')
    // program options (--version) only before the command: `approve m --version 3` is the command's own option
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError('(lumen <command> --help for its options)');

  program
    .command('start')
    .description('train a model on a batch of data: ingest → validate → train → evaluate → register → promote')
    .argument('<spec>', 'model spec JSON file')
    .requiredOption('--source <uri>', 'data file: path, file:// URI or vega-datasets:<file>')
    .option('--month <YYYY-MM>', "only this month of the spec's time column")
    .addOption(sourceFormatOption())
    .option('--wait', 'keep following while the run waits for a person (quarantine, approval)')
    .option('--detach', 'return as soon as the run is started')
    .addHelpText(
      'after',
      '\nExit codes: 0 the run ended (its outcome is printed), 2 it failed, 3 it waits for a person (the command\n' +
        'that decides is printed; --wait keeps following), 4 the command could not run.',
    )
    .addOption(actorOption())
    .addOption(jsonOption())
    .action(async (spec: string, opts: Parameters<typeof import('./start-command').startCommand>[1]) =>
      (await import('./start-command')).startCommand(spec, opts),
    );

  program
    .command('status')
    .description('show a pipeline run: its stage, or its result')
    .argument('<workflowId>')
    .addOption(jsonOption())
    .action(async (id: string, opts: Parameters<typeof import('./start-command').statusCommand>[1]) =>
      (await import('./start-command')).statusCommand(id, opts),
    );

  program
    .command('models')
    .description('every model with its champion, or the versions of one model')
    .argument('[model]')
    .addOption(jsonOption())
    .action(
      async (model: string | undefined, opts: Parameters<typeof import('./registry-commands').modelsCommand>[1]) =>
        (await import('./registry-commands')).modelsCommand(model, opts),
    );

  program
    .command('lineage')
    .description('how a model version came to be: lineage <model>@<version>, or lineage dataset <sha256>')
    .argument('<ref>', '<model>@<version>, or the word "dataset"')
    .argument('[hash]', 'dataset sha256 (with "dataset")')
    .addOption(jsonOption())
    .action(
      async (
        ref: string,
        hash: string | undefined,
        opts: Parameters<typeof import('./registry-commands').lineageCommand>[2],
      ) => (await import('./registry-commands')).lineageCommand(ref, hash, opts),
    );

  const quarantine = program.command('quarantine').description('batches that failed validation and wait for a person');
  quarantine
    .command('list')
    .argument('[model]')
    .addOption(jsonOption())
    .action(
      async (
        model: string | undefined,
        opts: Parameters<typeof import('./registry-commands').quarantineListCommand>[1],
      ) => (await import('./registry-commands')).quarantineListCommand(model, opts),
    );
  for (const kind of ['release', 'discard'] as const) {
    quarantine
      .command(kind)
      .description(kind === 'release' ? 'train on the batch anyway' : 'drop the batch')
      .argument('<target>', 'workflow id, or 12+ characters of the batch sha256')
      .requiredOption('--reason <text>', 'why (recorded in lineage)')
      .addOption(actorOption())
      .addOption(byOption())
      .action(async (target: string, opts: Parameters<typeof import('./quarantine-commands').decideQuarantine>[2]) =>
        (await import('./quarantine-commands')).decideQuarantine(kind, target, opts),
      );
  }

  for (const kind of ['approve', 'reject'] as const) {
    program
      .command(kind)
      .description(`${kind} a candidate waiting for approval`)
      .argument('<model>')
      .requiredOption('--version <n>', 'the candidate version (must be the one waiting)')
      .requiredOption('--comment <text>', 'why (recorded in lineage)')
      .addOption(actorOption())
      .addOption(byOption())
      .action(async (model: string, opts: Parameters<typeof import('./champion-commands').decideCandidate>[2]) =>
        (await import('./champion-commands')).decideCandidate(kind, model, opts),
      );
  }
  program
    .command('pending')
    .description('candidates waiting for approval')
    .argument('[model]')
    .addOption(jsonOption())
    .action(
      async (model: string | undefined, opts: Parameters<typeof import('./registry-commands').pendingCommand>[1]) =>
        (await import('./registry-commands')).pendingCommand(model, opts),
    );

  program
    .command('history')
    .description('alias history of a model; --at T: which version was champion at T')
    .argument('<model>')
    .option('--at <time>', 'ISO date/time')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('./registry-commands').historyCommand>[1]) =>
      (await import('./registry-commands')).historyCommand(model, opts),
    );

  program
    .command('rollback')
    .description('move the champion back (to the previous champion unless --to), load-checked and recorded')
    .argument('<model>')
    .option('--to <version>', 'the version to roll back to')
    .requiredOption('--reason <text>', 'why (recorded in the history)')
    .addOption(actorOption())
    .addOption(byOption())
    .option('--request-id <id>', 'idempotency key: repeating a request with the same id moves nothing twice')
    .action(async (model: string, opts: Parameters<typeof import('./champion-commands').changeChampion>[2]) =>
      (await import('./champion-commands')).changeChampion('rollback', model, opts),
    );
  program
    .command('promote')
    .description('make a registered version champion by hand, load-checked and recorded')
    .argument('<model>')
    .requiredOption('--version <n>', 'the version to promote')
    .requiredOption('--reason <text>', 'why (recorded in the history)')
    .option(
      '--override <why>',
      'promote a version that failed its gate, awaits approval, was rejected or failed its load check (audited)',
    )
    .addOption(actorOption())
    .addOption(byOption())
    .option('--request-id <id>', 'idempotency key')
    .action(async (model: string, opts: Parameters<typeof import('./champion-commands').changeChampion>[2]) =>
      (await import('./champion-commands')).changeChampion('promote', model, opts),
    );
  program
    .command('alias')
    .description('point a free-form alias (staging, shadow…) at a version, or "none" to remove it')
    .argument('<model>')
    .argument('<alias>')
    .argument('<version>', 'a version number, or "none"')
    .requiredOption('--reason <text>', 'why (recorded in the history)')
    .addOption(actorOption())
    .addOption(byOption())
    .action(
      async (
        model: string,
        alias: string,
        version: string,
        opts: Parameters<typeof import('./champion-commands').setAlias>[3],
      ) => (await import('./champion-commands')).setAlias(model, alias, version, opts),
    );
  program
    .command('verify')
    .description(
      "re-check a version's bytes and load it in a fresh process (default: the champion); clears a failed check",
    )
    .argument('<model>', '<model> (its champion) or <model>@<version>')
    .addOption(actorOption())
    .addOption(jsonOption())
    .action(async (ref: string, opts: Parameters<typeof import('./champion-commands').verifyCommand>[1]) =>
      (await import('./champion-commands')).verifyCommand(ref, opts),
    );

  const keys = program.command('keys').description('signing keys: who may sign decisions (docs/security.md)');
  keys
    .command('generate')
    .description('make your signing key (Ed25519); prints the public key an admin registers')
    .argument('<person>', 'your name, as access.json gives you roles')
    .option('--out <file>', 'where to write it (default: LUMEN_KEY_FILE, else ~/.config/lumen/signing-key.json)')
    .action(async (person: string, opts: { out?: string }) =>
      (await import('./access-commands')).keysGenerateCommand(person, opts),
    );
  keys
    .command('add')
    .description("register a person's public key (an admin signs this; the first admin's key bootstraps)")
    .argument('<person>')
    .argument('<public-key-file>', 'PEM, as lumen keys generate wrote it')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .action(async (person: string, file: string, opts: { reason: string }) =>
      (await import('./access-commands')).keysAddCommand(person, file, opts),
    );
  keys
    .command('revoke')
    .description('revoke a key: nothing it signs is accepted any more (an admin signs this)')
    .argument('<key-id>')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .action(async (keyId: string, opts: { reason: string }) =>
      (await import('./access-commands')).keysRevokeCommand(keyId, opts),
    );
  keys
    .command('list')
    .description('registered keys, their owners and roles')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }) => (await import('./access-commands')).keysListCommand(opts));
  program
    .command('audit')
    .description('who decided what about a model: decisions (accepted or refused), changes, automatic actions')
    .argument('<model>', 'a model, or "*" for key changes')
    .option('--since <time>', 'a time (ISO 8601) or a span back from now: 90m, 24h, 7d')
    .option('--limit <n>', 'the newest n events', '200')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('./access-commands').auditCommand>[1]) =>
      (await import('./access-commands')).auditCommand(model, opts),
    );
  const policy = program
    .command('policy')
    .description("a model's registered policy: its gate, approvals and monitor, binding every run (docs/security.md)");
  policy
    .command('show')
    .argument('<model>')
    .option('--history', 'every version, who set it and why')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('./policy-commands').policyShow>[1]) =>
      (await import('./policy-commands')).policyShow(model, opts),
    );
  policy
    .command('set')
    .description('register the next version of the policy (an admin, signed)')
    .argument('<model>')
    .requiredOption('--from <file>', 'JSON with "gate" and optionally "monitor", or a model spec (its sections)')
    .requiredOption('--reason <text>', 'why (kept in the audit trail)')
    .addOption(actorOption())
    .action(async (model: string, opts: Parameters<typeof import('./policy-commands').policySet>[1]) =>
      (await import('./policy-commands')).policySet(model, opts),
    );
  program
    .command('alerts')
    .description('recent alerts')
    .argument('[model]')
    .option('--limit <n>', 'how many', '20')
    .addOption(jsonOption())
    .action(
      async (model: string | undefined, opts: Parameters<typeof import('./registry-commands').alertsCommand>[1]) =>
        (await import('./registry-commands')).alertsCommand(model, opts),
    );

  program
    .command('check')
    .description('validate a batch against a spec here, with no server: exit 0 pass, 1 warn, 2 fail')
    .argument('<spec>', 'model spec JSON file')
    .requiredOption('--source <uri>', 'the batch: path, file:// URI or vega-datasets:<file>')
    .option('--month <YYYY-MM>', "only this month of the spec's time column")
    .addOption(sourceFormatOption())
    .option('--reference <uri>', 'data to measure drift against (e.g. what the current model was trained on)')
    .option('--reference-month <YYYY-MM>', 'only this month of the reference')
    .addOption(jsonOption())
    .action(async (spec: string, opts: Parameters<typeof import('./check-command').checkCommand>[1]) =>
      (await import('./check-command')).checkCommand(spec, opts),
    );

  program
    .command('replay-check')
    .description("replay every open run with this build's workflow code: exit 0 when all replay, 2 when one does not")
    .option('--query <visibility query>', 'the runs to replay (default: every open run)')
    .addOption(jsonOption())
    .action(async (opts: Parameters<typeof import('./replay-command').replayCommand>[0]) =>
      (await import('./replay-command')).replayCommand(opts),
    );

  program
    .command('schema')
    .description('data contracts')
    .command('infer')
    .description('propose a model spec (with --label) or a contract from a first dataset')
    .argument('<source>', 'data file: path, file:// URI or vega-datasets:<file>')
    .option('--label <column>', 'the column to predict: propose a whole spec')
    .addOption(
      new Option('--task <task>', 'default: from the label column').choices(['binary', 'multiclass', 'regression']),
    )
    .option('--name <name>', 'model name (default: from the file name)')
    .addOption(sourceFormatOption())
    .option('--window <column:start:end>', 'only rows with start <= column < end')
    .action(
      async (uri: string, opts: { label?: string; task?: Task; name?: string; format?: string; window?: string }) => {
        const { inferCommand } = await import('./registry-commands');
        const { CliError } = await import('../client/errors');
        const source: {
          uri: string;
          format?: 'parquet' | 'csv' | 'json';
          window?: { column: string; start: string; end: string };
        } = { uri };
        if (opts.format) source.format = opts.format as 'parquet' | 'csv' | 'json';
        if (opts.window) {
          const [column, start, end] = opts.window.split(':');
          if (!column || !start || !end)
            throw new CliError(`--window must be <column:start:end>, got "${opts.window}"`);
          source.window = { column, start, end };
        }
        return inferCommand(source, opts);
      },
    );

  program
    .command('predict')
    .description('score a file with a registered version (default: the champion), as the HTTP API would')
    .argument('<model>', '<model> (its champion) or <model>@<version>')
    .requiredOption('--source <uri>', 'rows to score: path, file:// URI or vega-datasets:<file>')
    .requiredOption('--out <file>', 'where to write the rows with their predictions: .parquet, .csv or .jsonl')
    .addOption(sourceFormatOption())
    .addOption(
      new Option('--out-format <format>', 'output format (default: from the --out extension)').choices([
        'parquet',
        'csv',
        'jsonl',
      ]),
    )
    .addOption(jsonOption())
    .action(async (ref: string, opts: Parameters<typeof import('./predict-command').predictCommand>[1]) =>
      (await import('./predict-command')).predictCommand(ref, opts),
    );

  const monitor = program
    .command('monitor')
    .description("the model's monitor: health checks over served traffic, alerts, automatic retrains and rollbacks");
  monitor
    .command('start')
    .description('start the monitor of a model (it starts by itself with the first promotion)')
    .argument('<model>')
    .action(async (model: string) => (await import('./monitor-commands')).monitorStartCommand(model));
  monitor
    .command('status')
    .description('what the monitor knows: last checks, open incidents, actions taken')
    .argument('<model>')
    .addOption(jsonOption())
    .action(async (model: string, opts: { json?: boolean }) =>
      (await import('./monitor-commands')).monitorStatusCommand(model, opts),
    );
  monitor
    .command('report')
    .description('stored health checks over time (no server needed): a table, --json, or --html with charts')
    .argument('<model>')
    .option('--since <time>', 'checks whose window ends after this time (ISO 8601)')
    .option('--limit <n>', 'at most this many (the newest)')
    .option('--html <file>', 'also write an HTML page with charts over time')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('./monitor-commands').monitorReportCommand>[1]) =>
      (await import('./monitor-commands')).monitorReportCommand(model, opts),
    );
  const signals = [
    ['check', 'checkNow', 'run a health check now', false],
    ['pause', 'pause', 'stop checks and automatic actions until resumed', true],
    ['resume', 'resume', 'resume checks and actions (checks at once)', true],
    ['rollback', 'rollback', 'roll the champion back through the monitor (recorded with the monitor)', true],
    ['retrain', 'retrain', 'retrain now on the newest accepted data plus labelled feedback', true],
  ] as const;
  for (const [name, signal, description, needsReason] of signals) {
    const cmd = monitor.command(name).description(description).argument('<model>');
    if (needsReason) cmd.requiredOption('--reason <text>', 'why (recorded)');
    else cmd.option('--reason <text>', 'why (recorded)');
    if (name === 'rollback') cmd.option('--to <version>', 'the version to go back to (default: the previous champion)');
    cmd
      .option('--request-id <id>', 'idempotency key: the same request acts once')
      .addOption(actorOption())
      .action(async (model: string, opts: Parameters<typeof import('./monitor-commands').monitorSignal>[2]) =>
        (await import('./monitor-commands')).monitorSignal(signal, model, opts),
      );
  }
  monitor
    .command('policy')
    .description("change the running monitor's policy (fields merge into the current one; validated first)")
    .argument('<model>')
    .requiredOption('--set <json>', 'e.g. \'{"everyMinutes": 1, "drift": {"action": "alert"}}\'')
    .requiredOption('--reason <text>', 'why (recorded)')
    .addOption(actorOption())
    .action(async (model: string, opts: Parameters<typeof import('./monitor-commands').monitorPolicyCommand>[1]) =>
      (await import('./monitor-commands')).monitorPolicyCommand(model, opts),
    );

  const schedule = program
    .command('schedule')
    .description('periodic training as Temporal Schedules (overlap: skip; pauses itself after repeated failures)');
  schedule
    .command('create')
    .description('train a model on a schedule: on a source file as it is then, or on accepted data plus feedback')
    .argument('<model>')
    .option('--every <duration>', 'e.g. "6 hours", "1d", "30m"')
    .option('--cron <expression>', 'e.g. "0 2 * * *" (02:00 every day, UTC)')
    .option('--source <uri>', 'train on this file as it is at each run (default: accepted data plus feedback)')
    .addOption(sourceFormatOption())
    .option('--spec <file>', "the spec to train with (default: the champion's)")
    .option('--id <id>', 'schedule id (default train:<model>)')
    .option('--max-failures <n>', 'pause after this many failed runs in a row', '3')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown with the schedule')
    .addOption(actorOption())
    .action(async (model: string, opts: Parameters<typeof import('./schedule-commands').scheduleCreate>[1]) =>
      (await import('./schedule-commands')).scheduleCreate(model, opts),
    );
  schedule
    .command('list')
    .description('training schedules: state, next and last run')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }) => (await import('./schedule-commands')).scheduleList(opts));
  schedule
    .command('show')
    .description("a schedule's state, next runs and recorded runs")
    .argument('<id>')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }) =>
      (await import('./schedule-commands')).scheduleShow(id, opts),
    );
  for (const kind of ['pause', 'resume', 'trigger', 'delete'] as const) {
    schedule
      .command(kind)
      .description(
        { pause: 'stop starting runs', resume: 'start runs again', trigger: 'start a run now', delete: 'remove it' }[
          kind
        ],
      )
      .argument('<id>')
      .option('--reason <text>', 'why (kept in the schedule note)')
      .addOption(actorOption())
      .action(async (id: string, opts: { reason?: string; actor?: string }) =>
        (await import('./schedule-commands')).scheduleChange(kind, id, opts),
      );
  }

  const inbox = program.command('inbox').description('a folder whose arriving files train a model, each content once');
  inbox
    .command('watch')
    .description('watch a folder: every settled Parquet/CSV/JSON file starts the pipeline once per content')
    .argument('<model>')
    .requiredOption('--dir <folder>', 'the folder to watch')
    .option('--spec <file>', "the spec to train with (default: the champion's)")
    .option('--every <seconds>', 'seconds between scans', '10')
    .addOption(actorOption())
    .action(async (model: string, opts: Parameters<typeof import('./inbox-commands').inboxWatch>[1]) =>
      (await import('./inbox-commands')).inboxWatch(model, opts),
    );
  inbox
    .command('status')
    .description('what arrived and which training run it started')
    .argument('<model>')
    .addOption(jsonOption())
    .action(async (model: string, opts: { json?: boolean }) =>
      (await import('./inbox-commands')).inboxStatus(model, opts),
    );
  inbox
    .command('stop')
    .description('stop watching (files already in the folder stay)')
    .argument('<model>')
    .option('--reason <text>', 'why')
    .addOption(actorOption())
    .action(async (model: string, opts: { reason?: string; actor?: string }) =>
      (await import('./inbox-commands')).inboxStop(model, opts),
    );

  const serving = program.command('serving').description("how a model's traffic is split: champion, canary, shadow");
  serving
    .command('show')
    .argument('<model>')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('./serving-commands').servingShow>[1]) =>
      (await import('./serving-commands')).servingShow(model, opts),
    );
  serving
    .command('set')
    .description('route a share of requests to a canary version, and/or mirror all of them to a shadow version')
    .argument('<model>')
    .option('--canary <version>', 'the version that answers a share of requests')
    .option('--share <0-1>', "the canary's share (sticky per X-Lumen-Routing-Key)")
    .option('--no-canary', 'stop the canary')
    .option('--shadow <version>', 'a version that sees every request, its answers only logged')
    .option('--no-shadow', 'stop the shadow')
    .requiredOption('--reason <text>', 'why (recorded)')
    .option(
      '--override <why>',
      'let a version that failed its gate, was rejected or failed its load check take a canary share (audited)',
    )
    .addOption(actorOption())
    .action(async (model: string, opts: Parameters<typeof import('./serving-commands').servingSet>[1]) =>
      (await import('./serving-commands')).servingSet(model, opts),
    );

  program
    .command('serve')
    .description('serve predictions over HTTP for every model with a champion (docs/serving.md) until Ctrl-C')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', '8080')
    .option('--max-batch <rows>', 'most rows in one model call', '256')
    .option(
      '--max-wait-ms <ms>',
      'how long a request may wait for others to batch with (0: only those that arrived in the same turn)',
      '0',
    )
    .option('--body-limit <bytes>', 'largest request body', String(1024 * 1024))
    .option('--max-rows <n>', 'most rows in one request', '10000')
    .option(
      '--rate-limit <n>',
      'requests per second per client (0: no limit); behind a proxy, set --trust-proxy too',
      '0',
    )
    .option(
      '--trust-proxy <addresses>',
      'reverse proxies whose X-Forwarded-For names the client: IPs or CIDR ranges, comma-separated',
    )
    .option('--watch-ms <ms>', 'how often the registry is read for alias moves', '2000')
    .option('--no-log', 'do not log predictions')
    .option('--log-retention-days <days>', 'days of prediction log kept', '30')
    .addOption(
      new Option(
        '--log-fsync <when>',
        'when logged predictions reach the disk: always (before each answer), interval, never (the OS decides)',
      )
        .choices(['always', 'interval', 'never'])
        .default('interval'),
    )
    .option('--log-fsync-every-ms <ms>', 'with --log-fsync interval: how often', '1000')
    .option('--cors-origin <origin>', 'allow browser requests from this origin (default: CORS off)')
    .addOption(
      new Option(
        '--console <mode>',
        'the web console at /ui: on, off, or behind-proxy (an authenticating proxy is in front: needed on a ' +
          'non-loopback address while access control is on)',
      )
        .choices(['on', 'off', 'behind-proxy'])
        .default('on'),
    )
    .action(async (opts: import('./serve-command').ServeCommandOptions) =>
      (await import('./serve-command')).serveCommand(opts),
    );

  program
    .command('server')
    .description('run a local Temporal dev server for Lumen (state in LUMEN_HOME, Web UI on 8233) until Ctrl-C')
    .option('--port <port>', 'gRPC port (default: from TEMPORAL_ADDRESS, 7233)')
    .option('--ui-port <port>', 'Web UI port', '8233')
    .option('--headless', 'no Web UI')
    .action(async (opts: Parameters<typeof import('./server-command').serverCommand>[0]) =>
      (await import('./server-command')).serverCommand(opts),
    );

  program
    .command('demo')
    .description('start a dev server and workers, feed months of real 2001 flights as batches, print each result')
    .option('--months <list>', 'comma-separated months of flights to feed as batches, in order', '2001-01')
    .option('--keep', 'keep the server and workers running to explore the Web UI (Ctrl-C stops them)')
    .option('--loop', 'the whole loop, live: January to June as traffic, drift, retraining, faults (about 10 minutes)')
    .option('--seed <n>', '--loop: the seed every choice of rows follows', '2001')
    .option('--approve <who>', '--loop: auto (the auto-approver decides) or ask (you decide at a prompt)', 'auto')
    .action(async (opts: { months: string; keep?: boolean; loop?: boolean; seed: string; approve: string }) =>
      opts.loop ? (await import('../demo/demo-loop')).runLoopDemo(opts) : (await import('../demo/demo')).runDemo(opts),
    );

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

export async function main(argv = process.argv): Promise<number> {
  keepFilesPrivate();
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
