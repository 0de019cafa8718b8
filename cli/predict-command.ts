import { openArtifactStore } from '../lib/artifacts';
import { lumenPaths } from '../lib/config';
import { openRegistryAt } from '../lib/registry/open';
import { outputFormat, scoreFile } from '../lib/serving/batch';
import { CliError, parseVersion } from '../client/errors';
import { printJson } from '../client/output';

/**
 * `lumen predict <model>[@version] --source <file> --out <file.parquet|.csv|.jsonl>`: score a file with a registered version
 * (default: the champion) through the same row checks, preprocessor and model as the HTTP API.
 */
export async function predictCommand(
  ref: string,
  opts: { source: string; out: string; format?: string; outFormat?: string; json?: boolean },
): Promise<void> {
  const format = outputFormat(opts.out, opts.outFormat); // a wrong output name is said before any work
  const at = ref.indexOf('@');
  const model = at < 0 ? ref : ref.slice(0, at);
  const paths = lumenPaths();
  const registry = await openRegistryAt(paths.registry);
  try {
    const version =
      at < 0 ? await registry.alias(model, 'champion') : parseVersion(ref.slice(at + 1), '<model>@<version>');
    if (version === null) throw new CliError(`${model} has no champion; name a version: ${model}@<version>`);
    const record = await registry.getVersion(model, version);
    if (!record) throw new CliError(`${model} v${version} is not registered (see: lumen models ${model})`);
    if (record.loadCheck && !record.loadCheck.passed) {
      throw new CliError(
        `${model} v${version} failed its load check: ${record.loadCheck.detail} (lumen verify ${model}@${version})`,
      );
    }
    const source = { uri: opts.source, ...(opts.format ? { format: opts.format as 'parquet' | 'csv' | 'json' } : {}) };
    const result = await scoreFile(await openArtifactStore(paths), record, source, opts.out, { format });
    if (opts.json) return printJson({ model, version, ...result });
    console.log(
      `${model} v${version}: ${result.predicted} rows predicted, ${result.refused} refused (their problems are in the "problems" column) → ${result.out}`,
    );
    console.log(
      `${(result.rows / result.seconds.total).toFixed(0)} rows/s (read ${result.seconds.read.toFixed(2)} s, encode and predict ${result.seconds.predict.toFixed(2)} s, write ${result.seconds.write.toFixed(2)} s); ` +
        (result.computed < result.rows
          ? `the model computed ${result.computed} distinct rows and answered the ${result.rows - result.computed} repeats from memory`
          : 'the model computed every row'),
    );
  } finally {
    registry.close();
  }
}
