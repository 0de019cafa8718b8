import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ModelSpec } from '../lib/spec';
import type { DroppedMessages } from './messages';

export function inboxWorkflowId(model: string): string {
  return `inbox:${model}`;
}

export interface InboxArrival {
  at: string;
  name: string;
  sha256: string;
  /** the training run for this content */
  workflowId: string;
  outcome: 'started' | 'already-started';
}

export interface InboxState {
  scans: number;
  arrivals: InboxArrival[];
  /** the last scan's failure, if it failed */
  lastError: string | null;
  generation: number;
  /** signals refused at the edge (absent in states carried from runs before they were counted) */
  dropped?: DroppedMessages;
}

export interface InboxInput {
  model: string;
  /** the folder watched (absolute) */
  dir: string;
  /** the spec batches train with; absent: the champion's at each arrival */
  spec?: ModelSpec;
  /** seconds between scans (default 10) */
  everySeconds?: number;
  trainingTaskQueue?: string;
  state?: InboxState;
  /** continue as new past this many history events (default 2,000) */
  historyLimit?: number;
}

export interface InboxStatus extends InboxState {
  dropped: DroppedMessages;
  model: string;
  dir: string;
  everySeconds: number;
}

export const inboxStatusQuery = defineQuery<InboxStatus>('status');
/** scan now: no argument, or `{by, reason}` */
export const scanNowSignal = defineSignal<[{ by?: string; reason?: string }?]>('scanNow');

/** What a watch was started to do: its input without the state and limits it carries across continue-as-new. */
export function watchContent(input: InboxInput): Omit<InboxInput, 'state' | 'historyLimit'> {
  const { state: _state, historyLimit: _limit, ...content } = input;
  return content;
}
