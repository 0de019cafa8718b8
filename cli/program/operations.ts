import { Option, type Command } from 'commander';
import { actorOption, jsonOption, sourceFormatOption } from './options';

/** The running loop: alerts, monitors, schedules, the inbox, traffic policy, serving, the local server, the demos, the replay check. */
export function addOperationsCommands(program: Command): void {
  program
    .command('alerts')
    .description('recent alerts')
    .argument('[model]')
    .option('--limit <n>', 'how many', '20')
    .addOption(jsonOption())
    .action(
      async (model: string | undefined, opts: Parameters<typeof import('../registry-commands').alertsCommand>[1]) =>
        (await import('../registry-commands')).alertsCommand(model, opts),
    );

  program
    .command('replay-check')
    .description("replay every open run with this build's workflow code: exit 0 when all replay, 2 when one does not")
    .option('--query <visibility query>', 'the runs to replay (default: every open run)')
    .addOption(jsonOption())
    .action(async (opts: Parameters<typeof import('../replay-command').replayCommand>[0]) =>
      (await import('../replay-command')).replayCommand(opts),
    );

  const monitor = program
    .command('monitor')
    .description("the model's monitor: health checks over served traffic, alerts, automatic retrains and rollbacks");
  monitor
    .command('start')
    .description('start the monitor of a model (it starts by itself with the first promotion)')
    .argument('<model>')
    .action(async (model: string) => (await import('../monitor-commands')).monitorStartCommand(model));
  monitor
    .command('status')
    .description('what the monitor knows: last checks, open incidents, actions taken')
    .argument('<model>')
    .addOption(jsonOption())
    .action(async (model: string, opts: { json?: boolean }) =>
      (await import('../monitor-commands')).monitorStatusCommand(model, opts),
    );
  monitor
    .command('report')
    .description('stored health checks over time (no server needed): a table, --json, or --html with charts')
    .argument('<model>')
    .option('--since <time>', 'checks whose window ends after this time (ISO 8601)')
    .option('--limit <n>', 'at most this many (the newest)')
    .option('--html <file>', 'also write an HTML page with charts over time')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('../monitor-commands').monitorReportCommand>[1]) =>
      (await import('../monitor-commands')).monitorReportCommand(model, opts),
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
      .action(async (model: string, opts: Parameters<typeof import('../monitor-commands').monitorSignal>[2]) =>
        (await import('../monitor-commands')).monitorSignal(signal, model, opts),
      );
  }
  monitor
    .command('policy')
    .description("change the running monitor's policy (fields merge into the current one; validated first)")
    .argument('<model>')
    .requiredOption('--set <json>', 'e.g. \'{"everyMinutes": 1, "drift": {"action": "alert"}}\'')
    .requiredOption('--reason <text>', 'why (recorded)')
    .addOption(actorOption())
    .action(async (model: string, opts: Parameters<typeof import('../monitor-commands').monitorPolicyCommand>[1]) =>
      (await import('../monitor-commands')).monitorPolicyCommand(model, opts),
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
    .action(async (model: string, opts: Parameters<typeof import('../schedule-commands').scheduleCreate>[1]) =>
      (await import('../schedule-commands')).scheduleCreate(model, opts),
    );
  schedule
    .command('list')
    .description('training schedules: state, next and last run')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }) => (await import('../schedule-commands')).scheduleList(opts));
  schedule
    .command('show')
    .description("a schedule's state, next runs and recorded runs")
    .argument('<id>')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }) =>
      (await import('../schedule-commands')).scheduleShow(id, opts),
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
        (await import('../schedule-commands')).scheduleChange(kind, id, opts),
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
    .action(async (model: string, opts: Parameters<typeof import('../inbox-commands').inboxWatch>[1]) =>
      (await import('../inbox-commands')).inboxWatch(model, opts),
    );
  inbox
    .command('status')
    .description('what arrived and which training run it started')
    .argument('<model>')
    .addOption(jsonOption())
    .action(async (model: string, opts: { json?: boolean }) =>
      (await import('../inbox-commands')).inboxStatus(model, opts),
    );
  inbox
    .command('stop')
    .description('stop watching (files already in the folder stay)')
    .argument('<model>')
    .option('--reason <text>', 'why')
    .addOption(actorOption())
    .action(async (model: string, opts: { reason?: string; actor?: string }) =>
      (await import('../inbox-commands')).inboxStop(model, opts),
    );

  const stream = program
    .command('stream')
    .description('Kafka streams: events in as validated batches that train, events scored, labels back');
  stream
    .command('ingest')
    .description('read a topic as windows of rows: each window is checked, landed as a batch and trains once')
    .argument('<model>')
    .requiredOption('--topic <topic>', 'the topic of events (JSON rows of the source columns)')
    .option('--spec <file>', "the spec to train with (default: the champion's)")
    .option('--window <rule>', "rows:<n>, hour or day (by the spec's time column)", 'rows:50000')
    .option('--idle <seconds>', 'a window with rows closes after this long without a new event', '30')
    .option('--dead-letter <topic>', 'where refused events go, with their reasons (default: <topic>.dlq)')
    .option('--max-event-bytes <n>', 'a larger event is refused (default 65536)')
    .addOption(actorOption())
    .action(async (model: string, opts: Parameters<typeof import('../stream-commands').streamIngest>[1]) =>
      (await import('../stream-commands')).streamIngest(model, opts),
    );
  addServeOptions(
    stream
      .command('score')
      .description(
        'answer every event of a topic with the champion (canary, shadow and hot swaps as served over HTTP) into another topic',
      )
      .argument('<model>')
      .requiredOption('--in <topic>', 'the topic of events to score (JSON rows of the source columns)')
      .requiredOption('--out <topic>', 'where the answers go, keyed like the events')
      .option('--group <id>', 'the consumer group (default: lumen-score-<model>-<in topic>)')
      .option('--labels <topic>', 'also read true labels from this topic: {"predictionId", "label"} per message'),
    { port: '0', maxBatch: '8192' },
  ).action(
    async (
      model: string,
      opts: import('../serve-command').ServeCommandOptions & {
        in: string;
        out: string;
        group?: string;
        labels?: string;
      },
    ) =>
      (await import('../serve-command')).serveCommand({
        ...opts,
        stream: {
          model,
          in: opts.in,
          out: opts.out,
          ...(opts.group ? { group: opts.group } : {}),
          ...(opts.labels ? { labels: opts.labels } : {}),
        },
      }),
  );
  stream
    .command('status')
    .description('the windows landed, their offsets and the training run each started')
    .argument('<model>')
    .requiredOption('--topic <topic>', 'the topic read')
    .addOption(jsonOption())
    .action(async (model: string, opts: { topic: string; json?: boolean }) =>
      (await import('../stream-commands')).streamStatus(model, opts),
    );
  stream
    .command('stop')
    .description('stop reading (landed windows keep their committed offsets; a restart goes on from there)')
    .argument('<model>')
    .requiredOption('--topic <topic>', 'the topic read')
    .option('--reason <text>', 'why')
    .addOption(actorOption())
    .action(async (model: string, opts: { topic: string; reason?: string; actor?: string }) =>
      (await import('../stream-commands')).streamStop(model, opts),
    );

  const serving = program.command('serving').description("how a model's traffic is split: champion, canary, shadow");
  serving
    .command('show')
    .argument('<model>')
    .addOption(jsonOption())
    .action(async (model: string, opts: Parameters<typeof import('../serving-commands').servingShow>[1]) =>
      (await import('../serving-commands')).servingShow(model, opts),
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
    .action(async (model: string, opts: Parameters<typeof import('../serving-commands').servingSet>[1]) =>
      (await import('../serving-commands')).servingSet(model, opts),
    );

  addServeOptions(
    program
      .command('serve')
      .description('serve predictions over HTTP for every model with a champion (docs/serving.md) until Ctrl-C'),
    { port: '8080', maxBatch: '256' },
  ).action(async (opts: import('../serve-command').ServeCommandOptions) =>
    (await import('../serve-command')).serveCommand(opts),
  );

  program
    .command('server')
    .description('run a local Temporal dev server for Lumen (state in LUMEN_HOME, Web UI on 8233) until Ctrl-C')
    .option('--port <port>', 'gRPC port (default: from TEMPORAL_ADDRESS, 7233)')
    .option('--ui-port <port>', 'Web UI port', '8233')
    .option('--headless', 'no Web UI')
    .action(async (opts: Parameters<typeof import('../server-command').serverCommand>[0]) =>
      (await import('../server-command')).serverCommand(opts),
    );

  program
    .command('kafka')
    .description('run a local Apache Kafka broker (KRaft, one node; state in LUMEN_HOME/kafka) until Ctrl-C')
    .option('--port <port>', 'the port clients connect to', '9092')
    .option('--controller-port <port>', 'the KRaft controller port (default: a free one)')
    .option('--partitions <n>', 'partitions of a topic created on first use', '1')
    .action(async (opts: Parameters<typeof import('../kafka-command').kafkaCommand>[0]) =>
      (await import('../kafka-command')).kafkaCommand(opts),
    );

  program
    .command('demo')
    .description('start a dev server and workers, feed months of real 2001 flights as batches, print each result')
    .option('--months <list>', 'comma-separated months of flights to feed as batches, in order', '2001-01')
    .option('--keep', 'keep the server and workers running to explore the Web UI (Ctrl-C stops them)')
    .option('--loop', 'the whole loop, live: January to June as traffic, drift, retraining, faults (about 10 minutes)')
    .option('--seed <n>', '--loop: the seed every choice of rows follows', '2001')
    .option('--approve <who>', '--loop: auto (the auto-approver decides) or ask (you decide at a prompt)', 'auto')
    .option(
      '--via <transport>',
      '--loop: traffic, answers and labels over http or through kafka (a local broker)',
      'http',
    )
    .action(
      async (opts: { months: string; keep?: boolean; loop?: boolean; seed: string; approve: string; via: string }) => {
        if (!opts.loop && opts.via !== 'http') {
          throw new (await import('../../client/errors')).CliError('--via is for the living loop: add --loop');
        }
        return opts.loop
          ? (await import('../../demo/demo-loop')).runLoopDemo(opts)
          : (await import('../../demo/demo')).runDemo(opts);
      },
    );
}

/** The options of a serving process (`lumen serve`, and `lumen stream score`, which serves too). */
function addServeOptions(command: Command, defaults: { port: string; maxBatch: string }): Command {
  return command
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', defaults.port)
    .option('--max-batch <rows>', 'most rows in one model call', defaults.maxBatch)
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
    );
}
