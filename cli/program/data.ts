import { Option, type Command } from 'commander';
import { actorOption, byOption, jsonOption, sourceFormatOption } from './options';
import type { Task } from '../../lib/spec';

/** Batches and models: start a pipeline and follow it, lineage, quarantined batches, checks of data, contracts, batch predictions. */
export function addDataCommands(program: Command): void {
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
    .action(async (spec: string, opts: Parameters<typeof import('../start-command').startCommand>[1]) =>
      (await import('../start-command')).startCommand(spec, opts),
    );

  program
    .command('status')
    .description('show a pipeline run: its stage, or its result')
    .argument('<workflowId>')
    .addOption(jsonOption())
    .action(async (id: string, opts: Parameters<typeof import('../start-command').statusCommand>[1]) =>
      (await import('../start-command')).statusCommand(id, opts),
    );

  program
    .command('models')
    .description('every model with its champion, or the versions of one model')
    .argument('[model]')
    .addOption(jsonOption())
    .action(
      async (model: string | undefined, opts: Parameters<typeof import('../registry-commands').modelsCommand>[1]) =>
        (await import('../registry-commands')).modelsCommand(model, opts),
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
        opts: Parameters<typeof import('../registry-commands').lineageCommand>[2],
      ) => (await import('../registry-commands')).lineageCommand(ref, hash, opts),
    );

  program
    .command('card')
    .description("a version's model card: what it is for, its data, metrics by slice, importance, approvals, health")
    .argument('<ref>', '<model>@<version>')
    .option('--out <dir>', 'where to write <model>-v<version>.card.html and .card.json', '.')
    .addOption(jsonOption())
    .action(async (ref: string, opts: Parameters<typeof import('../card-command').cardCommand>[1]) =>
      (await import('../card-command')).cardCommand(ref, opts),
    );

  const quarantine = program.command('quarantine').description('batches that failed validation and wait for a person');
  quarantine
    .command('list')
    .argument('[model]')
    .addOption(jsonOption())
    .action(
      async (
        model: string | undefined,
        opts: Parameters<typeof import('../registry-commands').quarantineListCommand>[1],
      ) => (await import('../registry-commands')).quarantineListCommand(model, opts),
    );
  for (const kind of ['release', 'discard'] as const) {
    quarantine
      .command(kind)
      .description(kind === 'release' ? 'train on the batch anyway' : 'drop the batch')
      .argument('<target>', 'workflow id, or 12+ characters of the batch sha256')
      .requiredOption('--reason <text>', 'why (recorded in lineage)')
      .addOption(actorOption())
      .addOption(byOption())
      .action(async (target: string, opts: Parameters<typeof import('../quarantine-commands').decideQuarantine>[2]) =>
        (await import('../quarantine-commands')).decideQuarantine(kind, target, opts),
      );
  }

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
    .action(async (spec: string, opts: Parameters<typeof import('../check-command').checkCommand>[1]) =>
      (await import('../check-command')).checkCommand(spec, opts),
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
        const { inferCommand } = await import('../infer-command');
        const { CliError } = await import('../../client/errors');
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
    .command('explain')
    .description('the decision record of a prediction: input, output, version and how it was made, the label, and why')
    .argument('<prediction id>')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }) =>
      (await import('../explain-command')).explainCommand(id, opts),
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
    .action(async (ref: string, opts: Parameters<typeof import('../predict-command').predictCommand>[1]) =>
      (await import('../predict-command')).predictCommand(ref, opts),
    );
}
