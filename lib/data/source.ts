import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { uriToPath } from '../artifacts';
import { SourceError } from '../errors';
import { sha256File, hashJson } from '../hash';

/**
 * Where a batch of data comes from: a Parquet, CSV or JSON file, optionally cut to a time window
 * (the flights file arrives a month at a time).
 */
export const SourceRef = z.strictObject({
  /** a path, a file:// URI, or vega-datasets:<file> for the bundled real datasets */
  uri: z.string().min(1),
  format: z.enum(['parquet', 'csv', 'json']).optional(),
  window: z
    .strictObject({
      column: z.string().min(1),
      /** how the column's text is written when it is not ISO 8601 (DuckDB strptime), e.g. "%b %d %Y" */
      format: z.string().optional(),
      /** inclusive ISO date/time */
      start: z.iso.date().or(z.iso.datetime({ local: true })),
      /** exclusive ISO date/time */
      end: z.iso.date().or(z.iso.datetime({ local: true })),
    })
    .optional(),
});
export type SourceRef = z.infer<typeof SourceRef>;
export type SourceFormat = NonNullable<SourceRef['format']>;

export function resolveSourcePath(uri: string): string {
  if (uri.startsWith('vega-datasets:')) {
    // the package exports only its JS entry (build/index.js); its data folder sits beside build/
    const pkg = path.resolve(path.dirname(require.resolve('vega-datasets')), '..');
    return path.join(pkg, 'data', uri.slice('vega-datasets:'.length));
  }
  if (uri.startsWith('file://')) return uriToPath(uri);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) throw new SourceError(`unsupported source URI scheme: ${uri}`);
  return path.resolve(uri);
}

export function sourceFormat(source: SourceRef): SourceFormat {
  if (source.format) return source.format;
  const ext = path.extname(resolveSourcePath(source.uri)).toLowerCase();
  if (ext === '.parquet') return 'parquet';
  if (ext === '.csv' || ext === '.tsv') return 'csv';
  if (ext === '.json' || ext === '.jsonl' || ext === '.ndjson') return 'json';
  throw new SourceError(`${source.uri}: cannot tell the format from extension "${ext}"; set format`);
}

/** A window covering one calendar month, e.g. "2001-01" → [2001-01-01, 2001-02-01). */
export function monthWindow(column: string, month: string): NonNullable<SourceRef['window']> {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m) throw new SourceError(`month must look like YYYY-MM, got "${month}"`);
  const year = Number(m[1]);
  const mon = Number(m[2]);
  if (mon < 1 || mon > 12) throw new SourceError(`month must be 01–12, got "${month}"`);
  const next = mon === 12 ? `${year + 1}-01` : `${year}-${String(mon + 1).padStart(2, '0')}`;
  return { column, start: `${month}-01`, end: `${next}-01` };
}

/** The source's file, or a SourceError saying why it cannot be read (missing, a directory, unreadable). */
export function readableSourceFile(source: SourceRef): string {
  const file = resolveSourcePath(source.uri);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new SourceError(`source file not found: ${file}`, { uri: source.uri });
  }
  if (stat.isDirectory()) {
    throw new SourceError(`source ${file} is a directory; give one file (Parquet, CSV or JSON)`, { uri: source.uri });
  }
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new SourceError(`source file ${file} cannot be read (permissions)`, { uri: source.uri });
  }
  return file;
}

/**
 * The identity of a batch before it is read: the source file's bytes plus the selection. Equal fingerprints
 * mean the same data, so a pipeline keyed on it never trains twice on one batch.
 */
export async function sourceFingerprint(source: SourceRef): Promise<string> {
  const file = readableSourceFile(source);
  const fileSha = await sha256File(file);
  return hashJson({ file: fileSha, format: sourceFormat(source), window: source.window ?? null });
}

export function describeSource(source: SourceRef): string {
  const w = source.window ? ` [${source.window.column} ${source.window.start} … ${source.window.end})` : '';
  return `${source.uri}${w}`;
}
