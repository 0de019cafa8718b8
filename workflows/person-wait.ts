import type { UpdateDefinition } from '@temporalio/common';
import { ApplicationFailure, condition, patched, setHandler } from '@temporalio/workflow';
import type { Stage } from './definitions';
import { oneAtATime, SIGNED_DECISIONS } from './access';
import { single } from './message-shapes';
import type { PipelineRun } from './pipeline-run';
// lib/duration is pure (no I/O, no imports): the deadlines are read by the grammar the spec was checked with
// eslint-disable-next-line @typescript-eslint/no-restricted-imports
import { durationMs } from '../lib/duration';

/**
 * A pipeline's wait for a person — a candidate's approval, a quarantined batch's release — in the one shape both
 * share: two decisions, each a Temporal update; a validator that refuses, before anything is recorded, a message of
 * the wrong shape, one that arrives when nothing waits (before the wait, after a decision, after the deadline), or
 * one that names the wrong subject; the decisions taken one at a time, each verified (signature, key, role) first;
 * and a durable wait that ends with a decision or the deadline, whichever comes first.
 */
export interface PersonWait<Kind extends string, Request, Answer> {
  /** what one message carries, for the error when a message carries several: "a quarantine decision" */
  what: string;
  /** the message's shape (message-shapes.ts): a wrong one is refused with its field named */
  parse: (payload: unknown) => Request;
  /** why this message cannot decide anything (nothing waits, a wrong subject, no identity…), or null */
  refusal: (request: Request) => string | null;
  /** each decision and its update */
  decisions: [Kind, UpdateDefinition<Answer, [Request]>][];
  /**
   * Take one decision; calls never overlap. `signed` is false only when replaying a run recorded before decisions
   * were verified: then the decision applies as claimed.
   */
  decide: (kind: Kind, request: Request, signed: boolean) => Promise<Answer>;
}

/** Listen for the decisions; nothing is decided until `awaitPerson` opens the wait (the validator refuses before). */
export function listenForPerson<Kind extends string, Request, Answer>(w: PersonWait<Kind, Request, Answer>): void {
  const serially = oneAtATime();
  const validator = (...args: unknown[]): void => {
    const problem = w.refusal(w.parse(single(args, w.what)));
    if (problem) throw new Error(problem);
  };
  for (const [kind, update] of w.decisions) {
    setHandler(
      update,
      (request: Request) =>
        patched(SIGNED_DECISIONS) ? serially(() => w.decide(kind, request, true)) : w.decide(kind, request, false),
      { validator },
    );
  }
}

/**
 * Enter the waiting stage, say so (`announce`), and wait durably — workers may restart any number of times — until
 * `decided()`, or until `ms` have passed since the wait opened (after the announcement: the deadline the status
 * states, `since` + `ms`, is a moment earlier). When time is up, `expire()` runs at once, before anything else can:
 * from then on the decisions are refused. The wait, from `since`, is one of the run's steps. True when a person
 * decided in time.
 */
export async function awaitPerson(
  run: PipelineRun,
  wait: { stage: Stage; since: number; ms: number },
  decided: () => boolean,
  announce: () => Promise<unknown>,
  expire: () => void,
): Promise<boolean> {
  const { stage, since, ms } = wait;
  run.setStage(stage);
  await announce();
  const inTime = await condition(decided, ms);
  if (!inTime) expire();
  run.record(stage, since);
  return inTime;
}

/** Milliseconds of a spec's wait (lib/duration.ts); a spec that slipped past its schema fails for good. */
export function waitMs(text: string): number {
  const ms = durationMs(text);
  if (Number.isNaN(ms)) throw ApplicationFailure.nonRetryable(`not a duration: "${text}"`, 'SpecError');
  return ms;
}
