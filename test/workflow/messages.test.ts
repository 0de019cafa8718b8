import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { startTrainingPipeline, type StartedPipeline } from '../../client/pipeline';
import { prng } from '../../lib/rng';
import { parseModelSpec } from '../../lib/spec';
import { temporalCliPath } from '../../tools/devserver';
import { statusQuery } from '../../workflows/definitions';
import { inboxStatusQuery, inboxWorkflowId } from '../../workflows/inbox-definitions';
import { monitorStatusQuery, monitorWorkflowId } from '../../workflows/monitor-definitions';
import { CliError, EXIT } from '../../client/errors';
import { monitorSignal, monitorStatusCommand } from '../../cli/monitor-commands';
import {
  cliEnvironment,
  eventually,
  temporalAddress,
  tempHome,
  testClient,
  uniqueQueues,
  withWorkers,
  workflowBundle,
  type TestHome,
} from '../support/env';
import { waitForStage, weather, weatherYear } from '../support/weather';

/**
 * Every message of every workflow type that takes one, sent malformed on a real server: null, values of the wrong
 * kind, required fields missing, unknown fields, strings far too long, the wrong number of arguments, and bytes
 * that cannot be decoded at all (sent with the `temporal` CLI, as a person would). Signals are dropped and counted,
 * updates refused with the reason; afterwards every workflow answers its query and does its next piece of work.
 * Before the shapes were checked at the edge, one `championMoved` with `null` failed every later workflow task of
 * the monitor.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A message and what makes it valid: an example, its required fields and the kind of each field. */
interface MessageShape {
  name: string;
  valid: Record<string, Json>;
  required: string[];
  /** fields whose value must be text, with the longest accepted */
  text: Record<string, number>;
}

const HUGE = 'x'.repeat(300_000);
const ODD: Json[] = [null, true, 0, -1, 1.5, '', 'NaN', [], [null], {}, { version: 1 }];

/** Seeded malformed argument lists for one message: each one is certainly invalid. */
function malformed(shape: MessageShape, rand: () => number, count: number): Json[][] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const out: Json[][] = [[null], [], [shape.valid, shape.valid], ['text'], [42], [[shape.valid]]];
  const fields = Object.keys(shape.valid);
  while (out.length < count) {
    const copy: Record<string, Json> = JSON.parse(JSON.stringify(shape.valid)) as Record<string, Json>;
    const op = rand();
    if (op < 0.3 && shape.required.length) delete copy[pick(shape.required)];
    else if (op < 0.5 || (op < 0.3 && !shape.required.length)) copy[`extra${Math.floor(rand() * 100)}`] = pick(ODD);
    else if (op < 0.75) {
      const field = pick(fields);
      // a value of another kind than the field takes
      const wrong = ODD.filter(
        (v) =>
          (typeof v !== typeof shape.valid[field] || v === null || Array.isArray(v)) &&
          JSON.stringify(v) !== JSON.stringify(shape.valid[field]),
      );
      copy[field] = pick(wrong);
    } else {
      copy[pick(Object.keys(shape.text))] = HUGE;
    }
    out.push([copy]);
  }
  return out;
}

/** What the corrupting codec below turns into bytes that are not JSON. */
const CORRUPT = '__lumen_test_corrupt__';

/**
 * A client whose payloads marked CORRUPT leave as JSON that does not parse (a hand-made gRPC call can send anything;
 * the `temporal` CLI checks JSON, so this is the way to send it from here).
 */
async function corruptingClient(): Promise<Client> {
  const marker = JSON.stringify(CORRUPT);
  const codec: PayloadCodec = {
    encode: (payloads) =>
      Promise.resolve(
        payloads.map((p) =>
          p.data && Buffer.from(p.data).toString('utf8') === marker ? { ...p, data: Buffer.from('{"eventId": ') } : p,
        ),
      ),
    decode: (payloads) => Promise.resolve(payloads),
  };
  const connection = await Connection.connect({ address: temporalAddress() });
  return new Client({ connection, dataConverter: { payloadCodecs: [codec] } });
}

/**
 * Bytes that are not a value, sent to a signal or an update: an encoding no converter knows (with the `temporal`
 * CLI, as a person would), and JSON that does not parse. Returns what the sender was told.
 */
async function sendUndecodable(
  corrupt: Client,
  workflowId: string,
  kind: 'signal' | 'update',
  name: string,
): Promise<string> {
  const cli = temporalCliPath();
  const common = ['--address', temporalAddress(), '--workflow-id', workflowId, '--name', name];
  const extra = ['--input', '"x"', '--input-meta', 'encoding=binary/lumen-test'];
  const args =
    kind === 'signal'
      ? ['workflow', 'signal', ...common, ...extra]
      : ['workflow', 'update', 'execute', ...common, ...extra];
  const outputs: string[] = [];
  try {
    // not execFileSync: the worker answering the update runs in this process
    outputs.push((await promisify(execFile)(cli, args, { encoding: 'utf8', timeout: 60_000 })).stdout);
  } catch (err) {
    // an update is refused: the CLI says why and exits non-zero
    const e = err as { stderr?: string };
    outputs.push(e.stderr ?? String(err));
  }
  const handle = corrupt.workflow.getHandle(workflowId);
  if (kind === 'signal') await handle.signal(name, CORRUPT);
  else
    outputs.push(
      await handle
        .executeUpdate(name, { args: [CORRUPT] })
        .then(String, (e: Error) => String((e.cause as Error | undefined)?.message ?? e)),
    );
  return outputs.join('\n');
}

const person: MessageShape = {
  name: 'person',
  valid: { by: 'ana', reason: 'fuzz', requestId: 'r-1', to: 1 },
  required: ['by', 'reason', 'requestId'],
  text: { by: 200, reason: 10_000, requestId: 200 },
};

const SHAPES: Record<string, MessageShape> = {
  championMoved: {
    name: 'championMoved',
    valid: { eventId: 'e-1', version: 1, previous: null, kind: 'promote', by: 'ana', at: '2026-12-06T00:00:00Z' },
    required: ['eventId', 'version', 'previous', 'kind', 'by', 'at'],
    text: { eventId: 200, by: 200, at: 40 },
  },
  rollback: person,
  retrain: person,
  checkNow: person,
  pause: person,
  resume: person,
};

describe('messages: malformed signals and updates never wedge a workflow', () => {
  let t: TestHome;
  let client: Client;
  let corrupt: Client;
  const queues = uniqueQueues();
  const rand = prng(20261206);

  before(async function () {
    this.timeout(120_000);
    t = tempHome('lumen-messages-');
    client = await testClient();
    corrupt = await corruptingClient();
    await workflowBundle();
  });
  after(async () => {
    await client.connection.close();
    await corrupt.connection.close();
    t.cleanup();
  });

  it('pipeline, monitor and inbox: every message fuzzed, then each answers its query and does its next work', async function () {
    this.timeout(600_000);
    const spec = parseModelSpec({
      ...weather,
      name: 'weather-messages',
      training: { ...weather.training, epochs: 5 },
      gate: { approval: { required: 'always', timeout: '10m' } },
      monitor: { everyMinutes: 0.05 },
    });
    await withWorkers(t.deps, queues, ['pipeline', 'training'], async () => {
      // a pipeline waiting for approval: its four updates, fuzzed, are refused with a reason and recorded nowhere
      const run: StartedPipeline = await startTrainingPipeline(
        client,
        spec,
        weatherYear(2012),
        { trainingTaskQueue: queues.training },
        queues.pipeline,
      );
      const waiting = await waitForStage(run, 'awaiting_approval', 180_000);
      const { version, artifactSha256 } = waiting.approval!;
      const approval: MessageShape = {
        name: 'approve',
        valid: { version, artifactSha256, by: 'ana', comment: 'ok' },
        required: ['version', 'artifactSha256', 'by', 'comment'],
        text: { artifactSha256: 64, by: 200, comment: 10_000 },
      };
      for (const update of ['approve', 'reject', 'releaseQuarantine', 'discardQuarantine']) {
        for (const args of malformed(approval, rand, 12)) {
          await assert.rejects(
            run.handle.executeUpdate(update, { args: args as [Json] }),
            (e: unknown) => e instanceof WorkflowUpdateFailedError && typeof e.cause?.message === 'string',
            `${update} ${JSON.stringify(args).slice(0, 200)}`,
          );
        }
        assert.match(
          await sendUndecodable(corrupt, run.handle.workflowId, 'update', update),
          /cannot be decoded|No registered handler/,
        );
      }
      await run.handle.signal('noSuchSignal', { any: 'thing' });
      assert.equal((await run.handle.query(statusQuery)).stage, 'awaiting_approval');
      const history = await run.handle.fetchHistory();
      assert.ok(
        !(history.events ?? []).some((e) => e.workflowExecutionUpdateAcceptedEventAttributes),
        'no malformed update was recorded',
      );
      await run.handle.executeUpdate('approve', { args: [approval.valid] });
      assert.equal((await run.handle.result()).outcome, 'promoted');

      // the monitor the promotion started: every signal fuzzed, and the policy update
      const monitor = client.workflow.getHandle(monitorWorkflowId(spec.name));
      const status = () => monitor.query(monitorStatusQuery);
      await eventually('the monitor checks', async () => ((await status()).checks >= 1 ? true : undefined));
      let sent = 0;
      for (const [name, shape] of Object.entries(SHAPES)) {
        for (const args of malformed(shape, rand, 14)) {
          await monitor.signal(name, ...args);
          sent++;
        }
        await sendUndecodable(corrupt, monitor.workflowId, 'signal', name);
        sent += 2;
      }
      for (const args of malformed(
        {
          name: 'setPolicy',
          valid: { policy: { everyMinutes: 1 }, by: 'ana', reason: 'r' },
          required: ['policy', 'by', 'reason'],
          text: { by: 200, reason: 10_000 },
        },
        rand,
        12,
      )) {
        await assert.rejects(monitor.executeUpdate('setPolicy', { args: args as [Json] }), WorkflowUpdateFailedError);
      }
      assert.match(await sendUndecodable(corrupt, monitor.workflowId, 'update', 'setPolicy'), /cannot be decoded/);
      const after = await eventually(
        'every malformed signal counted',
        async () => {
          const s = await status();
          return s.dropped.total === sent ? s : undefined;
        },
        60_000,
      );
      for (const name of Object.keys(SHAPES)) assert.equal(after.dropped.byName[name], 16, name);
      assert.equal(after.champion, version, 'no malformed move was taken');
      assert.equal(after.pending.length, 0, 'no malformed request is waiting');
      assert.equal(after.paused, null);
      assert.equal(after.policy.everyMinutes, 0.05, 'the policy is unchanged');
      // and it does its next work: a person's check, and the scheduled ones
      const checks = after.checks;
      await monitor.signal('checkNow', { by: 'ana', reason: 'after the fuzz', requestId: 'after-fuzz' });
      await eventually(
        'the next checks',
        async () => {
          const s = await status();
          return s.checks >= checks + 2 && s.actions.some((a) => a.kind === 'check' && a.by === 'ana')
            ? true
            : undefined;
        },
        60_000,
      );

      // an inbox watcher: its scanNow fuzzed
      const dir = path.join(t.home, 'inbox');
      fs.mkdirSync(dir);
      const inbox: WorkflowHandle = await client.workflow.start('inboxWatcher', {
        taskQueue: queues.pipeline,
        workflowId: inboxWorkflowId(spec.name),
        args: [{ model: spec.name, dir, spec, everySeconds: 3600, trainingTaskQueue: queues.training }],
      });
      const inboxStatus = () => inbox.query(inboxStatusQuery);
      await eventually('the first scan', async () => ((await inboxStatus()).scans >= 1 ? true : undefined));
      const scanShape: MessageShape = {
        name: 'scanNow',
        valid: { by: 'ana', reason: 'now' },
        required: [],
        text: { by: 200, reason: 10_000 },
      };
      const scanArgs = malformed(scanShape, rand, 14).filter((a) => a.length > 0);
      for (const args of scanArgs) await inbox.signal('scanNow', ...args);
      await sendUndecodable(corrupt, inbox.workflowId, 'signal', 'scanNow');
      const fuzzed = await eventually(
        'the inbox counted them',
        async () => {
          const s = await inboxStatus();
          return s.dropped.total === scanArgs.length + 2 ? s : undefined;
        },
        60_000,
      );
      // none of them asked for a scan; a valid one does (the next scheduled one is an hour away)
      assert.equal(fuzzed.scans, 1);
      await inbox.signal('scanNow', { by: 'ana', reason: 'after the fuzz' });
      await eventually('a scan', async () => ((await inboxStatus()).scans >= 2 ? true : undefined), 60_000);
      await inbox.terminate('test over');
      await monitor.terminate('test over');
    });
  });

  it('a monitor whose workflow task keeps failing: `lumen monitor status` and `monitor check` say so and why, with exit 2', async function () {
    this.timeout(120_000);
    const restore = cliEnvironment(t.home, queues);
    try {
      await withWorkers(t.deps, queues, ['pipeline'], async () => {
        // a workflow type the workers do not know fails every task it is given: the shape of a wedged workflow
        // (weather-messages has its champion from the test above; its monitor was terminated there)
        const ghost = await client.workflow.start('modelMonitorFromTheFuture', {
          taskQueue: queues.pipeline,
          workflowId: monitorWorkflowId('weather-messages'),
          args: [{ model: 'weather-messages' }],
        });
        await eventually('the task failed twice', async () =>
          ((await ghost.describe()).raw.pendingWorkflowTask?.attempt ?? 0) > 1 ? true : undefined,
        );
        const stuck = (e: unknown) =>
          e instanceof CliError &&
          e.exitCode === EXIT.failed &&
          /does not answer: its workflow task has failed \d+ time\(s\).*modelMonitorFromTheFuture/.test(e.message) &&
          /temporal workflow reset --workflow-id monitor:weather-messages/.test(e.message);
        await assert.rejects(monitorStatusCommand('weather-messages', {}), stuck);
        await assert.rejects(
          monitorSignal('checkNow', 'weather-messages', { reason: 'is it alive?', actor: 'ana' }),
          (e: unknown) => stuck(e) && /^the checkNow request is recorded, but/.test((e as Error).message),
        );
        await ghost.terminate('test over');
      });
    } finally {
      restore();
    }
  });
});
