import { log } from '@temporalio/workflow';

/**
 * Messages a workflow refused at its edge: a signal cannot answer its sender, so what it drops is counted here and
 * shown in the workflow's status query (and logged by the worker), never thrown inside the handler.
 */
export interface DroppedMessages {
  total: number;
  byName: Record<string, number>;
  /** the latest one: which message, why, when */
  last: { name: string; reason: string; at: string } | null;
}

export function noDroppedMessages(): DroppedMessages {
  return { total: 0, byName: {}, last: null };
}

/** The longest reason kept: a reason quotes the payload, which can be huge. */
const MAX_REASON = 300;

function drop(dropped: DroppedMessages, name: string, reason: string, context: Record<string, unknown>): void {
  const short = reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason;
  dropped.total++;
  dropped.byName[name] = (dropped.byName[name] ?? 0) + 1;
  dropped.last = { name, reason: short, at: new Date(Date.now()).toISOString() };
  log.warn(`${name} signal dropped: ${short}`, context);
}

/**
 * A signal handler that parses its arguments with the message's declared shape before it acts. A payload that does
 * not pass is dropped and counted; so is one whose action throws (a bug, then — still never a failed workflow task,
 * which Temporal would retry forever, wedging the workflow on one bad message).
 */
export function guardedSignal<T>(
  name: string,
  dropped: DroppedMessages,
  shape: (args: unknown[]) => T,
  act: (value: T) => void,
  context: Record<string, unknown> = {},
): (...args: unknown[]) => void {
  return (...args: unknown[]): void => {
    let value: T;
    try {
      value = shape(args);
    } catch (err) {
      drop(dropped, name, (err as Error).message, context);
      return;
    }
    try {
      act(value);
    } catch (err) {
      drop(dropped, name, `could not be acted on: ${(err as Error).message}`, context);
    }
  };
}
