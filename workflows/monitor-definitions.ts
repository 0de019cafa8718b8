/**
 * The monitor's messages, shared by the workflow, the activities that tell it of champion moves, and the CLI.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DecisionProof } from '../lib/access/statement';
import type { ReportSummary } from '../lib/monitor/report';
import type { MonitorPolicy, MonitorPolicyInput } from '../lib/monitor/policy';
import type { DroppedMessages } from './messages';
import type { ActionSummary, Incident, ManualRequest, MonitorState } from './monitor-logic';

export function monitorWorkflowId(model: string): string {
  return `monitor:${model}`;
}

export interface MonitorInput {
  model: string;
  /** task queue of the training workers, passed on to the runs the monitor starts (default lumen-training) */
  trainingTaskQueue?: string;
  /** carried across continue-as-new */
  state?: MonitorState;
  /** continue as new once the history has this many events (default 2,000; the server also suggests it) */
  historyLimit?: number;
}

/** The champion moved (promotion, rollback, manual move): sent by the activity that moved it. */
export interface ChampionMovedEvent {
  /** the alias event's request id: the same move told twice is taken once */
  eventId: string;
  version: number;
  previous: number | null;
  kind: 'promote' | 'rollback';
  by: string;
  at: string;
}

export type PersonRequest = Omit<ManualRequest, 'kind'>;

export const championMovedSignal = defineSignal<[ChampionMovedEvent]>('championMoved');
export const rollbackSignal = defineSignal<[PersonRequest]>('rollback');
export const retrainSignal = defineSignal<[PersonRequest]>('retrain');
export const checkNowSignal = defineSignal<[PersonRequest]>('checkNow');
export const pauseSignal = defineSignal<[PersonRequest]>('pause');
export const resumeSignal = defineSignal<[PersonRequest]>('resume');

export interface SetPolicyRequest {
  /** the fields to change, e.g. {"everyMinutes": 1, "drift": {"action": "alert"}}; sections merge */
  policy: MonitorPolicyInput;
  by: string;
  reason: string;
  proof?: DecisionProof;
}

export const setPolicyUpdate = defineUpdate<MonitorPolicy, [SetPolicyRequest]>('setPolicy');

export interface MonitorStatus {
  model: string;
  champion: number | null;
  policy: MonitorPolicy;
  policyFrom: 'spec' | 'update';
  paused: { by: string; reason: string; at: string } | null;
  checks: number;
  lastCheckTo: string | null;
  nextCheckAt: string;
  openIncidents: Incident[];
  reports: ReportSummary[];
  actions: ActionSummary[];
  pending: ManualRequest[];
  /** this run's history length (continue-as-new keeps it bounded) */
  historyLength: number;
  continuedAsNew: number;
  /** signals dropped because their payload was malformed: how many, per signal, and the latest reason */
  dropped: DroppedMessages;
}

export const monitorStatusQuery = defineQuery<MonitorStatus>('status');
