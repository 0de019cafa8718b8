import type { Metrics } from './metrics';
import { primaryMetric, type ModelSpec } from './spec';

export interface PromotionDecision {
  promote: boolean;
  metric: string;
  higherIsBetter: boolean;
  candidate: number;
  champion: number | null;
  championVersion: number | null;
  reason: string;
}

/**
 * First model becomes champion; afterwards a candidate must beat the champion's primary metric, measured on the
 * same holdout, by at least `minImprovement`.
 */
export function decidePromotion(
  spec: ModelSpec,
  candidate: Metrics,
  champion: { version: number; metrics: Metrics } | null,
): PromotionDecision {
  const { name, higherIsBetter } = primaryMetric(spec.task);
  const value = candidate[name];
  const base = { metric: name, higherIsBetter, candidate: value };
  if (!Number.isFinite(value)) {
    return {
      ...base,
      promote: false,
      champion: null,
      championVersion: champion?.version ?? null,
      reason: `candidate ${name} is ${value}`,
    };
  }
  if (!champion) {
    return {
      ...base,
      promote: true,
      champion: null,
      championVersion: null,
      reason: 'no champion yet: the first model becomes champion',
    };
  }
  const incumbent = champion.metrics[name];
  const gain = higherIsBetter ? value - incumbent : incumbent - value;
  const min = spec.promotion.minImprovement;
  const promote = !Number.isFinite(incumbent) || (gain > 0 && gain >= min);
  const fmt = (x: number): string => x.toFixed(4);
  const reason = promote
    ? `candidate ${name} ${fmt(value)} beats champion v${champion.version} ${fmt(incumbent)} on the same holdout`
    : `candidate ${name} ${fmt(value)} does not beat champion v${champion.version} ${fmt(incumbent)}` +
      (min > 0 ? ` by the required ${min}` : '') +
      ' on the same holdout';
  return { ...base, promote, champion: incumbent, championVersion: champion.version, reason };
}
