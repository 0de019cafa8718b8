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

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const FULL_MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

/** Wall-clock fields to epoch milliseconds (as DuckDB's epoch_ms of a TIMESTAMP), or null when not a real date. */
function wallClock(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number | null {
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const check = new Date(t);
  // Date.UTC rolls 31 April over to 1 May; a real date must come back as written
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return null;
  return t;
}

const ISO =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * A timestamp written as text, read the way `timestampSql` reads it in DuckDB — ISO 8601 without a format, or the
 * contract's strptime format — as epoch milliseconds of the wall-clock time (an offset, if given, is applied, as
 * DuckDB does). Null when it does not read. Used where rows arrive one at a time (serving), so a served row and
 * the same row in a batch give the same value.
 */
export function parseTimestamp(text: string, format?: string): number | null {
  return format ? compileFormat(format)(text) : parseIso(text);
}

function parseIso(text: string): number | null {
  const m = ISO.exec(text.trim());
  if (!m) return null;
  const frac = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  // 24:00:00 is midnight at the end of the day (DuckDB reads it so)
  if (Number(m[4]) === 24 && Number(m[5]) === 0 && Number(m[6] ?? 0) === 0 && frac === 0) {
    const midnight = wallClock(Number(m[1]), Number(m[2]), Number(m[3]));
    return midnight === null || m[8] ? null : midnight + 86_400_000;
  }
  const t = wallClock(
    Number(m[1]),
    Number(m[2]),
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
    frac,
  );
  if (t === null || !m[8] || m[8].toUpperCase() === 'Z') return t;
  const sign = m[8][0] === '-' ? -1 : 1;
  const digits = m[8].slice(1).replace(':', '');
  const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0);
  return t - sign * offset * 60_000;
}

const compiled = new Map<string, (text: string) => number | null>();

/**
 * A strptime subset, compiled once per format: %Y %y %m %d %e %H %I %M %S %f %p %b %B %a %A %% and literal
 * characters. Any other directive is refused when the format is first used, never guessed.
 */
export function compileFormat(format: string): (text: string) => number | null {
  const hit = compiled.get(format);
  if (hit) return hit;
  type Field = 'Y' | 'y' | 'm' | 'd' | 'H' | 'I' | 'M' | 'S' | 'f' | 'p' | 'b' | 'B' | 'a';
  const fields: Field[] = [];
  let pattern = '^\\s*';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i];
    if (ch !== '%') {
      pattern += /\s/.test(ch) ? '\\s+' : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      continue;
    }
    const d = format[++i];
    const add = (field: Field, re: string): void => {
      fields.push(field);
      pattern += `(${re})`;
    };
    switch (d) {
      case 'Y':
        add('Y', '\\d{4}');
        break;
      case 'y':
        add('y', '\\d{2}');
        break;
      case 'm':
      case 'd':
      case 'e':
      case 'H':
      case 'I':
      case 'M':
      case 'S':
        add(d === 'e' ? 'd' : d, '\\d{1,2}');
        break;
      case 'f':
        add('f', '\\d{1,9}');
        break;
      case 'p':
        add('p', '[AaPp][Mm]');
        break;
      case 'b':
        add('b', '[A-Za-z]{3}');
        break;
      case 'B':
        add('B', '[A-Za-z]+');
        break;
      case 'a':
      case 'A':
        add('a', '[A-Za-z]+');
        break;
      case '%':
        pattern += '%';
        break;
      default:
        throw new Error(`timestamp format "${format}": the directive %${d ?? ''} is not supported here`);
    }
  }
  const re = new RegExp(`${pattern}\\s*$`);
  const parse = (text: string): number | null => {
    const m = re.exec(text);
    if (!m) return null;
    let y = 1900;
    let mo = 1;
    let day = 1;
    let h = 0;
    let mi = 0;
    let s = 0;
    let ms = 0;
    let pm: boolean | null = null;
    for (let k = 0; k < fields.length; k++) {
      const v = m[k + 1];
      switch (fields[k]) {
        case 'Y':
          y = Number(v);
          break;
        case 'y':
          // POSIX: 69–99 are 1969–1999, 00–68 are 2000–2068
          y = Number(v) + (Number(v) >= 69 ? 1900 : 2000);
          break;
        case 'm':
          mo = Number(v);
          break;
        case 'd':
          day = Number(v);
          break;
        case 'H':
        case 'I':
          h = Number(v);
          break;
        case 'M':
          mi = Number(v);
          break;
        case 'S':
          s = Number(v);
          break;
        case 'f':
          ms = Math.floor(Number(`0.${v}`) * 1000);
          break;
        case 'p':
          pm = v.toLowerCase() === 'pm';
          break;
        case 'b': {
          const i = MONTHS.indexOf(v.toLowerCase());
          if (i < 0) return null;
          mo = i + 1;
          break;
        }
        case 'B': {
          const i = FULL_MONTHS.indexOf(v.toLowerCase());
          if (i < 0) return null;
          mo = i + 1;
          break;
        }
        case 'a':
          break; // a weekday name says nothing the date does not
      }
    }
    if (pm !== null) {
      if (h < 1 || h > 12) return null;
      h = (h % 12) + (pm ? 12 : 0);
    }
    return wallClock(y, mo, day, h, mi, s, ms);
  };
  compiled.set(format, parse);
  return parse;
}
