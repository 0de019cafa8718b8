import fs from 'node:fs';
import path from 'node:path';
import type { ArtifactStore } from '../artifacts';
import { DOUBLE, DuckDBDataChunk, type DuckDBDoubleVector } from '@duckdb/node-api';
import { sqlIdent, sqlString, withSourceDuckDB } from '../data/duckdb';
import { sourceScan } from '../data/snapshot';
import { openSource, readableDirectories, storeAccess, type SourceAccess, type SourceRef } from '../data/source';
import { readTableChunks } from '../data/table';
import { columnRequests, encodeCodes, featureCodes, featureColumns } from '../features';
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
 * Distinct rows are remembered while they are at most this share of the rows read: past it (a file whose rows are
 * mostly distinct) hashing costs more than predicting the repeats saves, and the file is predicted row by row.
 */
const MAX_DISTINCT_SHARE = 0.6;
/** rows read before that share is judged */
const JUDGE_AFTER_ROWS = 200_000;

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

export async function scoreFile(
  store: ArtifactStore,
  record: ModelVersion,
  source: SourceRef,
  out: string,
  /** remember: answer repeated rows from memory (default true; false predicts every row, as the benchmark's baseline) */
  options: { chunkRows?: number; access?: SourceAccess; remember?: boolean } = {},
): Promise<ScoreResult> {
  const t0 = performance.now();
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
      const scan = sourceScan(opened);
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
      const parts: Float32Array[] = [];
      let predictSeconds = 0;
      const chunkRows = Math.max(options.chunkRows ?? 65_536, 4096);
      const identity = Uint32Array.from({ length: chunkRows }, (_, i) => i);
      const buffer = new Float32Array(chunkRows * pre.width);
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
      const features = pre.features.length;
      let memo = options.remember === false ? null : new DistinctRows(features);
      let answers = new Float32Array(0); // the remembered rows' outputs, by entry
      const entries = new Int32Array(chunkRows);
      const fresh = new Uint32Array(chunkRows);
      let computed = 0;
      let seen = 0;
      const total = await readTableChunks(con, scan, types, requests, chunkRows, (table) => {
        const t = performance.now();
        const n = table.rows;
        const codes = featureCodes(pre, table, identity.subarray(0, n));
        let p: Float32Array;
        if (!memo) {
          p = predictRows(tf, loaded.model, encodeCodes(pre, codes, n, buffer), n, pre.width, 65_536);
          computed += n;
        } else {
          // each row: a remembered entry (>= 0), or the position of its own prediction among the fresh ones (< 0)
          let k = 0;
          for (let r = 0; r < n; r++) {
            const e = memo.entryOf(codes, r);
            if (e >= 0) entries[r] = e;
            else {
              fresh[k] = r;
              if (e === DistinctRows.FULL)
                entries[r] = -(k + 1); // not remembered: answered by its own prediction
              else {
                entries[r] = -e - 1; // a new entry, answered once the fresh rows are predicted
                if (answers.length < memo.size * width) {
                  const grown = new Float32Array(Math.max(answers.length * 2, 65_536 * width));
                  grown.set(answers);
                  answers = grown;
                }
              }
              k++;
            }
          }
          const q = predictRows(tf, loaded.model, encodeCodes(pre, codes, k, buffer, fresh), k, pre.width, 65_536);
          computed += k;
          // fresh rows now remembered take their answers; the rest point at them
          for (let j = 0; j < k; j++) {
            const e = entries[fresh[j]];
            if (e >= 0) for (let c = 0; c < width; c++) answers[e * width + c] = q[j * width + c];
          }
          p = new Float32Array(n * width);
          for (let r = 0; r < n; r++) {
            const e = entries[r];
            if (e >= 0) for (let c = 0; c < width; c++) p[r * width + c] = answers[e * width + c];
            else for (let c = 0; c < width; c++) p[r * width + c] = q[(-e - 1) * width + c];
          }
          seen += n;
          if (seen >= JUDGE_AFTER_ROWS && memo.size > MAX_DISTINCT_SHARE * seen) {
            memo = null;
            answers = new Float32Array(0);
          }
        }
        if (label.task === 'regression') for (let i = 0; i < n; i++) p[i] = p[i] * label.std + label.mean;
        parts.push(p);
        predictSeconds += (performance.now() - t) / 1000;
      });
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
      return {
        total,
        refused,
        readSeconds,
        predictSeconds,
        writeSeconds: (performance.now() - t2) / 1000,
        computed,
        remembered: memo !== null,
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
    loaded.model.dispose();
  }
}
