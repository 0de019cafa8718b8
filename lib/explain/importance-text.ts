import type { ImportanceComparison } from './importance';

/** A metric or its loss as importance tables print it: four decimals (NaN and infinities as they are). */
export const fixed4 = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : String(x));
const signed = (x: number): string => `${x >= 0 ? '+' : ''}${fixed4(x)}`;

/** The comparison as text lines (`lumen lineage`, `lumen card`): most relied-on first, with the champion beside. */
export function importanceLines(c: ImportanceComparison): string[] {
  const width = Math.max(7, ...c.features.map((f) => f.feature.length));
  const vs = c.championVersion === null ? '' : ` (beside champion v${c.championVersion} on the same rows)`;
  const lines = [`${c.metric} lost when a feature is shuffled, ${c.repeats} repeats on ${c.rows} holdout rows${vs}`];
  for (const f of c.features) {
    const champion = f.champion
      ? `   v${c.championVersion} ${fixed4(f.champion.mean)} (#${f.champion.rank})  ${signed(f.change ?? 0)}${f.shifted ? (f.change! > 0 ? ' ↑' : ' ↓') : ''}`
      : c.championVersion === null
        ? ''
        : '   new feature';
    lines.push(
      `${String(f.rank).padStart(2)} ${f.feature.padEnd(width)} ${fixed4(f.mean)} [${fixed4(f.low)}, ${fixed4(f.high)}]${champion}`,
    );
  }
  for (const d of c.dropped)
    lines.push(
      `   ${d.feature.padEnd(width)} not read any more (v${c.championVersion}: ${fixed4(d.mean)}, #${d.rank})`,
    );
  return lines;
}
