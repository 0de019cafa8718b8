/**
 * The one grammar of durations in specs and policies ("72h", "90 minutes", "500ms", "1.5 days"): a number and a
 * unit. Free of any dependency, so workflows read durations the way the spec's schema checked them.
 */
export const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|seconds?|minutes?|hours?|days?)$/;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration; NaN for text that is not one. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) return Number.NaN;
  return Number(m[1]) * UNIT_MS[m[2] === 'ms' ? 'ms' : m[2][0]];
}
