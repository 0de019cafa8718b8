import fs from 'node:fs';
import path from 'node:path';
import type { ArtifactStore } from '../artifacts';
import { DOUBLE, DuckDBDataChunk, type DuckDBDoubleVector } from '@duckdb/node-api';
import { sqlIdent, sqlString, withSourceDuckDB } from '../data/duckdb';
import { sourceTable } from '../data/snapshot';
import { openSource, readableDirectories, storeAccess, type SourceAccess, type SourceRef } from '../data/source';
import { readTableChunks } from '../data/table';
import { SourceError } from '../errors';
import { columnRequests, encodeCodes, featureCodes, featureColumns, type Preprocessor } from '../features';
import { loadModelArtifact } from '../model/artifact';
import { predictRows } from '../model/predict';
import { loadTf } from '../model/tf';
import type { ModelVersion } from '../registry/types';
import { problemsSql } from '../validation/rows';
import { contractRowRules } from '../validation/row-rules';
import { DistinctRows } from './memo';

/**
 * `lumen predict`: score a whole file with one registered version, through the same row checks (the declared
 * rules, as for served rows), the artifact's own preprocessor and the model — what the HTTP API would answer for
 * each row, without the HTTP. Output: the input's columns, the predictions (binary: probability; multiclass: class
 * and one probability per class; regression: value), and each row's problems (a row that breaks the contract gets
 * no prediction).
 */
/** rows in one DuckDB vector */
const VECTOR_ROWS = 2048;

/**
 * Repeated rows are answered from memory while a chunk's new rows are at most this share of it. Looking a row up
 * costs about 40% of encoding and predicting it (measured on the flights model and 3M flights: 0.26 µs against
 * 0.65 µs a row), so where most rows are new, remembering costs more than it saves: from such a chunk on, the file
 * is predicted row by row. The first rows of any file are mostly new, so the first JUDGE_AFTER_ROWS are not judged.
 */
const MAX_NEW_SHARE = 0.6;
/** rows read before chunks are judged */
const JUDGE_AFTER_ROWS = 200_000;

/** rows predicted in one tfjs call */
const PREDICT_ROWS = 65_536;

/**
 * A file's predictions, chunk by chunk, each distinct row computed once (see DistinctRows). The rows new in a chunk
 * wait, encoded, until a full batch of them is predicted in one tfjs call: after the first chunks most chunks hold
 * only a few thousand new rows, and tfjs' cost per call would dominate. So a chunk's answers are put together when
 * the file has been read (`finish`).
 */
export class FilePredictions {
  private memo: DistinctRows | null;
  /** the remembered rows' outputs, by entry */
  private answers: Float32Array = new Float32Array(0);
  /** outputs of rows predicted without being remembered (the memo was full), by their own index */
  private direct: Float32Array = new Float32Array(0);
  private directRows = 0;
  private readonly waiting: Float32Array;
  /** where each waiting row's output goes: an entry (>= 0), or a direct index d as -(d + 1) */
  private readonly targets = new Int32Array(PREDICT_ROWS);
  private waitingRows = 0;
  /** per chunk: its outputs, or where to find them (an entry, or a direct index as above) */
  private readonly chunks: (Float32Array | Int32Array)[] = [];
  private seen = 0;
  /** the rows of the chunk being added that are new (scratch, reused) */
  private fresh = new Int32Array(0);
  computed = 0;

  constructor(
    private readonly pre: Preprocessor,
    private readonly width: number,
    private readonly predict: (x: Float32Array, rows: number) => Float32Array,
    /** distinct rows kept at most; 0: every row is computed */
    remember: number,
  ) {
    this.memo = remember > 0 ? new DistinctRows(pre.features.length, remember) : null;
    this.waiting = new Float32Array(PREDICT_ROWS * pre.width);
  }

  get remembered(): boolean {
    return this.memo !== null;
  }

  /**
   * One chunk's rows, by their feature codes (read during the call only: the caller may reuse the arrays); `buffer`
   * is scratch space for encoding the whole chunk.
   */
  add(codes: Float64Array[], n: number, buffer: Float32Array): void {
    if (!this.memo) {
      this.chunks.push(this.predict(encodeCodes(this.pre, codes, n, buffer), n));
      this.computed += n;
      return;
    }
    const memo = this.memo;
    const where = new Int32Array(n);
    if (this.fresh.length < n) this.fresh = new Int32Array(n);
    const fresh = this.fresh;
    let freshRows = 0;
    for (let r = 0; r < n; r++) {
      const e = memo.entryOf(codes, r);
      if (e >= 0) {
        where[r] = e;
        continue;
      }
      fresh[freshRows++] = r;
      if (e === DistinctRows.FULL) where[r] = -(this.directRows++ + 1);
      else where[r] = -e - 1;
    }
    this.growOutputs(memo.size, this.directRows);
    for (let from = 0; from < freshRows;) {
      if (this.waitingRows === PREDICT_ROWS) this.predictWaiting();
      const m = Math.min(freshRows - from, PREDICT_ROWS - this.waitingRows);
      const pick = fresh.subarray(from, from + m);
      const at = this.waitingRows * this.pre.width;
      encodeCodes(this.pre, codes, m, this.waiting.subarray(at, at + m * this.pre.width), pick);
      for (let j = 0; j < m; j++) this.targets[this.waitingRows + j] = where[pick[j]];
      this.waitingRows += m;
      from += m;
    }
    this.chunks.push(where);
    this.seen += n;
    if (this.seen >= JUDGE_AFTER_ROWS && freshRows > MAX_NEW_SHARE * n) this.memo = null;
  }

  /** Every chunk's outputs, rows × width, in the order the chunks came. */
  finish(): Float32Array[] {
    this.predictWaiting();
    const w = this.width;
    return this.chunks.map((part) => {
      if (part instanceof Float32Array) return part;
      const out = new Float32Array(part.length * w);
      for (let r = 0; r < part.length; r++) {
        const e = part[r];
        if (e >= 0) for (let c = 0; c < w; c++) out[r * w + c] = this.answers[e * w + c];
        else for (let c = 0; c < w; c++) out[r * w + c] = this.direct[(-e - 1) * w + c];
      }
      return out;
    });
  }

  private predictWaiting(): void {
    const m = this.waitingRows;
    if (m === 0) return;
    const q = this.predict(this.waiting, m);
    const w = this.width;
    for (let j = 0; j < m; j++) {
      const t = this.targets[j];
      const into = t >= 0 ? this.answers : this.direct;
      const at = (t >= 0 ? t : -t - 1) * w;
      for (let c = 0; c < w; c++) into[at + c] = q[j * w + c];
    }
    this.computed += m;
    this.waitingRows = 0;
  }

  private growOutputs(entries: number, direct: number): void {
    const grown = (held: Float32Array, rows: number): Float32Array => {
      if (held.length >= rows * this.width) return held;
      const next = new Float32Array(Math.max(held.length * 2, rows * this.width, PREDICT_ROWS * this.width));
      next.set(held);
      return next;
    };
    this.answers = grown(this.answers, entries);
    this.direct = grown(this.direct, direct);
  }
}

export interface ScoreResult {
  rows: number;
  predicted: number;
  refused: number;
  out: string;
  seconds: { read: number; predict: number; write: number; total: number };
  /** rows the model computed: each distinct row once while repeats are remembered (see DistinctRows) */
  computed: number;
  /** whether repeated rows were answered from memory to the end of the file */
  remembered: boolean;
}

/** The formats `lumen predict` writes: Parquet, CSV (with a header) and JSON lines. */
export type OutputFormat = 'parquet' | 'csv' | 'jsonl';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['parquet', 'csv', 'jsonl'];
const OUTPUT_EXTENSIONS: Record<string, OutputFormat> = {
  '.parquet': 'parquet',
  '.csv': 'csv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'jsonl',
};

/**
 * The format an output file is written in: the one asked for, else its extension's. A name whose extension says
 * another format than the one asked for, or says none, is refused before any work starts: a `.csv` file holds CSV.
 */
export function outputFormat(out: string, asked?: string): OutputFormat {
  const ext = path.extname(out).toLowerCase();
  const implied = OUTPUT_EXTENSIONS[ext];
  if (asked !== undefined) {
    if (!OUTPUT_FORMATS.includes(asked as OutputFormat)) {
      throw new SourceError(`output format "${asked}" is not one Lumen writes: ${OUTPUT_FORMATS.join(', ')}`);
    }
    if (implied && implied !== asked) {
      throw new SourceError(`--out ${out} names a ${implied} file but ${asked} was asked for: make them agree`);
    }
    return asked as OutputFormat;
  }
  if (!implied) {
    throw new SourceError(
      `cannot tell the output format of ${out} from ${ext ? `its extension ${ext}` : 'a name without an extension'}: ` +
        `name it .parquet, .csv or .jsonl (JSON lines), or give --out-format ${OUTPUT_FORMATS.join('|')}`,
    );
  }
  return implied;
}

export async function scoreFile(
  store: ArtifactStore,
  record: ModelVersion,
  source: SourceRef,
  out: string,
  /**
   * remember: answer repeated rows from memory (default true; false predicts every row, as the benchmark's
   * baseline); maxRemembered: distinct rows kept at most (default 2M: a table of ~200 MB for a five-feature model)
   */
  options: {
    chunkRows?: number;
    access?: SourceAccess;
    remember?: boolean;
    maxRemembered?: number;
    /** default: from the extension of `out` */
    format?: OutputFormat;
  } = {},
): Promise<ScoreResult> {
  const t0 = performance.now();
  const format = outputFormat(out, options.format);
  const access = options.access ?? storeAccess(store);
  const opened = openSource(source, access);
  const { tf } = await loadTf();
  const loaded = await loadModelArtifact(store, tf, record.artifact);
  const pre = loaded.preprocessor;
  const label = pre.label;
  const outputs =
    label.task === 'multiclass'
      ? label.classes.map((c) => ({ name: `probability_${c.replace(/\W+/g, '_')}`, key: c }))
      : [{ name: label.task === 'binary' ? 'probability' : 'value', key: '' }];
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const temp = `${path.resolve(out)}.part-${process.pid}`;
  try {
    const sandbox = { read: readableDirectories(access), write: path.dirname(path.resolve(out)) };
    const result = await withSourceDuckDB(sandbox, async (con) => {
      // The file is scanned twice — for the model's columns, then to write everything out — and the two scans are
      // joined by position (DuckDB keeps a file's row order), so nothing is materialised in between.
      const scan = await sourceTable(con, opened);
      const described = (await con.runAndReadAll(`DESCRIBE SELECT * FROM ${scan}`)).getRowObjectsJson();
      const types = new Map(described.map((r) => [r.column_name as string, r.column_type as string]));
      const used = new Set(pre.features.flatMap(featureColumns));
      const rules = contractRowRules(loaded.spec.source.columns, loaded.spec.label, {
        now: new Date().toISOString(),
        serving: true,
      }).filter((r) => used.has(r.column));
      const missing = [...used].filter((c) => !types.has(c));
      if (missing.length) {
        throw new Error(`${source.uri} has no column ${missing.map((c) => `"${c}"`).join(', ')} (the model reads it)`);
      }
      const t1 = performance.now();
      const width = outputs.length;
      let predictSeconds = 0;
      const chunkRows = Math.max(options.chunkRows ?? 65_536, 4096);
      const identity = Uint32Array.from({ length: chunkRows }, (_, i) => i);
      const buffer = new Float32Array(chunkRows * pre.width);
      // each chunk's feature codes, in the same arrays every time (they are not kept past the chunk)
      const codes = pre.features.map(() => new Float64Array(chunkRows));
      // categories come as their vocabulary positions, looked up by DuckDB, instead of one string per row
      const categorical = pre.features.flatMap((f) => (f.kind === 'categorical' ? [f] : []));
      const crossed = new Set(pre.features.flatMap((f) => (f.kind === 'cross' ? featureColumns(f) : [])));
      const coded = new Map(
        categorical
          // one vocabulary per column, and none a cross reads as text
          .filter((f) => categorical.filter((g) => g.column === f.column).length === 1 && !crossed.has(f.column))
          .map((f) => [f.column, f.vocabulary] as const),
      );
      const requests = columnRequests(loaded.spec).map((r) =>
        r.as === 'string' && coded.has(r.name)
          ? { name: r.name, as: 'code' as const, vocabulary: coded.get(r.name) }
          : r,
      );
      const predictions = new FilePredictions(
        pre,
        width,
        (x, rows) => {
          const p = predictRows(tf, loaded.model, x, rows, pre.width, PREDICT_ROWS);
          if (label.task === 'regression') for (let i = 0; i < rows; i++) p[i] = p[i] * label.std + label.mean;
          return p;
        },
        options.remember === false ? 0 : (options.maxRemembered ?? 1 << 21),
      );
      const total = await readTableChunks(con, scan, types, requests, chunkRows, (table) => {
        const t = performance.now();
        predictions.add(featureCodes(pre, table, identity.subarray(0, table.rows), codes), table.rows, buffer);
        predictSeconds += (performance.now() - t) / 1000;
      });
      const t3 = performance.now();
      const parts = predictions.finish();
      predictSeconds += (performance.now() - t3) / 1000;
      const readSeconds = (performance.now() - t1) / 1000 - predictSeconds;
      const t2 = performance.now();
      // rows in order, no key: joined to the input by position
      await con.run(
        `CREATE OR REPLACE TEMP TABLE __scored_out (${outputs.map((o) => `${sqlIdent(o.name)} DOUBLE`).join(', ')})`,
      );
      // appended a vector (2,048 rows) at a time, not value by value: one native call per chunk
      const appender = await con.createAppender('__scored_out');
      const chunk = DuckDBDataChunk.create(outputs.map(() => DOUBLE));
      for (const p of parts) {
        const n = p.length / width;
        for (let from = 0; from < n; from += VECTOR_ROWS) {
          const m = Math.min(VECTOR_ROWS, n - from);
          chunk.rowCount = m; // sizes the chunk's vectors, which are fetched after
          for (let k = 0; k < width; k++) {
            const v = chunk.getColumnVector(k) as DuckDBDoubleVector;
            for (let r = 0; r < m; r++) v.setItem(r, p[(from + r) * width + k]);
            v.flush();
          }
          appender.appendDataChunk(chunk);
        }
      }
      appender.closeSync();
      const ok = 'len(i.__problems) = 0';
      const columns = outputs.map((o) => `o.${sqlIdent(o.name)}`).join(', ');
      const predictedColumn =
        label.task === 'multiclass'
          ? `CASE WHEN ${ok} THEN [${label.classes.map(sqlString).join(', ')}][list_position([${columns}], greatest(${columns}))] END AS predicted_class, `
          : '';
      await con.run(
        `COPY (SELECT i.* EXCLUDE (__problems), ${predictedColumn}
                      ${outputs.map((o) => `CASE WHEN ${ok} THEN o.${sqlIdent(o.name)} END AS ${sqlIdent(o.name)}`).join(', ')},
                      i.__problems AS problems
                 FROM (SELECT *, ${problemsSql(rules, types, 'reasons')} AS __problems FROM ${scan}) i POSITIONAL JOIN __scored_out o)
           TO ${sqlString(temp)} (FORMAT parquet)`,
      );
      const refused = Number(
        (
          await con.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(temp)}) WHERE len(problems) > 0`)
        ).getRowsJS()[0][0],
      );
      await con.run('DROP TABLE __scored_out');
      if (format !== 'parquet') {
        // written as Parquet first (the count above reads it), then in the format the file's name says
        const rows =
          format === 'csv'
            ? `SELECT * REPLACE (array_to_string(problems, '; ') AS problems) FROM read_parquet(${sqlString(temp)})`
            : `SELECT * FROM read_parquet(${sqlString(temp)})`;
        const options_ = format === 'csv' ? 'FORMAT csv, HEADER true' : 'FORMAT json';
        await con.run(`COPY (${rows}) TO ${sqlString(`${temp}.${format}`)} (${options_})`);
        fs.renameSync(`${temp}.${format}`, temp);
      }
      return {
        total,
        refused,
        readSeconds,
        predictSeconds,
        writeSeconds: (performance.now() - t2) / 1000,
        computed: predictions.computed,
        remembered: predictions.remembered,
      };
    });
    fs.renameSync(temp, out);
    return {
      rows: result.total,
      predicted: result.total - result.refused,
      refused: result.refused,
      out,
      computed: result.computed,
      remembered: result.remembered,
      seconds: {
        read: result.readSeconds,
        predict: result.predictSeconds,
        write: result.writeSeconds,
        total: (performance.now() - t0) / 1000,
      },
    };
  } finally {
    fs.rmSync(temp, { force: true });
    fs.rmSync(`${temp}.${format}`, { force: true });
    loaded.model.dispose();
  }
}
