import { sqlIdent, sqlString } from './duckdb';

/**
 * One way to read a column as a timestamp, wherever Lumen reads one (row checks, profiles, windows, features):
 * native timestamps and dates as they are, text as ISO 8601, or with the strptime format the contract declares
 * ("%b %d %Y" for "Jun 12 1998"). A value that does not parse is NULL, and the row checks report it.
 */
export function timestampSql(column: string, format?: string, actualType?: string): string {
  const c = sqlIdent(column);
  if (actualType !== undefined && /^(TIMESTAMP|DATE)/i.test(actualType)) return `CAST(${c} AS TIMESTAMP)`;
  return format ? `try_strptime(CAST(${c} AS VARCHAR), ${sqlString(format)})` : `TRY_CAST(${c} AS TIMESTAMP)`;
}

/** Epoch milliseconds of a timestamp SQL expression, as a DOUBLE (NULL stays NULL). */
export function epochMsSql(timestamp: string): string {
  return `CAST(epoch_ms(${timestamp}) AS DOUBLE)`;
}
