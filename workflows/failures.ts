/**
 * What a failure that reached a workflow says. An activity's error arrives wrapped (ActivityFailure, and
 * ChildWorkflowFailure around that from a child), and the activity's own ApplicationFailure, innermost, carries the
 * message a person reads and the type a workflow decides on.
 */
type Chain = { message?: unknown; type?: unknown; cause?: unknown };

/** The message of the innermost cause. */
export function failureMessage(err: unknown): string {
  let e = err as Chain | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause;
  return typeof e?.message === 'string' ? e.message : String(err);
}

/** The first error type along the chain of causes (an ApplicationFailure's `type`); undefined when none has one. */
export function failureType(err: unknown): string | undefined {
  let e = err as Chain | undefined;
  while (e && typeof e === 'object') {
    if (typeof e.type === 'string' && e.type) return e.type;
    e = e.cause as Chain | undefined;
  }
  return undefined;
}
