// One HTTP sink: POSTs the stored events its delivery records name, signed the Standard Webhooks way
// (standard-webhooks spec.md), retrying with capped full-jitter backoff (AWS Architecture Blog "Exponential Backoff
// And Jitter"), honouring 429 Retry-After, stopping on 410 Gone, and dead-lettering after max_attempts. Each sink
// runs on its own, so one slow or dead receiver never delays another.
//
// Order: with `maxInFlight` 1 (the default) one POST is outstanding at a time, oldest pending event first, and
// while it backs off the sink waits (strict order; a failing receiver is retried at the backoff's pace). With more,
// up to that many POSTs are outstanding on as many keep-alive connections: deliveries may arrive out of order, each
// is retried and dead-lettered on its own, and after a failure the sink as a whole pauses for a backoff that grows
// with consecutive failures, so a dead receiver is not hit once per queued event.
//
// Body options (`extraArgs`, `flattenPayload`, `sendAsList`, batching) and what a delivery carries on the wire
// (its webhook-id, signature, Retry-After) are webhook.ts's.
//
// Transport: node:http(s) with a keep-alive Agent per sink, not fetch. Measured on the 2-core bench machine
// (1 KiB POST to a node:http receiver in another process): fetch (undici) cost ~530 µs of CPU per request in the
// sink's process, node:http ~130 µs; in the `events` bench undici's per-request writes alone were 12% of the
// service's time.
import http from 'node:http';
import https from 'node:https';
import type { DeliveryRecord, EventStore } from '../event-store.js';
import { backoffDelayMs } from '@event-broker/shared/backoff';
import { headerProblem } from './headers.js';
import type { HttpSinkOptions, HttpSinkState } from './options.js';
import { batchWebhookId, retryAfterMs, secretKey, shapeEvent, sign } from './webhook.js';

interface PostResult {
  status: number;
  retryAfter: string | null;
}

/** The longest a timer waits: a far retry is re-checked at least once a minute. */
const MAX_TIMER_MS = 60_000;
/**
 * Delivered events are marked in the store together: at most this long after the first of them, or at once when
 * this many wait or the sink has nothing more to send. A mark alone cost ~130 µs of the service's loop (its WAL
 * commit's writes and locks are syscalls, slow on this VM), ten in one transaction ~35 µs each; in the
 * delivery-only micro-bench a 5 ms window took ~20% off the sink's CPU per unbatched delivery (20 ms now: see
 * MARK_BATCHES). MARK_BATCH also bounds the busy set the unordered read-ahead filters.
 */
const MARK_WINDOW_MS = 20;
const MARK_BATCH = 64;
/**
 * A batching sink marks after this many of its batches at most (not after every POST, as MARK_BATCH 64 alone did
 * with batch_size 100). Each mark takes the store's write lock, which the intake then waits for: in the
 * events-batch bench, window 5 ms and a mark per POST made 7-15 such waits a second (100-150 ms of the intake's
 * second); window 20 ms and 4 batches per mark: 16.8k acked/s and 14.4k delivered/s, against 13.7-14.5k and
 * 10.9-11.4k before (quiet machine, a run or two each).
 */
const MARK_BATCHES = 4;
/**
 * With the store shared (the sink worker's connection beside the intake's), a mark that finds the file locked is
 * tried again MARK_RETRY_MS later (or with the next delivery), for up to MARK_DEFER_MS; then it waits for the
 * lock. Waiting at once stalled the worker's loop: the intake holds the lock through each commit's fsync, and in
 * the `events` bench the marks' waits (10-110 ms each, ~500 ms of every second) left ~200 deliveries/s during a
 * flat-out intake.
 */
const MARK_RETRY_MS = 2;
const MARK_DEFER_MS = 250;
/** Pending records are read this many at a time (at least a batch), not one query per POST. */
const READ_AHEAD = 64;
/** Idle kept-alive connections close after this: under the 5 s keep-alive of Node's and Apache's servers. */
const IDLE_SOCKET_MS = 4000;

export class HttpSink {
  state: HttpSinkState = 'running';
  /** Since start: accepted deliveries, failed attempts, failed attempts scheduled again, dead letters made. */
  readonly stats = { delivered: 0, failedAttempts: 0, retries: 0, dead: 0 };
  /** The latest failed attempt since start (the status page and /handlerz show it); cleared by nothing. */
  lastError: { at: number; message: string } | undefined;
  /** Epoch ms of the latest successful delivery since start. */
  lastDeliveredAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** batch_wait_ms: a partial batch is waiting to fill; `filled` lets the next take go as it is. */
  private fillTimer: NodeJS.Timeout | undefined;
  private filled = false;
  private closed = false;
  /** The POSTs outstanding (each aborts on close). */
  private readonly inflight = new Set<AbortController>();
  /** Sequences in flight, or delivered and waiting for their mark: never taken again meanwhile. */
  private readonly busy = new Set<number>();
  /** Delivered sequences not yet marked in the store, and the timer that marks them. */
  private marks: number[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** When (performance.now()) a mark first found the store locked by another connection (MARK_DEFER_MS). */
  private lockedSince: number | undefined;
  /** Pending records read ahead (readAhead), oldest first, none busy. */
  private ahead: DeliveryRecord[] = [];
  /** The next read starts at the oldest pending record (events older than the read-ahead became pending again). */
  private rescan = false;
  /** Unordered only: no new attempt before this (epoch ms), and the consecutive failures that set it. */
  private pausedUntil = 0;
  private failStreak = 0;
  private readonly keys: Buffer[];
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly ordered: boolean;
  private readonly maxInFlight: number;
  private readonly batchSize: number;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly store: EventStore,
    private readonly opts: HttpSinkOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    this.ordered = this.maxInFlight === 1;
    this.batchSize = Math.max(1, opts.batchSize ?? 1);
    this.keys = (opts.secrets ?? []).map(secretKey);
    // Validated with the configuration already; a program building a sink itself learns here, not per delivery.
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      const problem = headerProblem(name, value);
      if (problem !== undefined) throw new TypeError(`sink ${opts.name}: header ${JSON.stringify(name)}: ${problem}`);
    }
    // One connection per POST in flight, kept alive between POSTs. An idle one is closed after IDLE_SOCKET_MS, or a
    // second before a shorter `Keep-Alive: timeout=` the receiver announces (Node's Agent reads it), so we rarely
    // reuse one the receiver is closing; post() retries once on a reused one it closed anyway.
    const secure = opts.url.startsWith('https:');
    this.request = secure ? https.request : http.request;
    const agentOpts = { keepAlive: true, maxSockets: this.maxInFlight, timeout: IDLE_SOCKET_MS };
    this.agent = secure ? new https.Agent({ ...agentOpts, rejectUnauthorized: opts.sslVerify !== false }) : new http.Agent(agentOpts);
  }

  get name(): string {
    return this.opts.name;
  }
  get url(): string {
    return this.opts.url;
  }

  /** Something may be due (new events stored, a replay): deliver it now rather than at the next timer. */
  wake(): void {
    this.pump();
  }

  /** Reads the store afresh (a dead-letter replay, by the CLI too, may have made older events pending) and delivers. */
  recheck(): void {
    this.rescan = true;
    this.ahead = [];
    this.pump();
  }

  /** Runs again after a 410 stopped it (a dead-letter replay), and delivers what is due. */
  resume(): void {
    this.state = 'running';
    this.opts.onChange?.();
    this.recheck();
  }

  /** Stops: attempts in flight are aborted and stay pending; deliveries already answered are marked first. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flushMarks(true);
    clearTimeout(this.timer);
    clearTimeout(this.fillTimer);
    for (const ac of this.inflight) ac.abort();
    this.agent.destroy();
  }

  /** Starts attempts while the window has room and something is due; else arms a timer for the next due time. */
  private pump(): void {
    if (this.closed || this.state !== 'running' || this.fillTimer !== undefined) return;
    if (this.inflight.size >= this.maxInFlight) return; // called on every intake commit: cheap when full
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    if (this.pausedUntil > now) {
      this.arm(this.pausedUntil - now);
      return;
    }
    while (this.inflight.size < this.maxInFlight) {
      const batch = this.take(now);
      if (batch.length === 0) break;
      if (!this.filled && batch.length < this.batchSize && (this.opts.batchWaitMs ?? 0) > 0 && batch[0]!.attempts === 0) {
        // A partial first-try batch waits once for more events (a retry goes as it was).
        this.ahead.unshift(...batch); // taken from the read-ahead: put back
        this.fillTimer = setTimeout(() => {
          this.fillTimer = undefined;
          this.filled = true;
          this.pump();
        }, this.opts.batchWaitMs);
        return;
      }
      this.filled = false;
      void this.attempt(batch).catch((err: unknown) => {
        this.opts.logger.error({ sink: this.opts.name, err: (err as Error).message }, 'sink delivery failed');
      });
    }
    if (this.inflight.size === 0 && this.marks.length > 0) this.flushMarks(); // idle: no reason to wait
    else this.scheduleNext(now);
  }

  /** The next batch: in order, the head (which must be due) and the due events right after it; else any due ones. */
  private take(now: number): DeliveryRecord[] {
    if (this.ahead.length < this.batchSize) this.ahead = this.readAhead(now);
    if (this.ahead[0] === undefined || this.ahead[0].nextAttemptAt > now) return [];
    const limit = this.opts.batchBytes ?? 1024 * 1024;
    let n = 0;
    let bytes = 2;
    for (const r of this.ahead) {
      if (r.nextAttemptAt > now || n === this.batchSize) break;
      bytes += Buffer.byteLength(r.body) + 1;
      if (n > 0 && bytes > limit) break;
      n++;
    }
    return this.ahead.splice(0, n);
  }

  /**
   * Pending records that are not busy, oldest first: in order all of them (the head decides), unordered the due
   * ones. Read READ_AHEAD (at least a batch) at a time; the records stay valid while held, because only this sink
   * changes them (a failure drops the read-ahead) or a replay makes older ones pending (recheck() rescans).
   */
  private readAhead(now: number): DeliveryRecord[] {
    const want = Math.max(READ_AHEAD, this.batchSize);
    if (this.ordered && !this.rescan) {
      // In order, everything busy sorts before what is still to send (one POST at a time, oldest first): read on
      // from the last busy sequence, no filter needed.
      let after = 0;
      for (const seq of this.busy) after = Math.max(after, seq);
      return this.store.due(this.opts.name, Number.MAX_SAFE_INTEGER, want, after);
    }
    this.rescan = false;
    const rows = this.store.due(this.opts.name, this.ordered ? Number.MAX_SAFE_INTEGER : now, want + this.busy.size);
    return this.busy.size === 0 ? rows : rows.filter((r) => !this.busy.has(r.seq));
  }

  /** Nothing more to start now: wake up when the next pending delivery is due (or an attempt's end pumps again). */
  private scheduleNext(now: number): void {
    if (this.closed || this.state !== 'running' || this.inflight.size >= this.maxInFlight) return;
    let next: number | undefined;
    if (this.ordered) {
      if (this.inflight.size > 0) return; // its end pumps again
      // The head's retry time, not the earliest of all: later records wait behind it.
      next = this.ahead[0]?.nextAttemptAt;
    } else {
      // What is due now is busy or read ahead (and taken otherwise): the earliest retry still to come.
      next = this.store.nextDue(this.opts.name, now);
    }
    if (next !== undefined) this.arm(next - now);
  }

  private arm(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
  }

  private async attempt(batch: DeliveryRecord[]): Promise<void> {
    for (const r of batch) this.busy.add(r.seq);
    const ac = new AbortController();
    this.inflight.add(ac);
    const attempt = batch[0]!.attempts + 1;
    const ts = Math.floor(this.now() / 1000);
    const shaped = batch.map((r) => shapeEvent(r.body, this.opts));
    // With batching on, every body is an array (a batch of one too), so a receiver sees one shape.
    const body = this.batchSize > 1 || this.opts.sendAsList === true ? `[${shaped.join(',')}]` : shaped[0]!;
    // The event id is the webhook id: a redelivery after a crash carries the same one, so receivers dedupe.
    const webhookId = batchWebhookId(batch.map((r) => r.id));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...this.opts.headers,
      'webhook-id': webhookId,
      'webhook-timestamp': String(ts),
      'content-length': String(Buffer.byteLength(body)),
    };
    if (this.keys.length > 0) headers['webhook-signature'] = sign(this.keys, webhookId, ts, body);
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    let result: PostResult = { status: 0, retryAfter: null };
    let problem: string;
    try {
      result = await this.post(headers, body, ac.signal);
      problem = `HTTP ${result.status}`;
    } catch (err) {
      problem = ac.signal.aborted ? `timed out after ${timeoutMs} ms` : `unreachable: ${(err as Error).message}`;
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ac);
    }
    if (this.closed) return; // shutting down: the records stay pending and are retried after restart
    const { status, retryAfter } = result;
    if (status >= 200 && status < 300) {
      // The sequences stay busy until marked: the next POST goes now, the store write comes after.
      for (const r of batch) this.marks.push(r.seq);
      this.stats.delivered += batch.length;
      this.lastDeliveredAt = this.now();
      this.failStreak = 0;
      this.opts.onChange?.();
      this.scheduleFlush();
      this.pump();
      return;
    }
    for (const r of batch) this.busy.delete(r.seq);
    this.failed(batch, { status, retryAfter, problem, webhookId, attempt });
    this.opts.onChange?.();
    this.pump();
  }

  /**
   * Delivered marks go to the store together (flushMarks): MARK_WINDOW_MS after the first, at once when MARK_BATCH
   * wait or the sink is idle. Without their own fsync (store.delivered), so a mark lost to a crash is a redelivery
   * under the same webhook-id, which at-least-once allows; the window adds at most MARK_WINDOW_MS of those.
   */
  private scheduleFlush(): void {
    if (this.marks.length >= Math.max(MARK_BATCH, MARK_BATCHES * this.batchSize)) return this.flushMarks();
    this.flushTimer ??= setTimeout(() => this.flushMarks(), MARK_WINDOW_MS);
  }

  /** Marks what was delivered; unless `wait`, a store another connection has locked is tried again soon. */
  private flushMarks(wait = false): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const seqs = this.marks;
    if (seqs.length === 0) return;
    try {
      if (!wait && this.store.tryDelivered !== undefined && performance.now() - (this.lockedSince ?? performance.now()) < MARK_DEFER_MS) {
        if (this.store.tryDelivered(this.opts.name, seqs) === undefined) {
          // Still busy (never taken again) and kept: the next POST goes on meanwhile.
          this.lockedSince ??= performance.now();
          this.flushTimer = setTimeout(() => this.flushMarks(), MARK_RETRY_MS);
          return;
        }
      } else this.store.delivered(this.opts.name, seqs);
    } catch (err) {
      // Still pending in the store: they go out again (same webhook-ids) once read again.
      this.rescan = true;
      this.ahead = [];
      this.opts.logger.error({ sink: this.opts.name, events: seqs.length, err: (err as Error).message }, 'cannot record deliveries');
    }
    this.marks = [];
    this.lockedSince = undefined;
    for (const s of seqs) this.busy.delete(s);
    this.opts.onResolved?.();
    if (!this.closed) this.pump();
  }

  private failed(batch: DeliveryRecord[], f: { status: number; retryAfter: string | null; problem: string; webhookId: string; attempt: number }): void {
    // In order, the failed head goes first again: what was read after it is read again after it.
    this.ahead = [];
    this.lastError = { at: this.now(), message: f.status === 410 ? 'HTTP 410 Gone: sink stopped' : f.problem };
    if (f.status === 410) {
      // The receiver says it is gone for good: stop, and leave the rest pending for a replay or a new config.
      for (const r of batch) this.store.dead(this.opts.name, r.seq, 'HTTP 410 Gone: sink stopped');
      this.stats.dead += batch.length;
      this.state = 'stopped';
      this.opts.logger.warn({ sink: this.opts.name, url: this.opts.url }, 'sink answered 410 Gone: stopped');
      this.opts.onResolved?.();
      return;
    }
    this.stats.failedAttempts++;
    this.failStreak++;
    // Each event of a batch counts its own attempts: one that reached max_attempts is dead-lettered, the rest wait.
    const max = this.opts.maxAttempts ?? 10;
    const dead = batch.filter((r) => r.attempts + 1 >= max);
    for (const r of dead) this.store.dead(this.opts.name, r.seq, `${f.problem} after ${r.attempts + 1} attempts`);
    if (dead.length > 0) {
      this.stats.dead += dead.length;
      this.opts.logger.warn({ sink: this.opts.name, id: f.webhookId, events: dead.length, attempts: f.attempt, problem: f.problem }, 'delivery dead-lettered');
    }
    const hinted = f.status === 429 ? retryAfterMs(f.retryAfter, this.now()) : undefined;
    const retry = batch.filter((r) => r.attempts + 1 < max);
    if (retry.length > 0) {
      // One retry time for the whole batch, so it is taken again as it was.
      const nextAttemptAt = this.now() + (hinted ?? this.backoff(f.attempt));
      this.stats.retries++;
      for (const r of retry) this.store.failed(this.opts.name, r.seq, { nextAttemptAt, error: f.problem });
    }
    // Unordered, the head does not hold the others back: the sink itself pauses, longer with each failure in a row.
    if (!this.ordered) this.pausedUntil = Math.max(this.pausedUntil, this.now() + (hinted ?? this.backoff(this.failStreak)));
    if (dead.length > 0) this.opts.onResolved?.();
  }

  private backoff(n: number): number {
    return backoffDelayMs(n, { baseMs: this.opts.backoffBaseMs ?? 500, capMs: this.opts.backoffCapMs ?? 60_000 }, this.random);
  }

  /** One POST; a keep-alive connection the receiver closed just as it was reused is retried once on a new one. */
  private post(headers: Record<string, string>, body: string, signal: AbortSignal, again = false): Promise<PostResult> {
    return new Promise<PostResult>((resolve, reject) => {
      const req = this.request(this.opts.url, { method: 'POST', headers, agent: this.agent, signal }, (res) => {
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: (res.headers['retry-after'] as string | undefined) ?? null }));
        res.on('close', () => {
          if (!res.complete) reject(new Error('the response was cut short'));
        });
        res.resume();
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (!again && req.reusedSocket && err.code === 'ECONNRESET' && !signal.aborted) this.post(headers, body, signal, true).then(resolve, reject);
        else reject(err);
      });
      req.end(body);
    });
  }
}
