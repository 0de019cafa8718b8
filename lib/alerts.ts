import type { AlertRecord, Registry } from './registry/types';

export type AlertInput = Omit<AlertRecord, 'id' | 'at'>;

/**
 * Raise an alert: recorded in the registry (once per key), written to the worker's log, and posted as JSON to
 * LUMEN_ALERT_WEBHOOK when that is set. A webhook that does not answer 2xx makes this throw, so the activity
 * retries the delivery; the registry record is not duplicated.
 */
export async function raiseAlert(
  registry: Registry,
  alert: AlertInput,
  webhook = process.env.LUMEN_ALERT_WEBHOOK,
): Promise<AlertRecord> {
  const record = await registry.recordAlert(alert);
  console.warn(`[lumen] ALERT ${record.severity} ${record.model} ${record.kind}: ${record.message}`);
  if (webhook) {
    const response = await fetch(webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(record),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`alert webhook ${webhook} answered ${response.status}`);
  }
  return record;
}
