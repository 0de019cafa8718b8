import Table from 'cli-table3';
import pc from 'picocolors';
import { escapeUnprintable } from '../lib/access/identity';

/**
 * How the CLI prints: tables and colour for a person at a terminal, plain aligned text when the output goes to a
 * file or another program, and `--json` for scripts.
 */

export const interactive = process.stdout.isTTY === true;

/**
 * Colour follows the same rule as tables: only for a terminal. `NO_COLOR` turns it off and `FORCE_COLOR` on, as
 * most tools agree; a `CI` variable alone does not (picocolors' own default), so piped output stays plain.
 */
function colourWanted(env: NodeJS.ProcessEnv): boolean {
  if ('NO_COLOR' in env) return false;
  if ('FORCE_COLOR' in env) return env.FORCE_COLOR !== '0';
  return interactive && env.TERM !== 'dumb';
}

export const color = pc.createColors(colourWanted(process.env));

export type Cell = string | number | null | undefined;

/** A table with a header row: boxed at a terminal, space-aligned plain text otherwise. */
export function table(head: string[], rows: Cell[][]): string {
  // a row with a cell more or less than the header shows every value under the wrong name: refuse it
  const ragged = rows.findIndex((r) => r.length !== head.length);
  if (ragged >= 0) {
    throw new Error(
      `table row ${ragged} has ${rows[ragged].length} cells for ${head.length} columns (${head.join(', ')})`,
    );
  }
  const text = rows.map((r) => r.map((c) => (c === null || c === undefined ? '–' : printable(String(c)))));
  if (interactive) {
    const t = new Table({ head: head.map((h) => color.bold(h)), style: { head: [], border: [] } });
    t.push(...text);
    return t.toString();
  }
  const widths = head.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...text.map(line)].join('\n');
}

/** SGR colour sequences, as `color` writes them: kept; every other unprintable character is escaped. */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const COLOUR = /\u001b\[[0-9;]*m/gu;

/**
 * A cell's text made safe for a terminal: a value from outside (a name, a comment, a reason) cannot move the
 * cursor, start a new row or reorder text, because each control or bidirectional character is shown as its \u
 * escape. The colours this program adds are kept.
 */
export function printable(text: string): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(COLOUR)) {
    out += escapeUnprintable(text.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  return out + escapeUnprintable(text.slice(last));
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
