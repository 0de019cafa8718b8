import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { SOURCE_FORMATS } from './formats';
import { uriToPath, type ArtifactStore } from '../artifacts';
import { lumenPaths } from '../config';
import { SourceError } from '../errors';
import { sha256File, hashJson } from '../hash';

/**
 * Where a batch of data comes from: a Parquet, CSV or JSON file, optionally cut to a time window
 * (the flights file arrives a month at a time).
 */
export const SourceRef = z.strictObject({
  /** a path, a file:// URI, or vega-datasets:<file> for the bundled real datasets */
  uri: z.string().min(1),
  format: z.enum(SOURCE_FORMATS).optional(),
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
  /** a batch landed from a Kafka topic: which events it holds (lineage; the file is the data) */
  stream: z
    .strictObject({
      topic: z.string().min(1),
      /** per partition, the offsets [from, to) of the window's events */
      ranges: z.array(z.strictObject({ partition: z.number().int().min(0), from: z.string(), to: z.string() })),
    })
    .optional(),
});
export type SourceRef = z.infer<typeof SourceRef>;
export type SourceFormat = NonNullable<SourceRef['format']>;

/**
 * What a Lumen process may read as a source. Roots: LUMEN_SOURCE_ROOTS (directories, separated by the path delimiter, ":" here),
 * by default the working directory and the Lumen home. Schemes: LUMEN_SOURCE_SCHEMES (comma-separated), by default
 * `file` and `vega-datasets` (the bundled real datasets). Anything else is refused before a byte is read.
 */
export interface SourceAccess {
  /** real paths of the directories sources may come from */
  roots: string[];
  schemes: string[];
  /**
   * real paths (files or folders) never read as a source, whatever the roots: the serving tokens, access.json, the
   * signing key and the registry. A batch's content ends up in messages, reports and the console, so a secret read
   * as one would be shown to whoever reads those.
   */
  secrets?: string[];
}

/** Lumen's own secrets for a home: see SourceAccess.secrets (paths as given; those that exist are resolved). */
export function lumenSecrets(home: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const config = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  const named = (...vars: string[]): string[] => vars.flatMap((v) => (env[v] ? [env[v]] : []));
  const candidates = [
    path.join(home, 'serve'),
    path.join(home, 'access.json'),
    path.join(home, 'keys'),
    path.join(config, 'lumen'),
    // the Temporal connection's credentials (TLS key, API key in its config file)
    path.join(config, 'temporalio'),
    ...named('LUMEN_ACCESS', 'LUMEN_KEY_FILE', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_CONFIG_FILE'),
    ...named('LUMEN_ADMIN_TOKEN_FILE', 'LUMEN_FEEDBACK_TOKEN_FILE', 'LUMEN_PREDICT_TOKEN_FILE'),
    ...[env.LUMEN_REGISTRY ?? path.join(home, 'registry.sqlite')].flatMap((db) =>
      ['', '-wal', '-shm', '-journal'].map((suffix) => `${db}${suffix}`),
    ),
    // a process's environment holds its tokens and the registry's password
    '/proc',
  ].map((p) => path.resolve(p));
  return [...new Set(candidates.flatMap((p) => (fs.existsSync(p) ? [p, fs.realpathSync(p)] : [p])))];
}

/** the schemes Lumen can read at all */
const READABLE_SCHEMES = ['file', 'vega-datasets'];

export function sourceAccess(home = lumenPaths().home, env: NodeJS.ProcessEnv = process.env): SourceAccess {
  const declared = env.LUMEN_SOURCE_ROOTS?.split(path.delimiter).filter((r) => r.trim() !== '');
  const roots = declared?.length
    ? declared.map((root) => {
        try {
          return fs.realpathSync(path.resolve(root));
        } catch {
          throw new SourceError(`LUMEN_SOURCE_ROOTS names ${root}, which does not exist`);
        }
      })
    : // the defaults that exist (a home not made yet holds no source)
      [process.cwd(), home].flatMap((root) => (fs.existsSync(root) ? [fs.realpathSync(path.resolve(root))] : []));
  const schemes = env.LUMEN_SOURCE_SCHEMES
    ? env.LUMEN_SOURCE_SCHEMES.split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : READABLE_SCHEMES;
  const unreadable = schemes.filter((s) => !READABLE_SCHEMES.includes(s));
  if (unreadable.length) {
    throw new SourceError(
      `LUMEN_SOURCE_SCHEMES names ${unreadable.map((s) => `"${s}"`).join(', ')}, which Lumen cannot read: ` +
        `it can allow ${READABLE_SCHEMES.join(' and ')} only`,
    );
  }
  return { roots: [...new Set(roots)], schemes, secrets: lumenSecrets(home, env) };
}

/**
 * A person's own process reading a file they named (the CLI hashing a batch to name its run): every file they can
 * read. The worker that ingests the batch applies its own rules.
 */
export const OWN_FILES: SourceAccess = { roots: [path.parse(process.cwd()).root], schemes: READABLE_SCHEMES };

/** The access rules of the Lumen home an artifact store belongs to (the store is its `artifacts` folder). */
export function storeAccess(store: ArtifactStore): SourceAccess {
  return sourceAccess(store.home);
}

/** The folder of the bundled vega datasets (the package exports only its JS entry; data sits beside build/). */
export function bundledDataFolder(): string {
  return path.join(path.resolve(path.dirname(require.resolve('vega-datasets')), '..'), 'data');
}

/** The directories a sandboxed DuckDB may read sources from under these rules. */
export function readableDirectories(access: SourceAccess): string[] {
  return [...access.roots, ...(access.schemes.includes('vega-datasets') ? [bundledDataFolder()] : [])];
}

/** A source checked against the access rules, resolved once: its real file and its format. */
export interface OpenedSource {
  source: SourceRef;
  /** the real path (symbolic links resolved) of a readable file */
  file: string;
  format: SourceFormat;
}

/**
 * Check a source against what this process may read, and resolve it: its scheme must be allowed, a path may not
 * climb with "..", and the file it reaches, symbolic links followed, must lie inside an allowed root. Every refusal
 * is a SourceError saying which rule, before anything opens the file.
 */
export function openSource(source: SourceRef, access: SourceAccess): OpenedSource {
  const uri = source.uri;
  const refuse = (why: string): never => {
    throw new SourceError(`source ${uri} is refused: ${why}`, { uri });
  };
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase();
  const named = scheme && scheme.length > 1 ? scheme : 'file'; // "C:" is a drive, not a scheme
  // what cannot work is said first: no setting makes Lumen read a URL, so none is suggested
  if (!READABLE_SCHEMES.includes(named)) {
    refuse(
      `Lumen cannot read "${named}" sources: it reads files (a path or file://…) and vega-datasets:<file>; ` +
        'copy the data to a file first and give its path',
    );
  }
  if (!access.schemes.includes(named)) {
    refuse(`the scheme "${named}" is not allowed here (allowed: ${access.schemes.join(', ')}; LUMEN_SOURCE_SCHEMES)`);
  }
  let file: string;
  if (named === 'vega-datasets') {
    const name = uri.slice('vega-datasets:'.length);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) refuse('a bundled dataset is named by its file name alone');
    file = path.join(bundledDataFolder(), name);
  } else {
    // as written: a file:// URI's dot segments would be resolved away by URL parsing
    if (/(^|[\\/])\.\.([\\/]|$)/.test(uri.replace(/%2e/gi, '.'))) {
      refuse('its path climbs out of its folder with ".."');
    }
    const raw = uri.startsWith('file://') ? uriToPath(uri) : uri;
    const resolved = path.resolve(raw);
    let real: string;
    try {
      real = fs.realpathSync(resolved);
    } catch {
      throw new SourceError(`source file not found: ${resolved}`, { uri });
    }
    const inside = (p: string): boolean =>
      access.roots.some((root) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep));
    if (!inside(real)) {
      refuse(
        real !== resolved && inside(resolved)
          ? `it is a symbolic link to ${real}, outside the allowed source roots (${access.roots.join(', ')}; LUMEN_SOURCE_ROOTS)`
          : `${real} is outside the allowed source roots (${access.roots.join(', ')}; LUMEN_SOURCE_ROOTS)`,
      );
    }
    const secret =
      (access.secrets ?? []).find((p) => real === p || real.startsWith(p + path.sep)) ??
      sameFileAs(real, access.secrets ?? []);
    if (secret) {
      refuse(
        `${secret} holds Lumen's secrets (serving tokens, access.json, signing keys or the registry), never read as a source`,
      );
    }
    file = real;
  }
  readable(file, uri);
  return { source, file, format: formatOf(source, file) };
}

/** The secret file that `file` is another name of (a hard link), if any. */
function sameFileAs(file: string, secrets: string[]): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  if (st.nlink < 2) return undefined;
  const same = (p: string): boolean => {
    try {
      const other = fs.statSync(p);
      return other.isFile() && other.ino === st.ino && other.dev === st.dev;
    } catch {
      return false;
    }
  };
  // the secrets, and the files directly inside the secret folders (tokens, keys)
  return secrets.find((p) => {
    if (p === '/proc') return false;
    if (same(p)) return true;
    try {
      return fs.readdirSync(p).some((name) => same(path.join(p, name)));
    } catch {
      return false;
    }
  });
}

/** What a file's first bytes say it holds (null: text, or nothing Lumen knows). */
function contentFormat(file: string): { format: SourceFormat; said: string } | null {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(8, size));
    fs.readSync(fd, head, 0, head.length, 0);
    const tail = Buffer.alloc(Math.min(4, size));
    if (size >= 4) fs.readSync(fd, tail, 0, 4, size - 4);
    if (head.subarray(0, 4).toString('latin1') === 'PAR1' && tail.toString('latin1') === 'PAR1') {
      return { format: 'parquet', said: 'a Parquet file' };
    }
    if (head.subarray(0, 6).toString('latin1') === 'ARROW1') return { format: 'arrow', said: 'an Arrow IPC file' };
    // an Arrow IPC stream starts with a continuation marker and the schema message's length
    if (head.length >= 4 && head.readUInt32LE(0) === 0xffffffff)
      return { format: 'arrow', said: 'an Arrow IPC stream' };
    if (head.subarray(0, 4).toString('latin1') === 'FEA1') {
      return { format: 'arrow', said: 'a Feather v1 file (Lumen reads Feather v2, which is Arrow IPC)' };
    }
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

function startsAsParquet(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    return fs.readSync(fd, head, 0, 4, 0) === 4 && head.toString('latin1') === 'PAR1';
  } finally {
    fs.closeSync(fd);
  }
}

const FORMAT_NAMES = 'parquet, csv, json or arrow';

/**
 * The source's format: the one asked for, else its extension's — checked against what the file's first bytes
 * say, so a wrong format is said here, before a workflow starts, not as a reader's error in the middle of a run.
 */
function formatOf(source: SourceRef, file: string): SourceFormat {
  const ext = path.extname(file).toLowerCase();
  const byName: SourceFormat | undefined =
    ext === '.parquet'
      ? 'parquet'
      : ext === '.csv' || ext === '.tsv'
        ? 'csv'
        : ext === '.json' || ext === '.jsonl' || ext === '.ndjson'
          ? 'json'
          : ext === '.arrow' || ext === '.feather' || ext === '.ipc' || ext === '.arrows'
            ? 'arrow'
            : undefined;
  const content = contentFormat(file);
  const format = source.format ?? byName ?? content?.format;
  if (!format) {
    throw new SourceError(
      `${source.uri}: cannot tell the format from ${ext ? `the extension "${ext}"` : 'a name without an extension'} or from its content; give --format ${FORMAT_NAMES.replace(/, | or /g, '|')}`,
      { uri: source.uri },
    );
  }
  if (content && content.format !== format) {
    throw new SourceError(
      `${source.uri} is ${content.said}, not ${format}${source.format ? ` (--format ${source.format})` : ` (as its extension ${ext} says)`}: ` +
        `give --format ${content.format}${source.format ? ', or leave --format out' : ''}`,
      { uri: source.uri },
    );
  }
  if (!content && format === 'parquet' && startsAsParquet(file)) {
    throw new SourceError(
      `${source.uri} is a Parquet file cut short: it starts as one, but its last bytes are not Parquet's footer ` +
        '(was it copied before it was complete?)',
      { uri: source.uri },
    );
  }
  if (!content && (format === 'parquet' || format === 'arrow')) {
    throw new SourceError(
      `${source.uri} is not ${format === 'parquet' ? 'a Parquet file' : 'an Arrow IPC file'}: its first bytes are not that format's; ` +
        `is it text (--format csv or json)?`,
      { uri: source.uri },
    );
  }
  if (content?.said.startsWith('a Feather v1')) {
    throw new SourceError(`${source.uri} is ${content.said}: save it again as Arrow IPC (pyarrow.feather, version 2)`, {
      uri: source.uri,
    });
  }
  return format;
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

/** A SourceError saying why the file cannot be read (missing, a directory, unreadable), or nothing. */
function readable(file: string, uri: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new SourceError(`source file not found: ${file}`, { uri });
  }
  if (stat.isDirectory()) {
    throw new SourceError(`source ${file} is a directory; give one file (Parquet, CSV, JSON or Arrow)`, { uri });
  }
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new SourceError(`source file ${file} cannot be read (permissions)`, { uri });
  }
}

/**
 * The identity of a batch before it is read: the source file's bytes plus the selection. Equal fingerprints
 * mean the same data, so a pipeline keyed on it never trains twice on one batch.
 */
export async function sourceFingerprint(source: SourceRef | OpenedSource, access?: SourceAccess): Promise<string> {
  const opened = 'file' in source ? source : openSource(source, access ?? sourceAccess());
  const fileSha = await sha256File(opened.file);
  return hashJson({ file: fileSha, format: opened.format, window: opened.source.window ?? null });
}

export function describeSource(source: SourceRef): string {
  const w = source.window ? ` [${source.window.column} ${source.window.start} … ${source.window.end})` : '';
  const k = source.stream
    ? ` (Kafka ${source.stream.topic} ${source.stream.ranges.map((r) => `p${r.partition}:${r.from}…${r.to}`).join(' ')})`
    : '';
  return `${source.uri}${w}${k}`;
}
