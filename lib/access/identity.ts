/**
 * Names of people as they enter Lumen (--actor, "by" in a signal, update or HTTP body, a key's owner): printable,
 * at most 200 characters, no surrounding spaces. Terminal escapes, newlines and bidirectional overrides would let a
 * name rewrite the line it is printed on (a forged audit row), so they are refused where a name enters and escaped
 * wherever text from outside is printed.
 */
export const MAX_IDENTITY_LENGTH = 200;

/**
 * Control characters (C0, DEL, C1), line and paragraph separators, bidirectional marks, embeddings and overrides, and
 * invisible characters that make two names look the same (zero-width spaces and joiners, soft hyphen, BOM).
 */
const UNPRINTABLE =
  // eslint-disable-next-line no-control-regex -- control characters are what it finds
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/u;
const UNPRINTABLE_ALL =
  // eslint-disable-next-line no-control-regex -- control characters are what it finds
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/gu;

/** Why a name cannot be taken as someone's identity, or null when it can. */
export function identityProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'a name must be text';
  if (!name.trim()) return 'a name must not be empty';
  if (name !== name.trim()) return 'a name must not start or end with spaces';
  if (name.length > MAX_IDENTITY_LENGTH)
    return `a name is at most ${MAX_IDENTITY_LENGTH} characters (${name.length} given)`;
  const bad = UNPRINTABLE.exec(name);
  if (bad) {
    return `a name must be printable: character ${escapeUnprintable(bad[0])} at position ${bad.index + 1} is not`;
  }
  return null;
}

/** Text from outside made safe for a terminal line: each unprintable character shown as its \u escape. */
export function escapeUnprintable(text: string): string {
  return text.replace(UNPRINTABLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A short, safe excerpt of text that came from a file (a column name, a cell): unprintable characters escaped and
 * the rest cut at `max` characters. Messages, reports and the console quote data only this way, so a file read by
 * mistake shows a fragment of itself at most.
 */
export function excerpt(text: string, max = 24): string {
  const safe = escapeUnprintable(text);
  return safe.length <= max ? safe : `${safe.slice(0, max)}… (${text.length} characters)`;
}

/** Names from a file, quoted as excerpts: at most `most` of them, then how many more. */
export function quotedList(names: string[], most = 10): string {
  const shown = names.slice(0, most).map((n) => `"${excerpt(n)}"`);
  return names.length > most ? `${shown.join(', ')} and ${names.length - most} more` : shown.join(', ');
}
