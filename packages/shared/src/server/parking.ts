// What a connection keeps while a gate parks it (broker.ts PublishGate, SubscribeGate): the one operation it was
// stopped at, unprocessed, with its parser stopped behind it (the rest of the read kept unparsed) and its reads
// paused. Offered again when unparked, in order, before anything that followed it. Shared by the client and the
// hub-side leaf link, which park the same way.
import type { Parser } from '../protocol/index.js';

/** What a parked connection pauses besides its parser: its socket reads (ConnCore, counted). */
export interface Reads {
  pause(): void;
  resume(): void;
}

export class Parking<Op> {
  private op: Op | undefined;

  constructor(
    private readonly parser: Parser,
    private readonly reads: Reads,
  ) {}

  get parked(): boolean {
    return this.op !== undefined;
  }

  /** Stops at `op` (called from its handler): nothing behind it is parsed, nothing more read, until unpark(). */
  park(op: Op): void {
    this.op = op;
    this.parser.pause();
    this.reads.pause();
  }

  /**
   * The gate has room: reads resume and `op` is offered again through `offer` (unless `open()` says the connection
   * closed meanwhile); once it was not parked again, parsing goes on behind it.
   */
  unpark(offer: (op: Op) => void, open: () => boolean): void {
    const op = this.op;
    if (op === undefined) return;
    this.op = undefined;
    this.reads.resume();
    if (!open()) return;
    offer(op);
    if (this.op === undefined) this.parser.resume();
  }

  /** The connection closed: what it was parked at goes with it. */
  drop(): void {
    this.op = undefined;
  }
}
