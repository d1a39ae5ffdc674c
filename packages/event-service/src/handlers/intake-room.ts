// Room under event_limit, as a hard cap: the intake's gate (shared PublishGate) and its credit ledger. A plain
// publish on `events.>` is admitted only while the events held for the handlers plus the room promised to credit
// holders stay under the limit; otherwise its publisher is parked before that message (nothing of it stored, nothing
// after it parsed) and let go, in arrival order, as room frees (issue 12: pausing after the fact let four publishers
// put 729 events under a limit of 50). A request is never parked: the intake refuses it (EEVENT_LIMIT) by free().
// A gateway takes credit ahead of its clients' events (shared server/credit.ts), so one client at the limit parks
// only itself, not the link every client of that gateway shares.
import {
  parseCreditMessage,
  type Conn,
  type Logger,
  type PublishGate,
  type PublisherHandle,
} from '@event-broker/shared';

const INTAKE_PREFIX = 'events.';

export interface IntakeRoomOptions {
  /** Events held now (owed to a sink, or taken and not yet committed); throws while the store cannot be used. */
  held: () => number;
  /** event_limit, read live. */
  limit: () => number;
  /** Answers a credit request with what was granted. */
  answer: (reply: string, granted: number) => void;
  logger: Logger;
}

export class IntakeRoom implements PublishGate {
  /** Credit granted and not yet spent or returned, by holder. Counted as taken room. */
  private readonly credit = new Map<PublisherHandle, number>();
  private creditTotal = 0;
  /** Publishers parked before a message, in the order they were parked. */
  private readonly parked = new Set<PublisherHandle>();
  /** Credit requests that found no room, answered as it frees (one per holder: the latest). */
  private readonly asking = new Map<PublisherHandle, { reply: string; want: number }>();
  /** Logged once per spell at the limit, not per parked publisher. */
  private full = false;
  private wakeScheduled = false;

  constructor(private readonly opts: IntakeRoomOptions) {}

  /** Room promised to credit holders and not yet used. */
  get reserved(): number {
    return this.creditTotal;
  }

  /** Publishers parked at the limit now. */
  get parkedPublishers(): number {
    return this.parked.size;
  }

  /** Room left: the limit less what is held and what credit holders may still send. Throws while the store cannot be used. */
  free(): number {
    return this.opts.limit() - this.opts.held() - this.creditTotal;
  }

  admit(from: Conn, subject: string, reply: string | undefined): boolean {
    if (reply !== undefined || !subject.startsWith(INTAKE_PREFIX)) return true;
    const p = from.publisher;
    const c = this.credit.get(p);
    if (c !== undefined) {
      // Spent credit: its room was counted as taken when granted, so the event fits whatever came since.
      if (c === 1) this.credit.delete(p);
      else this.credit.set(p, c - 1);
      this.creditTotal--;
      return true;
    }
    let free: number;
    try {
      free = this.free();
    } catch {
      return true; // the store cannot be used: the intake refuses the event, logged by id (intake.ts unusable)
    }
    if (free > 0) return true;
    if (p.unpark !== undefined) this.parked.add(p);
    if (!this.full) {
      this.full = true;
      this.opts.logger.info(
        { event_limit: this.opts.limit(), reserved: this.creditTotal },
        'event_limit reached: plain publishers held until room frees',
      );
    }
    return false;
  }

  forget(from: Conn): void {
    const p = from.publisher;
    this.parked.delete(p);
    this.asking.delete(p);
    this.take(p, Number.MAX_SAFE_INTEGER);
    // Its credit may have been all that stood in the way.
    this.wake();
  }

  /**
   * A credit message from `p` (`$EVENTS.CREDIT.events`): a request answered now or when room frees (behind the
   * publishers already parked), a return, or what `p` has left.
   */
  onCredit(p: PublisherHandle, reply: string | undefined, data: Uint8Array): void {
    const m = parseCreditMessage(data);
    if (m === undefined || p.takesCredit !== true || p.unpark === undefined) {
      // Not ours to keep: malformed, or from a client or a leaf that is no gateway (credit granted to it would be room
      // nobody uses, taken by whoever asked). Nothing is reserved.
      if (reply !== undefined) this.opts.answer(reply, 0);
      return;
    }
    if ('return' in m || 'have' in m) {
      const c = this.credit.get(p) ?? 0;
      this.take(p, 'return' in m ? m.return : Math.max(0, c - m.have));
      this.wake();
      return;
    }
    if (reply === undefined) return;
    // Parked publishers were first: a request waits behind them (wake serves both, in turn).
    if (this.parked.size > 0 || !this.grant(p, reply, m.want)) this.asking.set(p, { reply, want: m.want });
  }

  /**
   * An event admitted here was not taken after all (refused as invalid, or the store could not be used): its room
   * is free again, and a publisher parked for it must hear so (nothing else would wake it: no commit, no delivery).
   */
  notTaken(): void {
    if (this.wakeScheduled || (this.parked.size === 0 && this.asking.size === 0)) return;
    this.wakeScheduled = true;
    // Not inside the delivery of the refused event: after it.
    queueMicrotask(() => {
      this.wakeScheduled = false;
      this.wake();
    });
  }

  /**
   * Room may have freed (deliveries resolved, a commit settled): parked publishers go on and credit requests are
   * answered, taking turns, in arrival order, while there is room. A publisher that fills it again parks again,
   * behind the others.
   */
  wake(): void {
    for (;;) {
      if (this.parked.size === 0 && this.asking.size === 0) break;
      if (!this.hasRoom()) return;
      const p = first(this.parked);
      if (p !== undefined) {
        this.parked.delete(p);
        try {
          p.unpark!();
        } catch (err) {
          this.opts.logger.error({ err: (err as Error).message }, 'unholding a publisher failed');
        }
      }
      if (!this.hasRoom()) return;
      const a = first(this.asking.keys());
      if (a !== undefined) {
        const ask = this.asking.get(a)!;
        this.asking.delete(a);
        if (!this.grant(a, ask.reply, ask.want)) this.asking.set(a, ask);
      }
    }
    if (this.full) {
      this.full = false;
      this.opts.logger.info({ event_limit: this.opts.limit() }, 'room under event_limit again: no publisher held');
    }
  }

  /** The intake stops: every parked publisher goes on (what it sends now reaches no intake), credit is forgotten. */
  releaseAll(): void {
    const parked = [...this.parked];
    this.parked.clear();
    this.asking.clear();
    this.credit.clear();
    this.creditTotal = 0;
    for (const p of parked) p.unpark?.();
  }

  /** Grants `p` what room allows (its share bounded, so no holder takes it all); false when there was none. */
  private grant(p: PublisherHandle, reply: string, want: number): boolean {
    let free: number;
    try {
      free = this.free();
    } catch {
      return false;
    }
    if (free <= 0) return false;
    const has = this.credit.get(p) ?? 0;
    // One holder may keep at most an eighth of the limit unspent: a gateway asks again as it spends.
    const share = Math.max(1, Math.ceil(this.opts.limit() / 8)) - has;
    const n = Math.max(0, Math.min(want, free, share));
    if (n > 0) {
      this.credit.set(p, has + n);
      this.creditTotal += n;
    }
    this.opts.answer(reply, n);
    return true;
  }

  /** Takes back up to `n` of `p`'s credit. */
  private take(p: PublisherHandle, n: number): void {
    const c = this.credit.get(p);
    if (c === undefined) return;
    const back = Math.min(c, n);
    if (back === c) this.credit.delete(p);
    else this.credit.set(p, c - back);
    this.creditTotal -= back;
  }

  private hasRoom(): boolean {
    try {
      return this.free() > 0;
    } catch {
      return false;
    }
  }
}

function first<T>(it: Iterable<T>): T | undefined {
  for (const v of it) return v;
  return undefined;
}
