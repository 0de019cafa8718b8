import fs from 'node:fs';
import path from 'node:path';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createPipelineActivities, createTrainingActivities, type ActivityDeps } from '../activities';
import { storeFailures } from '../activities/store-failures';
import { removeOrphanedTemporaries } from '../lib/artifacts/temporary';
import { loadAccessPolicy } from '../lib/access/policy';
import { openArtifactStore } from '../lib/artifacts';
import { lumenPaths } from '../lib/config';
import { openRegistryAt } from '../lib/registry/open';
import { codeVersion } from '../lib/version';
import type { WorkerMetrics } from './metrics';
import { temporalOps } from './temporal-ops';
import { PIPELINE_QUEUE, TRAINING_QUEUE } from '../workflows/definitions';

export type QueueRole = 'pipeline' | 'training';

/**
 * Lumen's payload converter (workflows/payload-converter.ts): a payload a workflow cannot decode reaches its
 * message's shape check instead of failing the workflow task. Bundles of the workflows must be made with it.
 */
export const PAYLOAD_CONVERTER_PATH = require.resolve('../workflows/payload-converter');

/**
 * The workflow bundle set-up builds beside the compiled workers (dist/workflow-bundle.js, tools/bundle-workflows.ts):
 * loaded as it is, so a worker's start runs no webpack. Absent when running from the TypeScript sources.
 */
export const PREBUILT_BUNDLE = path.join(__dirname, '..', 'workflow-bundle.js');

/**
 * Workflow interceptors every bundle of the workflows carries: the run's trace context passed on to its activities
 * (workflows/trace-context.ts), so a client's trace continues on whichever worker runs them.
 */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('../workflows/trace-context')];

export interface WorkerSetup {
  /** what this process measures for its `/metrics` (worker/metrics.ts); absent: nothing is measured */
  metrics?: WorkerMetrics;
  connection: NativeConnection;
  namespace?: string;
  roles: QueueRole[];
  deps: ActivityDeps;
  /** a prebuilt bundle (tests bundle once per suite); otherwise workflows are bundled from source */
  workflowBundle?: WorkerOptions['workflowBundle'];
  identity?: string;
  /** task queue names (defaults lumen-pipeline / lumen-training); tests use their own to stay isolated */
  taskQueues?: { pipeline?: string; training?: string };
  /** activity interceptors (fault tests inject failures at the activity boundary with them) */
  activityInterceptors?: NonNullable<WorkerOptions['interceptors']>['activity'];
}

/** Activity dependencies for this process, from LUMEN_HOME (artifact store + registry) and the code version. */
export async function defaultDeps(home?: string): Promise<ActivityDeps> {
  const paths = lumenPaths(home);
  return {
    store: await openArtifactStore(paths),
    registry: await openRegistryAt(paths.registry),
    codeVersion: codeVersion(),
    access: () => loadAccessPolicy(paths.home),
  };
}

/**
 * One worker per task queue. The pipeline queue runs workflows and light activities; the training queue runs
 * tfjs work one task at a time, so a long training step never starves heartbeats or other pipelines'
 * bookkeeping.
 */
export async function createWorkers(setup: WorkerSetup): Promise<Worker[]> {
  const common = {
    connection: setup.connection,
    namespace: setup.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default',
    ...(setup.identity ? { identity: setup.identity } : {}),
    shutdownGraceTime: '20 seconds' as const,
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
    // Heartbeats reach the server at least this often (the SDK's default is 80% of the heartbeat timeout), so
    // the progress a dead worker made — a checkpoint, say — is known to the server within seconds.
    maxHeartbeatThrottleInterval: '2 seconds' as const,
  };
  const queues = {
    pipeline: setup.taskQueues?.pipeline ?? PIPELINE_QUEUE,
    training: setup.taskQueues?.training ?? TRAINING_QUEUE,
  };
  const deps: ActivityDeps = {
    ...setup.deps,
    temporal: setup.deps.temporal ?? temporalOps(setup.connection, common.namespace, queues),
    ...(setup.metrics ? { metrics: setup.metrics } : {}),
  };
  // what processes that died on this host left in the working folder
  const orphans = removeOrphanedTemporaries(deps.store.root);
  if (orphans) console.log(`[worker] removed ${orphans} temporary file(s) left by processes that stopped`);
  /** the same for both workers, but for what times their activities, which names the queue */
  const interceptors = (queue: string): WorkerOptions['interceptors'] => ({
    activity: [
      // outermost: an activity's span (a child of the trace its run carries; lib/telemetry.ts) covers everything
      // else its worker does for it; without a tracer registered it is OpenTelemetry's no-op
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
      ...(setup.metrics ? [setup.metrics.activities(queue)] : []),
      storeFailures(deps),
      ...(setup.activityInterceptors ?? []),
    ],
  });
  const workers: Worker[] = [];
  if (setup.roles.includes('pipeline')) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: queues.pipeline,
        ...(setup.workflowBundle
          ? { workflowBundle: setup.workflowBundle }
          : fs.existsSync(PREBUILT_BUNDLE)
            ? { workflowBundle: { codePath: PREBUILT_BUNDLE } }
            : { workflowsPath: require.resolve('../workflows') }),
        activities: createPipelineActivities(deps),
        interceptors: {
          ...interceptors(queues.pipeline),
          // a prebuilt bundle carries them already (tools/bundle-workflows.ts, test/support/env.ts)
          ...(setup.workflowBundle || fs.existsSync(PREBUILT_BUNDLE)
            ? {}
            : { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }),
        },
        // every model's monitor sleeps here between checks: kept in the cache, a wake-up is one activation, not a
        // replay of its history (npm run bench:monitors: 1,000 monitors on one worker)
        maxCachedWorkflows: 2000,
      }),
    );
  }
  if (setup.roles.includes('training')) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: queues.training,
        activities: createTrainingActivities(deps),
        interceptors: interceptors(queues.training),
        maxConcurrentActivityTaskExecutions: 1,
      }),
    );
  }
  return workers;
}
