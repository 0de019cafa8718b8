import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { ActivityDeps } from '../../activities';
import { loadAccessPolicy } from '../../lib/access/policy';
import { FileArtifactStore } from '../../lib/artifacts';
import { lumenPaths } from '../../lib/config';
import { SqliteRegistry } from '../../lib/registry/sqlite';
import {
  createWorkers,
  PAYLOAD_CONVERTER_PATH,
  WORKFLOW_INTERCEPTOR_MODULES,
  type QueueRole,
  type WorkerSetup,
} from '../../worker/workers';

export const repoRoot = path.resolve(__dirname, '..', '..');

export function temporalAddress(): string {
  const address = process.env.LUMEN_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('LUMEN_TEST_TEMPORAL_ADDRESS is not set: the mocha global fixture did not run');
  return address;
}

/** A fresh LUMEN_HOME with its own artifact store and registry. */
export interface TestHome {
  home: string;
  deps: ActivityDeps;
  cleanup(): void;
}

export function tempHome(prefix = 'lumen-test-'): TestHome {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const paths = lumenPaths(home);
  const registry = new SqliteRegistry(paths.registry);
  return {
    home,
    deps: {
      store: new FileArtifactStore(paths.artifacts),
      registry,
      codeVersion: 'test-code-version',
      access: () => loadAccessPolicy(home, {}),
    },
    cleanup: () => {
      registry.close();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundle the workflows once per test process (webpack takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

/** Task queue names unique to one test, so leftovers of another test can never be picked up. */
export function uniqueQueues(): { pipeline: string; training: string } {
  const id = randomUUID().slice(0, 8);
  return { pipeline: `test-pipeline-${id}`, training: `test-training-${id}` };
}

export async function testClient(): Promise<Client> {
  const connection = await Connection.connect({ address: temporalAddress() });
  return new Client({ connection, namespace: 'default' });
}

/** Run `fn` while in-process workers serve the given queues; the workers stop when it settles. */
export async function withWorkers<T>(
  deps: ActivityDeps,
  queues: { pipeline: string; training: string },
  roles: QueueRole[],
  fn: () => Promise<T>,
  options: Pick<WorkerSetup, 'activityInterceptors'> = {},
): Promise<T> {
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  try {
    const workers = await createWorkers({
      connection,
      roles,
      deps,
      workflowBundle: await workflowBundle(),
      taskQueues: queues,
      ...options,
    });
    const running = workers.map((w) => w.run());
    try {
      return await fn();
    } finally {
      for (const w of workers) w.shutdown();
      await Promise.all(running);
    }
  } finally {
    await connection.close();
  }
}

export function vegaPath(file: string): string {
  return path.join(path.resolve(path.dirname(require.resolve('vega-datasets')), '..'), 'data', file);
}

/**
 * Point the CLI's own functions, called in this process, at a test's server, home and task queues, as a shell's
 * environment would. Returns the undo.
 */
export function cliEnvironment(home: string, queues: { pipeline: string; training: string }): () => void {
  const keys = ['TEMPORAL_ADDRESS', 'LUMEN_HOME', 'LUMEN_PIPELINE_QUEUE', 'LUMEN_TRAINING_QUEUE'] as const;
  const saved = keys.map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, {
    TEMPORAL_ADDRESS: temporalAddress(),
    LUMEN_HOME: home,
    LUMEN_PIPELINE_QUEUE: queues.pipeline,
    LUMEN_TRAINING_QUEUE: queues.training,
  });
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** Poll `probe` until it returns a value (a failing probe counts as not yet), or fail after `ms`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 180_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
