// A sink queue's pulls from its durable (sink-queue.ts next()), kept open in the background so that a claim takes
// what has arrived instead of waiting for a pull to end. The consumer's max_ack_pending is shared by every instance:
// a pull for more than the capacity left waits for its expiry before it ends (nats-server 2.9.10 sends nothing
// sooner: its 408 Request Timeout comes at the expiry), so an instance whose claim waited for its pull waited out a
// second each time another instance held part of the capacity (the two-instance bench row). Here a claim returns
// once its first message came and the burst behind it stopped; the pull stays open and what it brings later is
// buffered for the next claim. A pull is never abandoned while the server may still answer it (a message sent to an
// inbox nobody reads stays claimed until the ack wait): close() lets the open pulls end, releasing what they bring.
//
// Not `no_wait`: on 2.9.10 a no_wait pull that cannot be filled for lack of capacity stays on the server with no
// expiry and no answer, and takes the next freed message (to an abandoned inbox: lost until the ack wait).
import type { Consumer, ConsumerMessages, JsMsg } from 'nats';

/** A pull's expiry (the client's shortest): how long close() may wait for the open pulls to end. */
export const PULL_MS = 1000;
/**
 * A claim's batch is what arrives without a pause this long after its first message: a burst the server sends at
 * once comes in a few socket reads, well within it; a longer pause means the capacity is held elsewhere.
 */
export const BURST_GAP_MS = 20;
/** How long close() waits for the open pulls (their expiry and the client's 5 % on top), before stopping them. */
const CLOSE_WAIT_MS = PULL_MS * 2;

export interface ClaimPullsOptions {
  /** The consumer (created or checked by the queue); a failure is thrown to the claim waiting. */
  consumer: () => Promise<Consumer>;
  /** The consumer's ack wait: buffered messages are kept alive, and released (nak) when no claim took them within it. */
  ackWaitMs: number;
  /** A pull failed (the consumer may be gone): the queue checks it again on its next claim. */
  failed: (err: Error) => void;
}

interface Buffered {
  m: JsMsg;
  at: number;
}

export class ClaimPulls {
  /** Messages pulled and not yet taken by a claim: claims of this instance already. */
  private readonly buffer: Buffered[] = [];
  /** Pulls in progress: the promises that end with them, and their iterators once made. */
  private readonly open = new Set<Promise<void>>();
  private readonly iters = new Set<ConsumerMessages>();
  /** When the latest message arrived. */
  private arrived = 0;
  /** Messages asked for by the open pulls and not yet received. */
  private asked = 0;
  /** What the claims waiting now want, together. */
  private wanted = 0;
  private failure: Error | undefined;
  private readonly waiters = new Set<() => void>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: ClaimPullsOptions) {}

  /**
   * Up to `max` messages: waits up to `waitMs` for the first, then for the burst behind it (until `max`, what the
   * consumer said was undelivered, or a pause of BURST_GAP_MS); [] when none came or close() ran.
   */
  async take(max: number, waitMs: number): Promise<JsMsg[]> {
    max = Math.max(1, max);
    const deadline = Date.now() + waitMs;
    this.wanted += max;
    try {
      for (;;) {
        this.throwFailure();
        if (this.closed) return [];
        this.demand();
        const now = Date.now();
        const last = this.buffer[this.buffer.length - 1]?.m;
        if (last === undefined) {
          if (now >= deadline) return [];
          await this.change(deadline - now);
          continue;
        }
        // The last message says how many more were undelivered when it was sent: wait for those that fit, as long
        // as they keep coming (a pause means the rest of the capacity is held elsewhere).
        const want = Math.min(max, this.buffer.length + last.info.pending);
        const gap = this.arrived + BURST_GAP_MS - now;
        if (this.buffer.length >= want || this.asked === 0 || gap <= 0) {
          return this.buffer.splice(0, max).map((b) => b.m);
        }
        await this.change(gap);
      }
    } finally {
      this.wanted -= max;
    }
  }

  /** Stops pulling; waits for the open pulls to end (bounded), then releases (nak) every message buffered. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.notify();
    const ended = Promise.allSettled([...this.open]);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), CLOSE_WAIT_MS)));
    if ((await Promise.race([ended, late])) === 'late') for (const iter of this.iters) iter.stop();
    clearTimeout(timer);
    for (const b of this.buffer.splice(0)) b.m.nak();
  }

  private throwFailure(): void {
    const err = this.failure;
    if (err === undefined) return;
    this.failure = undefined;
    throw err;
  }

  /**
   * Opens a pull when the claims waiting want more than is buffered and asked for. What they want together is at
   * most max_in_flight × batch_size, this instance's max_ack_pending: the server bounds the buffer by it too.
   */
  private demand(): void {
    if (this.closed) return;
    const n = this.wanted - this.buffer.length - this.asked;
    if (n >= 1) this.pull(n);
  }

  private pull(n: number): void {
    this.asked += n;
    const run = (async () => {
      let got = 0;
      let iter: ConsumerMessages | undefined;
      try {
        const consumer = await this.opts.consumer();
        if (this.closed) return;
        // Heartbeats at a quarter of the expiry: two missed (a consumer deleted under us answers nothing) make the
        // client check the consumer and fail the pull well before its own timer (expiry + 5 %) ends it quietly.
        iter = await consumer.fetch({ max_messages: n, expires: PULL_MS, idle_heartbeat: PULL_MS / 4 });
        this.iters.add(iter);
        for await (const m of iter) {
          got++;
          this.asked--;
          this.arrived = Date.now();
          // While close() waits, kept too: released once no pull is open, or it would come back to one of them.
          this.buffer.push({ m, at: this.arrived });
          this.keepAlive();
          this.notify();
        }
      } catch (err) {
        // Thrown to a claim waiting now; with none, the next one finds the consumer checked again anyway.
        if (this.wanted > 0) this.failure = err as Error;
        this.opts.failed(err as Error);
      } finally {
        if (iter !== undefined) this.iters.delete(iter);
        this.asked -= n - got;
        this.notify();
      }
    })();
    this.open.add(run);
    void run.finally(() => this.open.delete(run));
  }

  /**
   * Resolves true when something changed (a message, a pull's end, close), false after `ms`. The timeout yields to
   * the socket once first (setImmediate runs after the poll phase): after a stall of the event loop the timer is due
   * before messages already received are read, and those are what the claim was waiting for.
   */
  private change(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(
        () =>
          setImmediate(() => {
            if (!this.waiters.delete(wake)) return;
            resolve(false);
          }),
        ms,
      );
      this.waiters.add(wake);
    });
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /**
   * While messages are buffered, JetStream is told every third of the ack wait that they are being worked on; one
   * no claim took within the ack wait (its sink stopped or paused) is released for any instance to take.
   */
  private keepAlive(): void {
    if (this.sweeper !== undefined || this.buffer.length === 0 || this.closed) return;
    this.sweeper = setInterval(
      () => {
        const old = Date.now() - this.opts.ackWaitMs;
        while (this.buffer.length > 0 && this.buffer[0]!.at <= old) this.buffer.shift()!.m.nak();
        for (const b of this.buffer) b.m.working();
        if (this.buffer.length === 0) {
          clearInterval(this.sweeper);
          this.sweeper = undefined;
        }
      },
      Math.max(100, Math.floor(this.opts.ackWaitMs / 3)),
    );
    this.sweeper.unref();
  }
}
