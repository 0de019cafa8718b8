import type { DatasetRef } from '../data/snapshot';
import type { SourceColumn } from './contract';
import { familyOf, profileDataset, type ColumnProfile } from './profile';

/**
 * Propose a contract from a first dataset, TFDV-style: types from what DuckDB read, required when nothing is
 * missing, numeric bounds from what was seen (widened by 10% of the range, so the next batch is not rejected for
 * one new extreme), learned domains for low-cardinality strings. A proposal for a person to review and commit.
 */
export async function inferContract(dataset: DatasetRef): Promise<{ columns: SourceColumn[]; notes: string[] }> {
  const profile = await profileDataset(dataset);
  const notes: string[] = [];
  const columns = profile.columns.map((p: ColumnProfile): SourceColumn => {
    const missingShare = profile.rows ? p.missing / profile.rows : 0;
    const required = missingShare === 0;
    const base: SourceColumn = { name: p.name, type: 'string', required };
    if (!required) base.maxMissing = Math.min(1, Math.ceil(missingShare * 1.5 * 1000) / 1000);
    if (p.kind === 'timestamp') return { ...base, type: 'timestamp' };
    if (p.kind === 'numeric') {
      const integer = /INT/i.test(p.type) && familyOf(p.type) === 'numeric';
      const out: SourceColumn = { ...base, type: integer ? 'integer' : 'float' };
      if (p.min !== null && p.max !== null) {
        const margin = (p.max - p.min) * 0.1;
        // a column never seen negative stays non-negative; bounds are rounded outward to 3 decimals
        const low = p.min >= 0 ? Math.max(0, p.min - margin) : p.min - margin;
        out.min = integer ? Math.floor(low) : Math.floor(low * 1000) / 1000;
        out.max = integer ? Math.ceil(p.max + margin) : Math.ceil((p.max + margin) * 1000) / 1000;
      }
      if (p.nan + p.posInf + p.negInf > 0) notes.push(`column "${p.name}" has NaN or infinite values in the sample`);
      return out;
    }
    if (/^BOOLEAN$/i.test(p.type)) return { ...base, type: 'boolean' };
    if (p.distinct > 0 && p.distinct <= 1000) return { ...base, domain: 'learned' };
    notes.push(`column "${p.name}" has ${p.distinct} distinct values: no domain proposed`);
    return base;
  });
  if (profile.duplicateRows > 0) notes.push(`${profile.duplicateRows} duplicated rows in the sample`);
  return { columns, notes };
}
