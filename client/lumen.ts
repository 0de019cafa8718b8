import { Command, Option } from 'commander';
import { WorkflowFailedError } from '@temporalio/client';
import { lumenPaths } from '../lib/config';
import { monthWindow, type SourceRef } from '../lib/data/source';
import { SqliteRegistry } from '../lib/registry/sqlite';
import { loadModelSpec, type ModelSpec } from '../lib/spec';
import { statusQuery, type PipelineResult } from '../workflows/definitions';
import { clientConfig, connectClient, workflowUrl } from './connection';
import { runDemo } from './demo';
import { describeFailure, formatMetrics, formatResult, formatVerdict } from './format';
import { startTrainingPipeline } from './pipeline';
import { changeChampion, decideCandidate, listPending, setAlias, showHistory } from './champion-commands';
import { decideQuarantine, listQuarantine } from './quarantine-commands';
import { alertsCommand, inferCommand, lineageCommand } from './registry-commands';

/** Build a source reference from CLI options; --month cuts the spec's time column to one calendar month. */
export function sourceFromOptions(
  spec: ModelSpec,
  opts: { source: string; month?: string; format?: string },
): SourceRef {
  const source: SourceRef = { uri: opts.source };
  if (opts.format) source.format = opts.format as SourceRef['format'];
  if (opts.month) {
    if (!spec.source.timeColumn) throw new Error(`--month needs a timeColumn in the spec of ${spec.name}`);
    source.window = monthWindow(spec.source.timeColumn, opts.month);
  }
  return source;
}

async function start(
  specFile: string,
  opts: { source: string; month?: string; format?: string; wait: boolean; json?: boolean },
): Promise<void> {
  const spec = loadModelSpec(specFile);
  const source = sourceFromOptions(spec, opts);
  const config = clientConfig();
  const client = await connectClient(config);
  const started = await startTrainingPipeline(client, spec, source, { actor: `cli:${process.env.USER ?? 'unknown'}` });
  const runId = (await started.handle.describe()).runId;
  console.log(`${started.deduplicated ? 'already trained/training' : 'started'} ${started.workflowId}`);
  console.log(`web ui     ${workflowUrl(config, started.workflowId, runId)}`);
  if (!opts.wait) return;
  try {
    const result = await started.handle.result();
    console.log(opts.json ? JSON.stringify(result, null, 2) : formatResult(result));
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      console.error(`pipeline failed: ${describeFailure(err)}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

async function status(workflowId: string): Promise<void> {
  const config = clientConfig();
  const client = await connectClient(config);
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  console.log(`${workflowId}  ${d.status.name}  started ${d.startTime.toISOString()}`);
  console.log(`web ui     ${workflowUrl(config, workflowId, d.runId)}`);
  if (d.status.name === 'RUNNING') {
    const s = await handle.query(statusQuery);
    console.log(`stage      ${s.stage}`);
    if (s.verdict) console.log(formatVerdict(s.verdict).join('\n'));
    if (s.approval && s.stage === 'awaiting_approval') {
      console.log(
        `approval   v${s.approval.version} (artifact ${s.approval.artifactSha256.slice(0, 16)}…) until ${s.approval.deadline}`,
      );
    }
    if (s.quarantine && s.stage === 'quarantined')
      console.log(`quarantine until ${s.quarantine.deadline}: ${s.quarantine.summary}`);
    if (s.dataset) console.log(`dataset    ${s.dataset.sha256.slice(0, 16)}… ${s.dataset.rows} rows`);
    for (const step of s.steps) console.log(`  done     ${step.stage} ${(step.milliseconds / 1000).toFixed(1)} s`);
  } else if (d.status.name === 'COMPLETED') {
    console.log(formatResult((await handle.result()) as PipelineResult));
  } else {
    await handle.result().catch((err: unknown) => console.log(`failure    ${describeFailure(err)}`));
  }
}

async function models(name: string | undefined): Promise<void> {
  const registry = new SqliteRegistry(lumenPaths().registry);
  try {
    if (!name) {
      const all = await registry.listModels();
      if (all.length === 0) console.log('no models registered');
      for (const m of all)
        console.log(`${m.model}  versions=${m.versions}  champion=${m.champion === null ? 'none' : `v${m.champion}`}`);
      return;
    }
    const champion = await registry.alias(name, 'champion');
    const versions = await registry.listVersions(name);
    if (versions.length === 0) console.log(`no versions of ${name}`);
    for (const v of versions) {
      const mark = v.version === champion ? '★ champion' : '';
      console.log(
        `v${v.version}  ${v.createdAt}  ${v.backend}  data ${v.datasetSha256.slice(0, 12)}  ${formatMetrics(v.metrics)}  ${mark}`,
      );
    }
  } finally {
    registry.close();
  }
}

async function run(): Promise<void> {
  const program = new Command('lumen').description('Lumen: ML pipelines as durable Temporal workflows');
  program
    .command('start')
    .description('train a model on a batch of data (ingest → validate → train → evaluate → register → promote)')
    .argument('<spec>', 'model spec JSON file')
    .requiredOption('--source <uri>', 'data file: path, file:// URI or vega-datasets:<file>')
    .option('--month <YYYY-MM>', "only this month of the spec's time column")
    .addOption(
      new Option('--format <format>', 'source format (default: from extension)').choices(['parquet', 'csv', 'json']),
    )
    .option('--no-wait', 'return once started')
    .option('--json', 'print the result as JSON')
    .action(start);
  program.command('status').description('show a pipeline run').argument('<workflowId>').action(status);
  program.command('models').description('list models, or the versions of one model').argument('[model]').action(models);
  program
    .command('lineage')
    .description('how a model version came to be: lineage <model>@<version>, or lineage dataset <sha256>')
    .argument('<ref>', '<model>@<version>, or the word "dataset"')
    .argument('[hash]', 'dataset sha256 (with "dataset")')
    .option('--json', 'machine-readable output')
    .action(lineageCommand);
  const quarantine = program.command('quarantine').description('batches that failed validation and wait for a person');
  quarantine.command('list').argument('[model]').action(listQuarantine);
  for (const kind of ['release', 'discard'] as const) {
    quarantine
      .command(kind)
      .description(kind === 'release' ? 'train on the batch anyway' : 'drop the batch')
      .argument('<target>', 'workflow id, or 12+ characters of the batch sha256')
      .requiredOption('--reason <text>', 'why (recorded in lineage)')
      .option('--by <name>', 'who decides (default: $USER)')
      .action((target: string, opts: { reason: string; by?: string }) => decideQuarantine(kind, target, opts));
  }
  for (const kind of ['approve', 'reject'] as const) {
    program
      .command(kind)
      .description(`${kind} a candidate waiting for approval`)
      .argument('<model>')
      .requiredOption('--version <n>', 'the candidate version (must be the one waiting)')
      .requiredOption('--comment <text>', 'why (recorded in lineage)')
      .option('--by <name>', 'who decides (default: $USER)')
      .action((model: string, opts: { version: string; comment: string; by?: string }) =>
        decideCandidate(kind, model, opts),
      );
  }
  program.command('pending').description('candidates waiting for approval').argument('[model]').action(listPending);
  program
    .command('history')
    .description('alias history of a model; --at T: which version was champion at T')
    .argument('<model>')
    .option('--at <time>', 'ISO date/time')
    .action(showHistory);
  program
    .command('rollback')
    .description('move the champion back (to the previous champion unless --to), load-checked and recorded')
    .argument('<model>')
    .option('--to <version>', 'the version to roll back to')
    .requiredOption('--reason <text>', 'why (recorded in the history)')
    .option('--by <name>', 'who asks (default: $USER)')
    .option('--request-id <id>', 'idempotency key: repeating a request with the same id moves nothing twice')
    .action((model: string, opts: { to?: string; reason: string; by?: string; requestId?: string }) =>
      changeChampion('rollback', model, opts),
    );
  program
    .command('promote')
    .description('make a registered version champion by hand, load-checked and recorded')
    .argument('<model>')
    .requiredOption('--version <n>')
    .requiredOption('--reason <text>')
    .option('--by <name>')
    .option('--request-id <id>')
    .action((model: string, opts: { version: string; reason: string; by?: string; requestId?: string }) =>
      changeChampion('promote', model, opts),
    );
  program
    .command('alias')
    .description('point a free-form alias (staging, shadow…) at a version, or "none" to remove it')
    .argument('<model>')
    .argument('<alias>')
    .argument('<version>')
    .requiredOption('--reason <text>')
    .option('--by <name>')
    .action(setAlias);
  program
    .command('alerts')
    .description('recent alerts')
    .argument('[model]')
    .option('--limit <n>', 'how many', '20')
    .action(alertsCommand);
  program
    .command('schema')
    .description('data contracts')
    .command('infer')
    .description('propose a contract (source.columns and validation) from a first dataset')
    .argument('<source>', 'data file: path, file:// URI or vega-datasets:<file>')
    .addOption(new Option('--format <format>').choices(['parquet', 'csv', 'json']))
    .option('--window <column:start:end>', 'only rows with start <= column < end')
    .action((uri: string, opts: { format?: string; window?: string }) => {
      const source: SourceRef = { uri };
      if (opts.format) source.format = opts.format as SourceRef['format'];
      if (opts.window) {
        const [column, start, end] = opts.window.split(':');
        source.window = { column, start, end };
      }
      return inferCommand(source);
    });
  program
    .command('demo')
    .description('start a dev server and workers, train on the first month of real flight data, print the result')
    .option('--months <list>', 'comma-separated months of flights to feed as batches', '2001-01')
    .option('--keep', 'keep the server and workers running to explore the Web UI')
    .action(runDemo);
  await program.parseAsync();
}

if (require.main === module) {
  run().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
