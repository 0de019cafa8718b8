import readline from 'node:readline/promises';
import { color } from '../../client/output';
import { decideCandidateWith } from '../../client/decisions';
import { actor } from '../../client/identity';
import type { ModelVersion } from '../../lib/registry/types';
import { metric, type Journal } from './journal';
import type { LoopServices } from './services';

type Decision = { kind: 'approve' | 'reject'; by: string; comment: string };

/**
 * The person at the gate: every candidate that waits for approval is decided, once, by the auto-approver's rule
 * (`--approve auto`) or by asking at the terminal (`--approve ask`), and sent as a real approval or rejection.
 */
export class Operator {
  private readonly decided = new Set<string>();
  private busy = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly services: LoopServices,
    private readonly journal: Journal,
    private readonly model: string,
    private readonly mode: 'auto' | 'ask',
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.decidePending(), 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async decidePending(): Promise<void> {
    if (this.busy) return;
    const { registry } = this.services;
    const pending = await registry.listApprovals({ model: this.model, status: 'pending' }).catch(() => []);
    for (const p of pending) {
      const key = `${p.model}:v${p.version}`;
      if (this.decided.has(key)) continue;
      const version = await registry.getVersion(p.model, p.version);
      if (!version) continue;
      this.decided.add(key);
      this.busy = true;
      try {
        const decision = this.mode === 'ask' ? await this.ask(version) : autoDecision(version);
        const answer = await decideCandidateWith(() => Promise.resolve(this.services.client), registry, {
          kind: decision.kind,
          model: p.model,
          version: p.version,
          by: decision.by,
          comment: decision.comment,
        });
        this.journal.event(
          `${answer.decision} v${p.version} by ${decision.by}: ${decision.comment}`,
          this.services.link(p.workflowId),
        );
      } catch (err) {
        this.journal.event(color.red(`the decision on v${p.version} failed: ${(err as Error).message}`));
      } finally {
        this.busy = false;
      }
    }
  }

  private async ask(v: ModelVersion): Promise<Decision> {
    const verdict = (v.evaluation as { verdict?: { reason: string } }).verdict;
    this.journal.quiet = true;
    this.journal.say(color.bold(`\n${v.model} v${v.version} waits for your approval`));
    this.journal.say(
      `  ${metric(v.metrics)}\n  gate: ${verdict?.reason ?? '–'}\n  batch: ${v.lineage.validation.decision} (${v.lineage.validation.outcome})`,
    );
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    try {
      const yes = /^y/i.test(await rl.question('  approve and promote? [y/N] '));
      const comment =
        (await rl.question('  comment: ')).trim() ||
        (yes ? 'approved at the demo prompt' : 'rejected at the demo prompt');
      return { kind: yes ? 'approve' : 'reject', by: actor(), comment };
    } finally {
      rl.close();
      this.journal.quiet = false;
    }
  }
}

/** The auto-approver's rule: a candidate whose batch its contract accepted is approved; any other is not. */
function autoDecision(v: ModelVersion): Decision {
  const validation = v.lineage.validation;
  if (validation.decision === 'accepted') {
    return {
      kind: 'approve',
      by: 'auto-approver',
      comment: `gate passed; batch ${validation.outcome} and accepted by its contract`,
    };
  }
  return {
    kind: 'reject',
    by: 'auto-approver',
    comment: `its batch was ${validation.decision} by ${validation.decidedBy ?? 'someone'}, not accepted by its contract: a person must look`,
  };
}
