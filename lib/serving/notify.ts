import type { Registry } from '../registry/types';

/**
 * Tell every serving instance seen recently that an alias moved, so it loads the new version now rather than at
 * its next look at the registry (which it does every few seconds anyway: a lost message only delays the swap).
 * Best effort: failures are returned for the log, never thrown.
 */
export async function announceAliasMove(
  registry: Registry,
  adminToken: string | null,
  options: { seenWithinMs?: number; timeoutMs?: number } = {},
): Promise<{ told: string[]; failed: { url: string; reason: string }[] }> {
  const since = new Date(Date.now() - (options.seenWithinMs ?? 60_000)).toISOString();
  const instances = await registry.servingInstances(since);
  const told: string[] = [];
  const failed: { url: string; reason: string }[] = [];
  if (!adminToken) {
    return { told, failed: instances.map((i) => ({ url: i.url, reason: 'no admin token to authenticate with' })) };
  }
  await Promise.all(
    instances.map(async (i) => {
      try {
        const res = await fetch(`${i.url}/v1/admin/reload`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}` },
          signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        });
        if (res.ok) told.push(i.url);
        else failed.push({ url: i.url, reason: `answered ${res.status}` });
      } catch (err) {
        failed.push({ url: i.url, reason: (err as Error).message });
      }
    }),
  );
  return { told, failed };
}
