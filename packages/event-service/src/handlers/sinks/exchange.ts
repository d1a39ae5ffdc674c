// One HTTP request of a sink's delivery through undici's dispatch API (transport.ts sends POSTs with it): the
// answer's status, Retry-After and Connection read from its head, its body read and dropped up to MAX_ANSWER_BYTES,
// and an Attempt that aborts the request whether it waits for a connection or is on the wire.
import type { Dispatcher } from 'undici';

/** An answer's body is read (and dropped) up to this; past it the connection closes. Its status is the answer. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** A POST's status and Retry-After, its body read (and dropped) to its end or up to MAX_ANSWER_BYTES. */
export interface Answer {
  status: number;
  retryAfter: string | null;
  /** The answer said `Connection: close`. */
  closes: boolean;
}

/** An answer cut short (or timed out) while its body was read. */
export class CutShort extends Error {}

/**
 * One POST in flight: aborted by its timeout or the sink's close, whether it waits for a connection (the exchange
 * fails at once; undici drops the request when it is dispatched) or is on the wire (undici's abort closes the
 * connection under it).
 */
export class Attempt {
  aborted = false;
  /**
   * Written, but held back on its connection (corked) until undici has parsed what came with the answer before it:
   * an answer parsed meanwhile is bytes the receiver sent unasked (transport.ts launch), not this request's.
   */
  held = false;
  /** undici's abort for the request, once on a connection. */
  cancel: ((err: Error) => void) | undefined;
  /** Fails the exchange waiting for this attempt's answer. */
  fail: ((err: Error) => void) | undefined;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const err = new Error('aborted');
    this.cancel?.(err);
    this.fail?.(err);
  }
}

/** Bytes parsed as an answer before the request left (held): its connection is closed, the request not sent. */
export class StrayAnswer extends Error {}

/** An answer abandoned past MAX_ANSWER_BYTES: undici closes its connection. */
const ENOUGH = new Error('answer body past the limit: connection closed');

/**
 * One request through undici's dispatch API, not its `request`: no Readable body, abort signal or promise per
 * chunk for an answer that is mostly empty (in the delivery-only micro-bench this took ~10 µs of the ~40-50 µs undici
 * spent on a POST). Resolves with the status once the answer's body has ended, or once MAX_ANSWER_BYTES of it were
 * read (its connection then closed, as when its content-length says more); rejects with undici's error when no
 * answer came, or CutShort when one did and its body did not end. `onOk` is called when a 2xx answer has ended on a
 * connection that stays open, before the promise's callbacks run.
 */
export function exchange(
  dispatcher: Dispatcher,
  opts: Dispatcher.DispatchOptions,
  attempt: Attempt,
  onOk?: () => void,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let retryAfter: string | null = null;
    let closes = false;
    let left = MAX_ANSWER_BYTES;
    let settled = false;
    const settle = (then: () => void) => {
      if (settled) return;
      settled = true;
      attempt.cancel = undefined;
      attempt.fail = undefined;
      then();
    };
    // Enough read: the status is the answer, and the rest is not waited for.
    const enough = () => {
      const cancel = attempt.cancel;
      settle(() => resolve({ status, retryAfter, closes }));
      cancel?.(ENOUGH);
    };
    // Sent with the last answer, after it: undici closes the connection, and the request is not written.
    const stray = () => {
      const cancel = attempt.cancel;
      const err = new StrayAnswer('an answer came before the request was sent');
      settle(() => reject(err));
      cancel?.(err);
    };
    attempt.fail = (err) =>
      settle(() => reject(status === 0 ? err : new CutShort(`the response was cut short: ${err.message}`)));
    dispatcher.dispatch(opts, {
      onConnect(abort) {
        if (attempt.aborted || settled) abort(new Error('aborted'));
        else attempt.cancel = abort;
      },
      // An answer begun while the request is held came unasked, in the read of the answer before it: its status
      // line may end in a later read, after the request left (undici's own check, without a request queued, fails
      // any byte past an answer; with this one queued it takes them for its answer's start).
      onResponseStarted() {
        if (attempt.held) stray();
      },
      onHeaders(statusCode, raw) {
        if (attempt.held) {
          stray();
          return false;
        }
        status = statusCode;
        let length = 0;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          // Only names as long as the three read here are made strings (an answer carries a few others).
          const n = raw[i]!.length;
          if (n !== 11 && n !== 14 && n !== 10) continue;
          const name = raw[i]!.toString('latin1').toLowerCase();
          if (name === 'retry-after') retryAfter ??= raw[i + 1]!.toString('latin1');
          else if (name === 'content-length') length = Number(raw[i + 1]!.toString('latin1'));
          else if (name === 'connection') closes ||= /(^|,)\s*close\s*(,|$)/i.test(raw[i + 1]!.toString('latin1'));
        }
        if (length > MAX_ANSWER_BYTES) {
          enough();
          return false;
        }
        return true;
      },
      onData(chunk) {
        left -= chunk.length;
        if (left > 0) return true;
        enough();
        return false;
      },
      onComplete() {
        if (settled) return;
        settle(() => resolve({ status, retryAfter, closes }));
        // From undici's parser, before it goes on: a request dispatched now is written at once, its connection
        // still counted busy with this one (transport.ts postNext).
        if (status >= 200 && status < 300 && !closes) onOk?.();
      },
      onError(err) {
        settle(() =>
          reject(status === 0 ? err : new CutShort(`the response was cut short: ${err.message}`, { cause: err })),
        );
      },
    });
  });
}
