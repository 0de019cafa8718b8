import fs from 'node:fs';
import path from 'node:path';
import type { ArtifactStore } from '../artifacts';
import { sqlIdent, sqlString, withDuckDB } from '../data/duckdb';
import { sourceScan } from '../data/snapshot';
import { readableSourceFile, type SourceRef } from '../data/source';
import { readTableChunks } from '../data/table';
import { columnRequests, encodeFeatures } from '../features';
import { loadModelArtifact } from '../model/artifact';
import { predictRows } from '../model/predict';
import { loadTf } from '../model/tf';
import type { ModelVersion } from '../registry/types';
import { problemsSql } from '../validation/rows';
import { contractRowRules } from '../validation/row-rules';

/**
 * `lumen predict`: score a whole file with one registered version, through the same row checks (the declared
 * rules, as for served rows), the artifact's own preprocessor and the model — what the HTTP API would answer for
 * each row, without the HTTP. Output: the input's columns, the predictions (binary: probability; multiclass: class
 * and one probability per class; regression: value), and each row's problems (a row that breaks the contract gets
 * no prediction).
 */
export interface ScoreResult {
  rows: number;
  predicted: number;
  refused: number;
  out: string;
  seconds: { read: number; predict: number; write: number; total: number };
}

export async function scoreFile(
  store: ArtifactStore,
  record: ModelVersion,
  source: SourceRef,
  out: string,
  options: { chunkRows?: number } = {},
): Promise<ScoreResult> {
  const t0 = performance.now();
  readableSourceFile(source);
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
    const result = await withDuckDB(async (con) => {
      await con.run(`CREATE OR REPLACE TEMP TABLE __scored_in AS
                       SELECT (row_number() OVER ()) - 1 AS __row, * FROM ${sourceScan(source)}`);
      const described = (await con.runAndReadAll('DESCRIBE __scored_in')).getRowObjectsJson();
      const types = new Map(described.map((r) => [r.column_name as string, r.column_type as string]));
      types.delete('__row');
      const used = new Set(pre.features.map((f) => f.column));
      const rules = contractRowRules(loaded.spec.source.columns, loaded.spec.label, {
        now: new Date().toISOString(),
        serving: true,
      }).filter((r) => used.has(r.column));
      const missing = [...used].filter((c) => !types.has(c));
      if (missing.length) {
        throw new Error(`${source.uri} has no column ${missing.map((c) => `"${c}"`).join(', ')} (the model reads it)`);
      }
      await con.run(`CREATE OR REPLACE TEMP TABLE __scored_problems AS
                       SELECT __row, ${problemsSql(rules, types)} AS problems FROM __scored_in`);
      const t1 = performance.now();
      const width = outputs.length;
      const total = Number((await con.runAndReadAll('SELECT count(*) FROM __scored_in')).getRowsJS()[0][0]);
      const predictions = new Float64Array(total * width);
      let predictSeconds = 0;
      await readTableChunks(
        con,
        '__scored_in ORDER BY __row',
        types,
        columnRequests(loaded.spec),
        options.chunkRows ?? 65_536,
        (table, offset) => {
          const t = performance.now();
          const index = Uint32Array.from({ length: table.rows }, (_, i) => i);
          const x = encodeFeatures(pre, table, index);
          const p = predictRows(tf, loaded.model, x, table.rows, pre.width, 65_536);
          if (label.task === 'regression') {
            for (let i = 0; i < table.rows; i++) predictions[offset + i] = p[i] * label.std + label.mean;
          } else predictions.set(p, offset * width);
          predictSeconds += (performance.now() - t) / 1000;
        },
      );
      const readSeconds = (performance.now() - t1) / 1000 - predictSeconds;
      const t2 = performance.now();
      await con.run(
        `CREATE OR REPLACE TEMP TABLE __scored_out (__row BIGINT, ${outputs.map((o) => `${sqlIdent(o.name)} DOUBLE`).join(', ')})`,
      );
      const appender = await con.createAppender('__scored_out');
      for (let r = 0; r < total; r++) {
        appender.appendBigInt(BigInt(r));
        for (let k = 0; k < width; k++) appender.appendDouble(predictions[r * width + k]);
        appender.endRow();
      }
      appender.closeSync();
      const predictedColumns =
        label.task === 'multiclass'
          ? `CASE WHEN len(q.problems) = 0 THEN [${label.classes.map(sqlString).join(', ')}][list_position(
               [${outputs.map((o) => `o.${sqlIdent(o.name)}`).join(', ')}],
               greatest(${outputs.map((o) => `o.${sqlIdent(o.name)}`).join(', ')}))] END AS predicted_class, `
          : '';
      await con.run(
        `COPY (SELECT i.* EXCLUDE (__row), ${predictedColumns}
                      ${outputs.map((o) => `CASE WHEN len(q.problems) = 0 THEN o.${sqlIdent(o.name)} END AS ${sqlIdent(o.name)}`).join(', ')},
                      list_transform(q.problems, p -> p.reason) AS problems
                 FROM __scored_in i POSITIONAL JOIN __scored_out o POSITIONAL JOIN __scored_problems q)
           TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd)`,
      );
      const refused = Number(
        (await con.runAndReadAll('SELECT count(*) FROM __scored_problems WHERE len(problems) > 0')).getRowsJS()[0][0],
      );
      await con.run('DROP TABLE __scored_in; DROP TABLE __scored_out; DROP TABLE __scored_problems');
      return { total, refused, readSeconds, predictSeconds, writeSeconds: (performance.now() - t2) / 1000 };
    });
    fs.renameSync(temp, out);
    return {
      rows: result.total,
      predicted: result.total - result.refused,
      refused: result.refused,
      out,
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
