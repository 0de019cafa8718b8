import type { Headers } from '@temporalio/common';
import type {
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptorsFactory,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/**
 * Carries the trace a client started a run in on to everything the run starts — its activities, child workflows,
 * its next run — so a `lumen start`, its pipeline and each of its activities, on whichever worker, share one trace
 * (lib/telemetry.ts). It only copies a header: it adds no span, no command and no yield, so histories written
 * before it replay unchanged (Temporal's own OpenTelemetry workflow interceptors add yields that older monitor
 * histories do not replay through).
 *
 * The header is the one Temporal's OpenTelemetry client and activity interceptors write and read.
 */
const TRACE_HEADER = '_tracer-data';

/** the trace context this run was started with; module state is this run's own in the workflow sandbox */
let startedIn: Headers[string] | undefined;

function carried<T extends { headers: Headers }>(input: T): T {
  if (startedIn === undefined || input.headers[TRACE_HEADER] !== undefined) return input;
  return { ...input, headers: { ...input.headers, [TRACE_HEADER]: startedIn } };
}

const inbound: WorkflowInboundCallsInterceptor = {
  execute(input, next) {
    startedIn = input.headers[TRACE_HEADER];
    return next(input);
  },
};

const outbound: WorkflowOutboundCallsInterceptor = {
  scheduleActivity: (input, next) => next(carried(input)),
  scheduleLocalActivity: (input, next) => next(carried(input)),
  startChildWorkflowExecution: (input, next) => next(carried(input)),
  continueAsNew: (input, next) => next(carried(input)),
};

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [inbound], outbound: [outbound] });
