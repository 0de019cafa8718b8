import { defineQuery } from '@temporalio/workflow';
import type { ModelSpec } from '../lib/spec';
import type { WindowResult } from '../lib/stream/ingest';
import type { WindowCounts, WindowRule } from '../lib/stream/window';

export function streamWorkflowId(model: string, topic: string): string {
  return `stream:${model}:${topic}`;
}

/** The consumer group of a model's stream of a topic: its committed offsets are where reading resumes. */
export function streamGroup(model: string, topic: string): string {
  return `lumen-ingest-${model}-${topic}`;
}

/** One landed window, as the stream's status lists it. */
export interface StreamWindow {
  at: string;
  ranges: WindowResult['ranges'];
  counts: WindowCounts;
  window: WindowResult['window'];
  span: WindowResult['span'];
  closedBy: WindowResult['closedBy'];
  /** the batch's content hash, and the training run it started (null: no row was accepted) */
  sha256: string | null;
  workflowId: string | null;
  outcome: 'started' | 'already-started' | 'no-rows';
  /** refused share above the contract's limit: the alert raised */
  alerted: boolean;
}

export interface StreamState {
  /** partition → offset the next window starts at; null before the first window (the group's offsets, else earliest) */
  next: Record<string, string> | null;
  windows: StreamWindow[];
  totals: { events: number; accepted: number; refused: number; duplicates: number; windows: number };
  lastError: string | null;
  generation: number;
}

export interface StreamInput {
  model: string;
  topic: string;
  rule: WindowRule;
  /** the spec windows train with; absent: the champion's at each window */
  spec?: ModelSpec;
  /** default `<topic>.dlq` */
  deadLetterTopic: string;
  maxEventBytes: number;
  /** a window with rows closes after this long without a new event (default 30) */
  idleSeconds: number;
  trainingTaskQueue?: string;
  state?: StreamState;
  /** continue as new past this many history events (default 2,000) */
  historyLimit?: number;
}

export interface StreamStatus extends StreamState {
  model: string;
  topic: string;
  group: string;
  rule: WindowRule;
  deadLetterTopic: string;
}

export const streamStatusQuery = defineQuery<StreamStatus>('status');

/** What a stream was started to do: its input without the state and limits it carries across continue-as-new. */
export function streamContent(input: StreamInput): Omit<StreamInput, 'state' | 'historyLimit'> {
  const { state: _state, historyLimit: _limit, ...content } = input;
  return content;
}
