// max_connections across the gateway's workers: one budget for the whole gateway, held by the primary. node:cluster
// hands each connection to a worker without asking whether it has room, so a worker takes a slot from the primary as
// it accepts a socket and gives it back once the socket is no longer counted (shared/server/slots.ts SharedSlots).
//
// A round trip per accept queues behind the worker's TLS and token work (and behind the handles node:cluster passes on
// the same channel): measured, it cut admission by more than half. So a worker leases a few slots ahead (LEASE) while
// the gateway is far from its limit, and keeps a freed one as a spare. Exactness near the limit: there the primary
// grants one slot per ask and no spares, tells every worker that may hold spares to give them back (reclaim), and an
// ask that finds the budget full waits for those answers before it is refused, so a client is admitted whenever the
// gateway counts fewer than max_connections sockets, and never more are counted. A worker that dies gives back
// everything it held. An ask that gets no answer in time is a refusal, and a grant that comes after is given back.
import type { Worker } from 'node:cluster';
import type { SharedSlots, SlotAnswer } from '@event-broker/shared';

/** An ask unanswered after this long is a refusal (the primary busy or gone). */
export const SLOT_ASK_TIMEOUT_MS = 2000;
/** Slots a worker takes ahead of need, and keeps when freed, while the gateway is far from its limit. */
export const LEASE = 8;

/** Worker → primary. `reclaimed`: the answer to a reclaim (n may be 0). */
export type SlotRequest =
  { type: 'slot-ask'; seq: number; want: number } | { type: 'slot-release'; n: number; reclaimed?: boolean };
/** Primary → worker: `n` slots granted to ask `seq` (0: the whole is full), or give back every spare. */
export type SlotGrant = { type: 'slot'; seq: number; n: number } | { type: 'slot-reclaim' };

interface Held {
  n: number;
  /** Granted spares, not yet answered a reclaim since. */
  spares: boolean;
  /** A reclaim is on its way to it. */
  reclaiming: boolean;
}

/** The primary's side: who holds how many of the whole gateway's slots (spares included). */
export class SlotBudget {
  private readonly held = new Map<Worker, Held>();
  private total = 0;
  /** Asks that found the budget full while spares may still come back. */
  private waiting: { worker: Worker; seq: number }[] = [];

  /** `max` is read on every ask: a reload reaches the next socket. */
  constructor(
    private readonly max: () => number,
    private readonly workers: () => number,
  ) {}

  /** Slots held now, across the workers. */
  get size(): number {
    return this.total;
  }

  handle(worker: Worker, msg: SlotRequest): void {
    if (msg.type === 'slot-release') {
      const h = this.held.get(worker);
      if (h === undefined) return;
      this.add(h, -Math.min(msg.n, h.n));
      if (msg.reclaimed === true) {
        h.spares = false;
        h.reclaiming = false;
      }
      this.retryWaiting();
      return;
    }
    if (worker.isDead()) return;
    this.ask(worker, msg.seq, msg.want);
  }

  /**
   * max_connections changed (a reload): spares leased under the old limit are called back, else a worker would
   * admit on them past a lower one.
   */
  limitChanged(): void {
    this.reclaim();
  }

  /** The worker is gone: its sockets closed with it, so every slot it held is free. */
  exited(worker: Worker): void {
    const h = this.held.get(worker);
    if (h !== undefined) this.add(h, -h.n);
    this.held.delete(worker);
    this.waiting = this.waiting.filter((w) => w.worker !== worker);
    this.retryWaiting();
  }

  private ask(worker: Worker, seq: number, want: number): void {
    const free = this.max() - this.total;
    const h = this.entry(worker);
    // Spares only far from the limit, and never to a worker a reclaim has not yet reached (its answer would clear them).
    if (free > want + this.workers() * (LEASE + 1) && !h.reclaiming) {
      if (want > 1) h.spares = true;
      this.add(h, want);
      return grant(worker, seq, want);
    }
    // Near the limit: one at a time, and the spares come back.
    this.reclaim();
    if (free >= 1) {
      this.add(h, 1);
      return grant(worker, seq, 1);
    }
    if ([...this.held.values()].some((o) => o.spares)) this.waiting.push({ worker, seq });
    else grant(worker, seq, 0);
  }

  private reclaim(): void {
    for (const [w, h] of this.held) {
      if (!h.spares || h.reclaiming) continue;
      h.reclaiming = true;
      if (w.isConnected()) w.send({ type: 'slot-reclaim' } satisfies SlotGrant);
    }
  }

  private retryWaiting(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const { worker, seq } of waiting) this.ask(worker, seq, 1);
  }

  private entry(worker: Worker): Held {
    let h = this.held.get(worker);
    if (h === undefined) {
      h = { n: 0, spares: false, reclaiming: false };
      this.held.set(worker, h);
    }
    return h;
  }

  private add(h: Held, n: number): void {
    h.n += n;
    this.total += n;
  }
}

function grant(worker: Worker, seq: number, n: number): void {
  if (worker.isConnected()) worker.send({ type: 'slot', seq, n } satisfies SlotGrant);
}

/** A worker's side: its spares, and asks and gives back over its IPC channel to the primary. */
export class WorkerSlots implements SharedSlots {
  private seq = 0;
  private readonly pending = new Map<number, { resolve(answer: SlotAnswer): void; timer: NodeJS.Timeout }>();
  /** Slots granted and not counting a socket. */
  private spare = 0;
  /** Near the limit (told by a reclaim): no spares kept, none asked for, until a grant brings some again. */
  private lean = true;

  constructor(private readonly timeoutMs = SLOT_ASK_TIMEOUT_MS) {}

  acquire(): Promise<SlotAnswer> {
    if (this.spare > 0) {
      this.spare--;
      return Promise.resolve('granted');
    }
    if (!process.connected) return Promise.resolve('unanswered');
    const seq = ++this.seq;
    return new Promise<SlotAnswer>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        resolve('unanswered');
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(seq, { resolve, timer });
      send({ type: 'slot-ask', seq, want: 1 + LEASE });
    });
  }

  release(): void {
    if (!this.lean && this.spare < LEASE) this.spare++;
    else send({ type: 'slot-release', n: 1 });
  }

  /** The primary's message: a grant (one to an ask already taken as refused is given back), or a reclaim. */
  answered(msg: SlotGrant): void {
    if (msg.type === 'slot-reclaim') {
      this.lean = true;
      send({ type: 'slot-release', n: this.spare, reclaimed: true });
      this.spare = 0;
      return;
    }
    const ask = this.pending.get(msg.seq);
    if (ask === undefined) {
      if (msg.n > 0) send({ type: 'slot-release', n: msg.n });
      return;
    }
    this.pending.delete(msg.seq);
    clearTimeout(ask.timer);
    if (msg.n > 1) {
      this.lean = false;
      this.spare += msg.n - 1;
    }
    ask.resolve(msg.n >= 1 ? 'granted' : 'full');
  }

  /** The primary is gone: nothing more will be granted. */
  disconnected(): void {
    for (const ask of this.pending.values()) {
      clearTimeout(ask.timer);
      ask.resolve('unanswered');
    }
    this.pending.clear();
  }
}

function send(msg: SlotRequest): void {
  if (process.connected) process.send?.(msg);
}
