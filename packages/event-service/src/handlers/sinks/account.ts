// What an HTTP sink keeps of its own attempts, whichever pump it is (http.ts over the SQLite store, backend-sink.ts
// over a backend's SinkQueue): the figures /handlerz shows, what a failed POST means for them and for the sink's pace
// (failure.ts's plan, counted and logged), and the backoff: a retry's delay grows with its event's attempts; an
// unordered sink also pauses as a whole, longer with each failure in a row, so a dead receiver is not hit once per
// event owed. The pump writes what the plan says to its store or queue, and stops itself on a 410.
import { backoffDelayMs } from '@event-broker/shared/backoff';
import { planFailure } from './failure.js';
import { displayUrl, type HttpSinkOptions } from './options.js';
import type { PostOutcome } from './transport.js';

/** What a failed POST means, counted and logged (SinkAccount.failed). */
export type FailureOutcome<T> =
  | { gone: true; error: string }
  | {
      gone: false;
      /** Attempts used up: dead-lettered, each with deadError(r). */
      dead: T[];
      deadError: (r: T) => string;
      /** Due again after retryDelayMs (one delay for the whole batch, so it is taken again as it was). */
      retry: T[];
      retryDelayMs: number;
    };

export class SinkAccount {
  /** Since start: accepted deliveries, failed attempts, failed attempts scheduled again, dead letters made. */
  readonly stats = { delivered: 0, failedAttempts: 0, retries: 0, dead: 0 };
  /** The latest failed attempt since start (the status page and /handlerz show it); cleared by nothing. */
  lastError: { at: number; message: string } | undefined;
  /** Epoch ms of the latest successful delivery since start. */
  lastDeliveredAt: number | undefined;
  /** Unordered only: no new attempt before this (epoch ms), and the consecutive failures that set it. */
  private pausedUntil = 0;
  private failStreak = 0;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly opts: HttpSinkOptions,
    /** max_in_flight 1: a failure holds the sink's head back, so the sink itself never pauses. */
    private readonly ordered: boolean,
  ) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  /** How long before a new attempt may start (unordered, after failures); 0: now. */
  pausedFor(now: number): number {
    return this.pausedUntil > now ? this.pausedUntil - now : 0;
  }

  /** `n` events were accepted (2xx): counted, and the failures in a row end. */
  delivered(n: number): void {
    this.stats.delivered += n;
    this.lastDeliveredAt = this.now();
    this.failStreak = 0;
  }

  /**
   * A POST of `batch` failed: its plan (failure.ts), counted and logged; a 410 stops the sink (the pump's to do), else
   * each event is retried after a backoff grown with its attempts (or a 429's Retry-After) or dead-lettered, and an
   * unordered sink pauses.
   */
  failed<T extends { attempts: number }>(batch: readonly T[], f: PostOutcome, webhookId: string): FailureOutcome<T> {
    const { logger, name, url } = this.opts;
    const plan = planFailure(batch, f, this.opts.maxAttempts, this.now());
    this.lastError = { at: this.now(), message: plan.gone ? plan.error : f.problem };
    if (plan.gone) {
      this.stats.dead += batch.length;
      logger.warn({ sink: name, url: displayUrl(url) }, 'sink answered 410 Gone: stopped');
      return plan;
    }
    this.stats.failedAttempts++;
    this.failStreak++;
    const attempt = batch[0]!.attempts + 1;
    if (plan.dead.length > 0) {
      this.stats.dead += plan.dead.length;
      logger.warn(
        { sink: name, id: webhookId, events: plan.dead.length, attempts: attempt, problem: f.problem },
        'delivery dead-lettered',
      );
    }
    let retryDelayMs = 0;
    if (plan.retry.length > 0) {
      this.stats.retries++;
      retryDelayMs = plan.hintedMs ?? this.backoff(attempt);
    }
    // Unordered, the failed ones do not hold the others back: the sink itself pauses, longer with each failure. A
    // permanent refusal pauses nothing: the receiver is up and answering.
    if (!this.ordered && f.permanent !== true)
      this.pausedUntil = Math.max(this.pausedUntil, this.now() + (plan.hintedMs ?? this.backoff(this.failStreak)));
    return { gone: false, dead: plan.dead, deadError: plan.deadError, retry: plan.retry, retryDelayMs };
  }

  /** Capped full-jitter backoff for the n-th attempt or failure in a row. */
  backoff(n: number): number {
    return backoffDelayMs(
      n,
      { baseMs: this.opts.backoffBaseMs ?? 500, capMs: this.opts.backoffCapMs ?? 60_000 },
      this.random,
    );
  }
}

/** batch_bytes when unset. */
export const DEFAULT_BATCH_BYTES = 1024 * 1024;

/**
 * How many of `records`, from `from`, one POST takes: at most `max`, stopping before its body (a JSON array: the
 * bodies, a comma each, the brackets) would pass `limit` bytes or at the first one `usable` refuses. The first always
 * goes (if usable), whatever its size.
 */
export function batchLength<T extends { body: string }>(
  records: readonly T[],
  from: number,
  max: number,
  limit: number,
  usable?: (r: T) => boolean,
): number {
  let n = 0;
  let bytes = 2;
  for (let i = from; i < records.length && n < max; i++) {
    const r = records[i]!;
    if (usable !== undefined && !usable(r)) break;
    bytes += Buffer.byteLength(r.body) + 1;
    if (n > 0 && bytes > limit) break;
    n++;
  }
  return n;
}
