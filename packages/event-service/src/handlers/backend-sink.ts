// One HTTP sink over a backend's SinkQueue (the JetStream backend: jetstream/sink-queue.ts), the delivery pump the
// SQLite backend's worker-thread HttpSink (sinks/http.ts) is for its store: the same [handlers] entry
// (HttpSinkOptions), the same POSTs (sinks/webhook.ts: body options, batching, Standard Webhooks signing, the event
// id as webhook-id; sinks/transport.ts: keep-alive, timeout), the same meaning of an answer (sinks/failure.ts: 2xx
// delivered, 410 stops the sink, else retried with full-jitter backoff or Retry-After until max_attempts, then
// dead-lettered), and the same figures, failure handling and backoff (sinks/account.ts).
//
// What is owed and in which order is the queue's: `max_in_flight` loops each claim a batch, POST it and settle it
// (ack after the 2xx, retry, dead). With max_in_flight 1 the queue hands out nothing while a claim is unsettled or
// retrying, so order holds; with more, a failure pauses the whole sink for a backoff growing with the failures in a
// row (as HttpSink does), so a dead receiver is not hit once per claimed event. A rate limit (sinks/rate.ts) is
// waited for before a claim, so no claim is held while the bucket refills.
import type { Delivery, SinkQueue, SinkQueueOptions } from './event-backend.js';
import { batchLength, DEFAULT_BATCH_BYTES, SinkAccount } from './sinks/account.js';
import { sinkBucket, type TokenBucket } from './sinks/rate.js';
import type { HttpSinkOptions, HttpSinkState } from './sinks/options.js';
import type { PostOutcome, SinkTransport } from './sinks/transport.js';
import { createSinkTransport } from './sinks/transport-by-scheme.js';

/** The longest one sleep lasts; the loop looks again after it. */
const MAX_SLEEP_MS = 60_000;
/** How long one claim waits for something owed before asking again (close() interrupts it). */
const CLAIM_WAIT_MS = 5000;
/** A stopped sink (410) looks again this often whether resume() was called (it wakes it at once). */
const STOPPED_WAIT_MS = 60_000;

/** What a sink's queue is asked to allow: max_in_flight POSTs of batch_size events each claimed at once. */
export function sinkQueueOptions(opts: Pick<HttpSinkOptions, 'maxInFlight' | 'batchSize'>): SinkQueueOptions {
  return { maxInFlight: Math.max(1, opts.maxInFlight ?? 1) * Math.max(1, opts.batchSize ?? 1) };
}

export class BackendSink {
  state: HttpSinkState = 'running';
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Figures, failures and backoff (sinks/account.ts). */
  private readonly account: SinkAccount;
  private readonly loops: Promise<void>[] = [];
  /** POSTs and their settlements in flight: close() lets them finish (a 2xx is acked) before releasing claims. */
  private readonly attempts = new Set<Promise<void>>();
  private readonly sleeper = new Sleeper();
  private readonly transport: SinkTransport;
  private readonly ordered: boolean;
  private readonly batchSize: number;
  private readonly now: () => number;
  /** `rate`/`burst`: undefined when unlimited. */
  private readonly bucket: TokenBucket | undefined;

  constructor(
    private readonly queue: SinkQueue,
    private readonly opts: HttpSinkOptions,
  ) {
    this.now = opts.now ?? Date.now;
    const maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    this.ordered = maxInFlight === 1;
    this.account = new SinkAccount(opts, this.ordered);
    this.batchSize = Math.max(1, opts.batchSize ?? 1);
    this.bucket = sinkBucket(opts);
    // One POST at a time per claimant: `pipelining` is the SQLite pump's (sinks/http.ts), not used here.
    this.transport = createSinkTransport({ ...opts, pipelining: 1 }, maxInFlight);
    for (let i = 0; i < maxInFlight; i++) this.loops.push(this.loop());
    // Stopped is this instance's state (its pump heard the 410), but a replay is the operator's word for the sink:
    // made on any instance, it wakes the stopped pump of every instance.
    queue.watchReplays?.(() => {
      if (this.state === 'stopped') this.resume();
    });
  }

  get name(): string {
    return this.opts.name;
  }
  get url(): string {
    return this.opts.url;
  }
  /** Since start: accepted deliveries, failed attempts, failed attempts scheduled again, dead letters made. */
  get stats(): SinkAccount['stats'] {
    return this.account.stats;
  }
  /** The latest failed attempt since start (/handlerz shows it). */
  get lastError(): SinkAccount['lastError'] {
    return this.account.lastError;
  }
  /** Epoch ms of the latest successful delivery since start. */
  get lastDeliveredAt(): number | undefined {
    return this.account.lastDeliveredAt;
  }

  /** The queue is waiting on the backend for what is owed: nothing to do (kept for the HttpSink's callers). */
  wake(): void {}

  /** Runs again after a 410 stopped it (a dead-letter replay), and claims what is owed. */
  resume(): void {
    this.state = 'running';
    this.opts.onChange?.();
    this.sleeper.wake();
  }

  /**
   * Stops: POSTs in flight are aborted and their claims released (delivered again, by this or another instance);
   * those already answered 2xx are acked first.
   */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    this.closed = true;
    this.sleeper.wake();
    this.transport.close();
    await Promise.allSettled([...this.attempts]);
    await this.queue.close();
    await Promise.allSettled(this.loops);
  }

  /** One of max_in_flight claimants: claim a batch, deliver it, again, until closed. */
  private async loop(): Promise<void> {
    let claimFailures = 0;
    while (!this.closed) {
      if (this.state !== 'running') {
        await this.sleeper.sleep(STOPPED_WAIT_MS);
        continue;
      }
      const paused = this.account.pausedFor(this.now());
      if (paused > 0) {
        await this.sleeper.sleep(paused);
        continue;
      }
      // Tokens for a whole batch are taken before claiming it; what the claim did not fill is given back.
      const paced = this.bucket?.waitMs(this.batchSize) ?? 0;
      if (paced > 0) {
        await this.sleeper.sleep(paced);
        continue;
      }
      this.bucket?.take(this.batchSize);
      let batch: Delivery[];
      try {
        batch = await this.claim();
        claimFailures = 0;
        this.bucket?.refund(this.batchSize - batch.length);
      } catch (err) {
        this.bucket?.refund(this.batchSize);
        if (this.closed) break;
        claimFailures++;
        this.opts.logger.error({ sink: this.opts.name, err: (err as Error).message }, 'sink cannot claim deliveries');
        await this.sleeper.sleep(this.account.backoff(claimFailures));
        continue;
      }
      // Claimed as close() began: its queue.close() releases them.
      if (this.closed) break;
      for (const chunk of this.chunks(batch)) {
        // close() began during an earlier POST of this batch: the rest is not posted (its claims are released, so
        // a POST now would be a second delivery) and close() need not wait for it.
        if (this.closed) break;
        const p = this.attempt(chunk).catch((err: unknown) => {
          this.opts.logger.error({ sink: this.opts.name, err: (err as Error).message }, 'sink delivery failed');
        });
        this.attempts.add(p);
        await p;
        this.attempts.delete(p);
      }
    }
  }

  /**
   * A batch owed now; a partial first-try batch waits batch_wait_ms once for more (a retry goes as it is). The
   * queue may wait longer than asked (JetStream: a second at least) when nothing more comes.
   */
  private async claim(): Promise<Delivery[]> {
    const batch = await this.queue.next(this.batchSize, CLAIM_WAIT_MS);
    const fill = this.opts.batchWaitMs ?? 0;
    if (batch.length === 0 || batch.length >= this.batchSize || fill <= 0 || batch[0]!.attempts > 0) return batch;
    if (this.closed) return batch;
    return batch.concat(await this.queue.next(this.batchSize - batch.length, fill));
  }

  /** The claimed batch as POSTs: each stops before its body would pass batch_bytes (its first event always goes). */
  private chunks(batch: Delivery[]): Delivery[][] {
    const limit = this.opts.batchBytes ?? DEFAULT_BATCH_BYTES;
    const out: Delivery[][] = [];
    for (let i = 0; i < batch.length;) {
      const n = batchLength(batch, i, batch.length, limit);
      out.push(batch.slice(i, i + n));
      i += n;
    }
    return out;
  }

  private async attempt(batch: Delivery[]): Promise<void> {
    const outcome = await this.transport.post(batch, this.now());
    if (outcome.delivered) {
      // Acked even while closing: the receiver has it.
      this.account.delivered(batch.length);
      this.opts.onChange?.();
      await this.settle(batch, (d) => this.queue.ack(d), 'delivered: not acked, so delivered again');
      this.opts.onResolved?.();
      return;
    }
    // Aborted by close(): released with the other claims, not counted as a failure.
    if (this.closed) return;
    await this.failed(batch, outcome, outcome.id);
    this.opts.onChange?.();
  }

  /** A failed attempt: a 410 stops the sink; else each event is retried after a backoff or dead-lettered. */
  private async failed(batch: Delivery[], f: PostOutcome, webhookId: string): Promise<void> {
    const plan = this.account.failed(batch, f, webhookId);
    if (plan.gone) {
      // The receiver says it is gone for good: stop here, and leave the rest owed for a replay or a new config.
      this.state = 'stopped';
      await this.settle(batch, (d) => this.queue.dead(d, plan.error), 'not dead-lettered, so tried again');
      this.opts.onResolved?.();
      return;
    }
    if (plan.dead.length > 0)
      await this.settle(plan.dead, (d) => this.queue.dead(d, plan.deadError(d)), 'not dead-lettered, so tried again');
    // One delay for the whole batch, so it comes back together.
    if (plan.retry.length > 0)
      await this.settle(plan.retry, (d) => this.queue.retry(d, plan.retryDelayMs, f.problem), 'retry not recorded');
    if (plan.dead.length > 0) this.opts.onResolved?.();
  }

  /** Settles each delivery; one the backend did not take is logged: the queue gives it out again (at least once). */
  private async settle(batch: Delivery[], how: (d: Delivery) => Promise<void>, meaning: string): Promise<void> {
    const results = await Promise.allSettled(batch.map(how));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      this.opts.logger.error(
        { sink: this.opts.name, events: failed.length, err: (failed[0]!.reason as Error).message },
        `sink settlement failed: ${meaning}`,
      );
    }
  }
}

/** Timed waits that wake() ends early (close, resume). */
class Sleeper {
  private readonly waiting = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      // Bounded: a longer wait (a tiny `rate`) would overflow Node's timer, which then fires at once: the loop
      // re-checks after each step and sleeps again.
      const timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_SLEEP_MS));
      this.waiting.add(done);
    });
  }

  wake(): void {
    for (const done of [...this.waiting]) done();
  }
}
