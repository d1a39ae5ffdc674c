// The `{"error": {...}}` bodies the handlers answer with (requests to events.<type>, `$EVENTS.FEED.QUERY`, the HTTP
// API). A refusal may echo what the request carried (a field's name, a value, an id), so what it echoes is clipped,
// and a reply that travels as one NATS message is made to fit max_payload: a reply too large would not be sent, and
// the requester would wait for nothing.
import type { Logger } from '@event-broker/shared';
import type { EventStoreErrorCode } from '../error-codes.js';
import { storeCodeOf } from './store-file.js';

export interface ErrorReply<C extends string = string> {
  code: C;
  /** Where the request was wrong (a field path). */
  field?: string;
  /**
   * A store failure: why, as the event store's code, when it named one. A reply says no more of a store failure:
   * the file's path and SQLite's message are the server's layout, for the log, not for any client (nor /healthz).
   */
  store_code?: EventStoreErrorCode;
  reason: string;
}

/** An error body echoes at most this much of a field path and of a reason. */
export const MAX_FIELD_CHARS = 256;
export const MAX_REASON_CHARS = 1024;

/** `text` cut to `chars` characters, marked when cut. */
export function clip(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, Math.max(0, chars - 1))}…`;
}

/** `{"error": ...}` with its field and reason clipped (to MAX_*_CHARS unless smaller bounds are given). */
export function errorBody<C extends string>(
  error: ErrorReply<C>,
  fieldChars = MAX_FIELD_CHARS,
  reasonChars = MAX_REASON_CHARS,
): { error: ErrorReply<C> } {
  return {
    error: {
      code: error.code,
      ...(error.field !== undefined && { field: clip(error.field, fieldChars) }),
      ...(error.store_code !== undefined && { store_code: error.store_code }),
      reason: clip(error.reason, reasonChars),
    },
  };
}

/**
 * errorBody as JSON within `maxBytes` (a NATS reply: max_payload). Each try halves what is echoed; the last is the
 * codes alone. Under ~60 bytes of max_payload even that may not fit: the sender's publish then fails, and logs it.
 */
export function errorReplyText(error: ErrorReply, maxBytes: number): string {
  let text = JSON.stringify(errorBody(error));
  for (
    let f = MAX_FIELD_CHARS / 2, r = MAX_REASON_CHARS / 2;
    Buffer.byteLength(text) > maxBytes && r >= 16;
    f /= 2, r /= 2
  ) {
    text = JSON.stringify(errorBody(error, f, r));
  }
  if (Buffer.byteLength(text) > maxBytes)
    text = JSON.stringify({
      error: { code: error.code, ...(error.store_code !== undefined && { store_code: error.store_code }) },
    });
  return text;
}

/**
 * The error a client gets for a request the store failed (a read, a replay): the store's code alone. What it was
 * (the file, SQLite's message) is logged here, where the operator reads it, beside /healthz.
 */
export function storeFailure<C extends string>(
  code: C,
  err: unknown,
  log: { logger: Logger; what: 'event feed' | 'dead letters'; request: string },
): ErrorReply<C> {
  const storeCode = storeCodeOf(err);
  log.logger.error(
    { request: log.request, store_code: storeCode, err: err instanceof Error ? err.message : String(err) },
    `${log.what} request failed: the event store cannot be used`,
  );
  return {
    code,
    ...(storeCode !== undefined && { store_code: storeCode }),
    reason: `the event store cannot be used now; the service's log and /healthz say why`,
  };
}
