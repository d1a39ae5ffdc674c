// max_connections across the gateway's workers: one budget for the whole gateway, held by the primary. node:cluster
// hands each connection to a worker without asking whether it has room, so a worker asks the primary for a slot as it
// accepts a socket and gives it back once the socket is no longer counted (shared/server/slots.ts SharedSlots). A
// worker that dies gives back every slot it held. An ask that gets no answer in time is a refusal, and a grant that
// comes after is given back at once: a worker holds only what it asked for and still counts.
//
// One IPC round trip per accept (tens of microseconds) against an admission rate of hundreds a second: no leasing ahead.
import type { Worker } from 'node:cluster';
import type { SharedSlots } from '@event-broker/shared';

/** An ask unanswered after this long is a refusal (the primary busy or gone). */
export const SLOT_ASK_TIMEOUT_MS = 2000;

/** Worker → primary. */
export type SlotRequest = { type: 'slot-ask'; seq: number } | { type: 'slot-release' };
/** Primary → worker. */
export interface SlotGrant {
  type: 'slot';
  seq: number;
  granted: boolean;
}

/** The primary's side: who holds how many of the whole gateway's slots. */
export class SlotBudget {
  private readonly held = new Map<Worker, number>();
  private total = 0;

  /** `max` is read on every ask: a reload reaches the next socket. */
  constructor(private readonly max: () => number) {}

  /** Slots held now, across the workers. */
  get size(): number {
    return this.total;
  }

  /** A worker's ask or release; answers an ask over the worker's channel. */
  handle(worker: Worker, msg: SlotRequest): void {
    if (msg.type === 'slot-release') {
      const n = this.held.get(worker) ?? 0;
      if (n === 0) return;
      this.set(worker, n - 1);
      return;
    }
    const granted = !worker.isDead() && this.total < this.max();
    if (granted) this.set(worker, (this.held.get(worker) ?? 0) + 1);
    if (worker.isConnected()) worker.send({ type: 'slot', seq: msg.seq, granted } satisfies SlotGrant);
  }

  /** The worker is gone: its sockets closed with it, so every slot it held is free. */
  exited(worker: Worker): void {
    this.set(worker, 0);
  }

  private set(worker: Worker, n: number): void {
    this.total += n - (this.held.get(worker) ?? 0);
    if (n === 0) this.held.delete(worker);
    else this.held.set(worker, n);
  }
}

/** A worker's side: asks and gives back over its IPC channel to the primary. */
export class WorkerSlots implements SharedSlots {
  private seq = 0;
  private readonly pending = new Map<number, { resolve(granted: boolean): void; timer: NodeJS.Timeout }>();

  constructor(private readonly timeoutMs = SLOT_ASK_TIMEOUT_MS) {}

  acquire(): Promise<boolean> {
    if (!process.connected) return Promise.resolve(false);
    const seq = ++this.seq;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        resolve(false);
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(seq, { resolve, timer });
      send({ type: 'slot-ask', seq });
    });
  }

  release(): void {
    send({ type: 'slot-release' });
  }

  /** The primary's answer; one to an ask already taken as refused is given back. */
  answered(msg: SlotGrant): void {
    const ask = this.pending.get(msg.seq);
    if (ask === undefined) {
      if (msg.granted) this.release();
      return;
    }
    this.pending.delete(msg.seq);
    clearTimeout(ask.timer);
    ask.resolve(msg.granted);
  }

  /** The primary is gone: nothing more will be granted. */
  disconnected(): void {
    for (const ask of this.pending.values()) {
      clearTimeout(ask.timer);
      ask.resolve(false);
    }
    this.pending.clear();
  }
}

function send(msg: SlotRequest): void {
  if (process.connected) process.send?.(msg);
}
