/** SQL quoting, free of any database client (so rule modules can write SQL without loading DuckDB). */

/** Quote a string as a SQL literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Quote an identifier. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A JSON path to one field of an object (`$."field"`, quotes and backslashes escaped), as a SQL literal. */
export function jsonFieldPath(field: string): string {
  return sqlString(`$."${field.replace(/["\\]/g, (c) => `\\${c}`)}"`);
}

/** A timestamp literal from an ISO time (UTC, as DuckDB's TIMESTAMP reads it). */
export function sqlTimestamp(iso: string): string {
  return sqlString(iso.replace('T', ' ').replace('Z', ''));
}
