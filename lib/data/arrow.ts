import fs from 'node:fs';
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { DuckDBTimestampMillisecondsValue } from '@duckdb/node-api';
import { tableFromIPC, Type, type DataType, type Vector } from 'apache-arrow';
import { SourceError } from '../errors';
import { sqlIdent } from './duckdb';

/**
 * Arrow IPC files (Feather v2, `.arrow`, `.feather`) read with the Apache Arrow library and handed to DuckDB as a
 * temporary table of the connection that reads them: the bundled DuckDB has no Arrow reader of its own, and the
 * machines Lumen runs on cannot download one. Every column type Lumen's contracts use is read; any other is named
 * and refused.
 */

interface ColumnLoader {
  sql: string;
  append: (appender: DuckDBAppender, value: unknown) => void;
}

function loaderFor(name: string, type: DataType, file: string): ColumnLoader {
  const number = (a: DuckDBAppender, v: unknown): void => a.appendDouble(Number(v));
  switch (type.typeId) {
    case Type.Int:
      // every width as BIGINT (64-bit values come as bigint, narrower ones as numbers)
      return { sql: 'BIGINT', append: (a, v) => a.appendBigInt(BigInt(v as bigint | number)) };
    case Type.Float:
      return { sql: 'DOUBLE', append: number };
    case Type.Decimal: {
      // a decimal's value is its unscaled integer: 12.34 at scale 2 is 1234 until scaled
      const scale = (type as unknown as { scale: number }).scale;
      return { sql: 'DOUBLE', append: (a, v) => a.appendDouble(Number(v) / 10 ** scale) };
    }
    case Type.Bool:
      return { sql: 'BOOLEAN', append: (a, v) => a.appendBoolean(Boolean(v)) };
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Dictionary:
      return { sql: 'VARCHAR', append: (a, v) => a.appendVarchar(String(v)) };
    case Type.Date:
    case Type.Timestamp:
      // the library gives dates and times as milliseconds since the epoch (a Date for some date types)
      return {
        sql: 'TIMESTAMP',
        append: (a, v) =>
          a.appendTimestampMilliseconds(
            new DuckDBTimestampMillisecondsValue(BigInt(Math.round(v instanceof Date ? v.getTime() : Number(v)))),
          ),
      };
    default:
      throw new SourceError(
        `${file}: column "${name}" has the Arrow type ${(type as { toString(): string }).toString()}, which Lumen does not read (numbers, text, ` +
          'booleans, dates and times); convert it, or leave the column out of the file',
      );
  }
}

/** Load an Arrow IPC file into a temporary table `table` of this connection; returns its row count. */
export async function loadArrowFile(con: DuckDBConnection, file: string, table: string): Promise<number> {
  let arrow;
  try {
    arrow = tableFromIPC(fs.readFileSync(file));
  } catch (err) {
    throw new SourceError(`${file} is not a readable Arrow IPC file: ${(err as Error).message}`);
  }
  const fields = arrow.schema.fields;
  if (fields.length === 0) throw new SourceError(`${file}: the Arrow file has no columns`);
  const loaders = fields.map((f) => loaderFor(f.name, f.type as DataType, file));
  await con.run(
    `CREATE OR REPLACE TEMP TABLE ${sqlIdent(table)} (${fields.map((f, i) => `${sqlIdent(f.name)} ${loaders[i].sql}`).join(', ')})`,
  );
  const vectors = fields.map((_, i) => arrow.getChildAt(i) as Vector);
  const appender = await con.createAppender(table);
  for (let r = 0; r < arrow.numRows; r++) {
    for (let c = 0; c < vectors.length; c++) {
      const v: unknown = vectors[c].get(r);
      try {
        if (v === null || v === undefined) appender.appendNull();
        else loaders[c].append(appender, v);
      } catch (err) {
        // said with its place; the appender, holding half a row, is dropped with the connection's temporary table
        throw new SourceError(`${file}: row ${r + 1}, column "${fields[c].name}": ${(err as Error).message}`);
      }
    }
    appender.endRow();
  }
  appender.closeSync();
  return arrow.numRows;
}
