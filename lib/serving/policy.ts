import { z } from 'zod';

/**
 * How a model's traffic is split, changeable while serving (`lumen serving set`, or PUT /v1/models/:model/serving):
 * a canary version that answers a share of requests — the same requests every time, by a routing key — and a
 * shadow version that sees a copy of every request without its answers reaching anyone. The champion answers the
 * rest. Every prediction logs which arm answered.
 */
export const ServingPolicy = z.strictObject({
  canary: z
    .strictObject({
      version: z.number().int().min(1),
      /** share of requests, 0–1 */
      share: z.number().min(0).max(1),
    })
    .nullable()
    .default(null),
  shadow: z
    .strictObject({ version: z.number().int().min(1) })
    .nullable()
    .default(null),
});
export type ServingPolicy = z.infer<typeof ServingPolicy>;

export interface ServingPolicyRecord {
  model: string;
  policy: ServingPolicy;
  updatedBy: string;
  reason: string;
  updatedAt: string;
}

export interface ServingInstance {
  id: string;
  url: string;
  lastSeen: string;
}

/**
 * Which arm answers a request: a stable hash of its routing key in [0, 1) against the canary share, so one key
 * (a user, a session) always lands on the same version while the share holds.
 */
export function routeShare(key: string): number {
  // FNV-1a, 32 bits: stable across processes and restarts
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 2 ** 32;
}
