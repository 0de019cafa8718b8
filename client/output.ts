import Table from 'cli-table3';
import pc from 'picocolors';

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
  const text = rows.map((r) => r.map((c) => (c === null || c === undefined ? '–' : String(c))));
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

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
