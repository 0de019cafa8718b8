import { withLazyClient } from '../client/connection';
import { decideQuarantineWith } from '../client/decisions';
import { signer } from '../client/signing';
import { openRegistry } from './registry-commands';

/** `lumen quarantine release|discard`: a person's decision on a batch that failed its contract. */
export async function decideQuarantine(
  kind: 'release' | 'discard',
  target: string,
  opts: { reason: string; actor?: string; by?: string },
): Promise<void> {
  const { by, sign } = signer(opts.actor ?? opts.by);
  const { registry } = await openRegistry();
  try {
    await withLazyClient(async (connect) => {
      const answer = await decideQuarantineWith(connect, registry, { kind, target, by, reason: opts.reason, sign });
      console.log(
        `${answer.decision} batch ${answer.dataset.slice(0, 16)} of ${answer.model} by ${by} (${answer.workflowId})` +
          (answer.recorded ? '' : '; the run has not written it to the registry yet (is a pipeline worker running?)'),
      );
    });
  } finally {
    registry.close();
  }
}
