import { DefaultPayloadConverter, type Payload, type PayloadConverter } from '@temporalio/common';
// the SDK's own UTF-8 decoder: the workflow sandbox has no TextDecoder
import { decode } from '@temporalio/common/lib/encoding';
import { inWorkflowContext } from '@temporalio/workflow';

/**
 * A payload that could not be decoded: an encoding no converter knows (`--input-meta encoding=…`), JSON that does
 * not parse (`--input-base64`). It reaches the handler in place of a value, so the message's shape check refuses it
 * like any other wrong value; the reason says what was wrong with the bytes.
 */
export class UndecodablePayload {
  constructor(readonly reason: string) {}
}

/**
 * Temporal's default payload conversion, except that inside a workflow a payload that cannot be decoded becomes an
 * `UndecodablePayload` instead of an exception. The SDK decodes a signal's or an update's arguments before any
 * handler runs, and an exception there fails the workflow task, again on every retry: one malformed signal would
 * wedge the workflow for good. Outside workflows (activities, clients) decoding fails as it always did.
 *
 * Used by every Lumen worker (worker/workers.ts) and bundled with the workflows (`payloadConverterPath`).
 */
class EdgeSafePayloadConverter implements PayloadConverter {
  private readonly inner = new DefaultPayloadConverter();

  toPayload<T>(value: T): Payload {
    return this.inner.toPayload(value);
  }

  fromPayload<T>(payload: Payload): T {
    try {
      return this.inner.fromPayload<T>(payload);
    } catch (err) {
      if (!inWorkflowContext()) throw err;
      const encoding = payload.metadata?.encoding;
      const name = encoding ? decode(encoding).slice(0, 60) : 'none';
      return new UndecodablePayload(`encoding ${name}: ${(err as Error).message.slice(0, 200)}`) as T;
    }
  }
}

export const payloadConverter = new EdgeSafePayloadConverter();
