import { raiseAlert, type AlertInput } from '../lib/alerts';
import type { AlertRecord } from '../lib/registry/types';
import type { ActivityDeps } from './context';

export function alertActivities(deps: ActivityDeps) {
  return {
    /** Record and deliver an alert (idempotent per key, so a retry after a webhook failure records it once). */
    async alert(input: AlertInput): Promise<AlertRecord> {
      return raiseAlert(deps.registry, input);
    },
  };
}
