import type { Headers } from '@temporalio/common';
import {
  workflowInfo,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/**
 * Carries the trace a client started a run in on to what the run starts — its activities and child workflows — so
 * a `lumen start`, its pipeline and each of its activities, on whichever worker, share one trace (lib/telemetry.ts). It only copies a header: it adds no span, no command and no yield, so histories written
 * before it replay unchanged (Temporal's own OpenTelemetry workflow interceptors add yields that older monitor
 * histories do not replay through).
 *
 * The header is the one Temporal's OpenTelemetry client and activity interceptors write and read.
 */
const TRACE_HEADER = '_tracer-data';

/**
 * Runs that live for months — a model's monitor, the inbox watcher, a stream's ingest, the monitors' supervisor —
 * are not part of the trace of whoever started them: each of their checks, windows and the runs they start would
 * otherwise join one trace that never ends. So is a run's next run (continue-as-new).
 */
const LONG_LIVED = new Set(['modelMonitor', 'inboxWatcher', 'streamIngest', 'monitorSupervisor']);

/** the trace context this run was started with; module state is this run's own in the workflow sandbox */
let startedIn: Headers[string] | undefined;

function carried<T extends { headers: Headers }>(input: T): T {
  if (startedIn === undefined || input.headers[TRACE_HEADER] !== undefined) return input;
  return { ...input, headers: { ...input.headers, [TRACE_HEADER]: startedIn } };
}

const inbound: WorkflowInboundCallsInterceptor = {
  execute(input, next) {
    if (!LONG_LIVED.has(workflowInfo().workflowType)) startedIn = input.headers[TRACE_HEADER];
    return next(input);
  },
};

const outbound: WorkflowOutboundCallsInterceptor = {
  scheduleActivity: (input, next) => next(carried(input)),
  scheduleLocalActivity: (input, next) => next(carried(input)),
  startChildWorkflowExecution: (input, next) => next(carried(input)),
};

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [inbound], outbound: [outbound] });
