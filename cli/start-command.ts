import { WorkflowFailedError } from '@temporalio/client';
import { describeSource, openSource, sourceAccess } from '../lib/data/source';
import { loadModelSpec } from '../lib/spec';
import { statusQuery, type PipelineResult } from '../workflows/definitions';
import type { trainingPipeline } from '../workflows';
import { clientConfig, connectClient, taskQueues, workflowUrl } from '../client/connection';
import { CliError, EXIT } from '../client/errors';
import { describeFailure, formatResult, formatVerdict } from '../client/format';
import { signer } from '../client/signing';
import { printJson } from '../client/output';
import { startTrainingPipeline } from '../client/pipeline';
import { followRun } from './progress';
import { sourceFromOptions } from './sources';

/**
 * `lumen start`: start (or join) the pipeline for a batch and follow it until it ends or waits for a person.
 * Exit codes: 0 the run ended (its outcome is printed), 2 it failed, 3 it waits for a person (what to type is
 * printed; --wait keeps following), 0 right away with --detach.
 */
export async function startCommand(
  specFile: string,
  opts: {
    source: string;
    month?: string;
    format?: string;
    wait?: boolean;
    detach?: boolean;
    actor?: string;
    json?: boolean;
  },
): Promise<void> {
  if (opts.wait && opts.detach) throw new CliError('--wait and --detach contradict each other: choose one');
  const spec = loadModelSpec(specFile);
  const source = sourceFromOptions(spec, opts);
  openSource(source, sourceAccess()); // a wrong or refused path is said before anything else is tried
  const { by, sign } = signer(opts.actor);
  const config = clientConfig();
  const client = await connectClient(config, { followsOutages: true });
  try {
    const queues = taskQueues();
    const started = await startTrainingPipeline(
      client,
      spec,
      source,
      { trainingTaskQueue: queues.training },
      queues.pipeline,
      (workflowId) => {
        // signed, the run's starter is the key's owner (a four-eyes approval keeps them from approving it)
        const proof = sign({ action: 'start', model: spec.name, subject: { workflowId }, comment: '' });
        return proof ? { actor: by, proof } : { actor: `cli:${by}` };
      },
    );
    const { runId } = await started.handle.describe();
    const link = workflowUrl(config, started.workflowId, runId);
    if (!opts.json) {
      const said = {
        started: 'started',
        running: 'already running (joined, not started twice):',
        finished: 'already trained (this spec never trains twice on the same data); its run:',
      }[started.state];
      console.log(`${said} ${started.workflowId}`);
      console.log(`spec       ${specFile} (${started.specHash.slice(0, 12)})`);
      console.log(`data       ${describeSource(source)} (${started.dataFingerprint.slice(0, 16)})`);
      console.log(`web ui     ${link}`);
    }
    if (opts.detach) {
      if (opts.json) printJson({ workflowId: started.workflowId, runId, state: started.state, url: link });
      return;
    }
    process.exitCode = await followRun(started.handle, {
      wait: opts.wait === true,
      json: opts.json === true,
      epochs: spec.training.epochs,
    });
  } finally {
    await client.connection.close();
  }
}

/** `lumen status <workflowId>`: where a run stands, or how it ended. */
export async function statusCommand(workflowId: string, opts: { json?: boolean }): Promise<void> {
  const config = clientConfig();
  const client = await connectClient(config);
  try {
    const handle = client.workflow.getHandle<typeof trainingPipeline>(workflowId);
    const d = await handle.describe();
    const link = workflowUrl(config, workflowId, d.runId);
    if (d.status.name === 'RUNNING') {
      const s = await handle.query(statusQuery);
      if (opts.json) return printJson({ workflowId, runId: d.runId, status: d.status.name, url: link, ...s });
      console.log(`${workflowId}  ${d.status.name}  started ${d.startTime.toISOString()}`);
      console.log(`web ui     ${link}`);
      console.log(`stage      ${s.stage}`);
      if (s.verdict) console.log(formatVerdict(s.verdict).join('\n'));
      if (s.approval && s.stage === 'awaiting_approval') {
        console.log(
          `approval   v${s.approval.version} (artifact ${s.approval.artifactSha256.slice(0, 16)}…) until ${s.approval.deadline}`,
        );
        const { approversNeeded, approvals = [] } = s.approval;
        if (approversNeeded) {
          const who = approvals.map((a) => `${a.by} (${a.at})`).join(', ');
          console.log(
            `           four eyes: ${approvals.length} of ${approversNeeded} approvers${who ? `: ${who}` : ''}`,
          );
        }
        console.log(`           lumen approve|reject ${s.model} --version ${s.approval.version} --comment "…"`);
      }
      if (s.quarantine && s.stage === 'quarantined') {
        console.log(`quarantine until ${s.quarantine.deadline}: ${s.quarantine.summary}`);
        console.log(`           lumen quarantine release|discard ${workflowId} --reason "…"`);
      }
      if (s.dataset) console.log(`dataset    ${s.dataset.sha256.slice(0, 16)}… ${s.dataset.rows} rows`);
      for (const step of s.steps) console.log(`  done     ${step.stage} ${(step.milliseconds / 1000).toFixed(1)} s`);
      return;
    }
    if (d.status.name === 'COMPLETED') {
      const result: PipelineResult = await handle.result();
      if (opts.json) return printJson({ workflowId, runId: d.runId, status: d.status.name, url: link, result });
      console.log(`${workflowId}  ${d.status.name}  started ${d.startTime.toISOString()}`);
      console.log(`web ui     ${link}`);
      console.log(formatResult(result));
      return;
    }
    const failure = await handle.result().then(
      () => null,
      (err: unknown) => (err instanceof WorkflowFailedError ? describeFailure(err) : String(err)),
    );
    if (opts.json) return printJson({ workflowId, runId: d.runId, status: d.status.name, url: link, failure });
    console.log(`${workflowId}  ${d.status.name}  started ${d.startTime.toISOString()}`);
    console.log(`web ui     ${link}`);
    if (failure) console.log(`failure    ${failure}`);
    process.exitCode = EXIT.failed;
  } finally {
    await client.connection.close();
  }
}
