// What a failed delivery means for the events it carried, whichever pump sent it (http.ts over the SQLite store,
// backend-sink.ts over any backend's SinkQueue): a 410 Gone stops the sink; a permanent refusal (a gRPC status
// other than the retried ones, grpc-transport.ts RETRIED) dead-letters the events at once; anything else is
// retried, each event on its own count, until max_attempts, when it is dead-lettered. A 429's Retry-After sets the retry's delay; the
// backoff otherwise is the pump's (it knows the attempt or the failure streak it grows with).
import type { PostOutcome } from './transport.js';
import { retryAfterMs } from './webhook.js';

/** max_attempts when unset. */
export const DEFAULT_MAX_ATTEMPTS = 10;
/**
 * The longest a 429's Retry-After is honoured: a receiver's answer, so bounded like its others; past it the events
 * are retried anyway (429 again: another attempt used, as any failure).
 */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;
/** The error a 410 records on the deliveries it dead-letters (and the sink's last error). */
export const GONE_ERROR = 'HTTP 410 Gone: sink stopped';

export type FailurePlan<T> =
  | { gone: true; error: string }
  | {
      gone: false;
      /** Attempts used up: dead-lettered, each with deadError(r). */
      dead: T[];
      /** Due again after the delay (one for the whole batch, so it is taken again as it was). */
      retry: T[];
      /** The receiver's Retry-After (429 only), in ms; undefined: the pump's backoff. */
      hintedMs: number | undefined;
      deadError: (r: T) => string;
    };

/** The plan for a batch whose POST failed; `attempts` on each is the failed attempts before this one. */
export function planFailure<T extends { attempts: number }>(
  batch: readonly T[],
  f: PostOutcome,
  maxAttempts: number = DEFAULT_MAX_ATTEMPTS,
  now: number,
): FailurePlan<T> {
  if (f.status === 410) return { gone: true, error: GONE_ERROR };
  if (f.permanent === true) {
    // The receiver answered, and said never: another attempt would get the same answer.
    return {
      gone: false,
      dead: [...batch],
      retry: [],
      hintedMs: undefined,
      deadError: (r) => `${f.problem} (not retried; attempt ${r.attempts + 1})`,
    };
  }
  return {
    gone: false,
    dead: batch.filter((r) => r.attempts + 1 >= maxAttempts),
    retry: batch.filter((r) => r.attempts + 1 < maxAttempts),
    hintedMs: f.status === 429 ? cappedRetryAfter(retryAfterMs(f.retryAfter, now)) : undefined,
    deadError: (r) => `${f.problem} after ${r.attempts + 1} attempts`,
  };
}

function cappedRetryAfter(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.min(ms, MAX_RETRY_AFTER_MS);
}
