import { withRegisteredPolicy } from '../lib/access/model-policy';
import { clearInboxFile, scanInbox, type InboxFile } from '../lib/inbox';
import { NotFoundError } from '../lib/errors';
import type { ModelSpec } from '../lib/spec';
import { asActivity, type ActivityDeps } from './context';

export function inboxActivities(deps: ActivityDeps) {
  return {
    /** Settled files in the inbox, staged by content, and the spec to train them with (given, or the champion's). */
    async scanInbox(input: {
      model: string;
      dir: string;
      spec?: ModelSpec;
    }): Promise<{ files: InboxFile[]; spec: ModelSpec | null; refused?: string[] }> {
      return asActivity(async () => {
        const { files, refused } = await scanInbox(deps.store, input.dir);
        if (files.length === 0) return { files, spec: null, refused };
        if (input.spec) return { files, spec: input.spec, refused };
        const champion = await deps.registry.alias(input.model, 'champion');
        const record = champion === null ? undefined : await deps.registry.getVersion(input.model, champion);
        if (!record) throw new NotFoundError(`${input.model} has no champion to take the spec from; watch with a spec`);
        return { files, spec: await withRegisteredPolicy(deps.registry, record.spec), refused };
      });
    },

    async clearInboxFile(input: { dir: string; name: string; sha256: string }): Promise<boolean> {
      return asActivity(() => clearInboxFile(input.dir, input.name, input.sha256));
    },
  };
}
