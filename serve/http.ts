/** A refusal with its HTTP status, and what else the body says (e.g. every problem of a request). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A body of one row (an object) or several (an array); anything else is not rows. */
export function oneOrMany(body: unknown): unknown[] | null {
  if (Array.isArray(body)) return body as unknown[];
  return body !== null && typeof body === 'object' ? [body] : null;
}
