// The plumbing every connection end shares, whichever protocol it speaks (a client, a leaf link): what it is owed is
// batched in one Outbound per event-loop turn and written in one go; it ends one of three ways, gracefully (what is
// queued, then the close), refused (its last bytes handed to the OS, then dropped: Transport.refuse) or cut (its
// backlog dropped: a reader that cannot keep up); its reads pause for flow control, counted; and it is kept alive
// with PINGs (pinger.ts), stale once ping_max go unanswered. When a flush runs is flush.ts's; what the bytes say and
// what a stale or stuck peer is told are the owner's (for a connection a port accepted: accepted-core.ts).
import { EAGER_FLUSH_BYTES, Outbound } from '../protocol/index.js';
import { flushAfterTurn, type Flushable } from './flush.js';
import { Pinger } from './pinger.js';
import type { Transport } from './transport.js';
import { WriteDeadline } from './write-deadline.js';

export interface ConnCoreOptions {
  /** Whose flush() runs after a turn this connection was written in (flush.ts): it writes what it collected, then flush(). */
  owner: Flushable;
  /** Keepalive: ping_max (read on each tick), and what the owner writes or does for a PING due or a stale peer. */
  keepalive: { pingMax(): number; ping(): void; stale(unanswered: number): void };
  /** nats-server's write deadline (write-deadline.ts), read on each arming; what to do with a reader stuck past it. */
  writeDeadline?: { ms(): number; stuck(): void };
  /** Runs each time a write has been handed to the OS (the uplink sends more of its outage buffer by it). */
  sent?(): void;
}

export class ConnCore {
  /** This turn's batch: messages are encoded straight into it. */
  readonly batch = new Outbound();
  readonly pinger = new Pinger();
  private scheduled = false;
  private paused = 0;
  private ended = false;
  private readonly deadline: WriteDeadline | undefined;
  /** A write's completion callback: the deadline's progress count and the owner's `sent`, bound once. */
  private readonly onSent: (() => void) | undefined;

  constructor(
    protected readonly transport: Transport,
    private readonly opts: ConnCoreOptions,
  ) {
    const wd = opts.writeDeadline;
    if (wd !== undefined) this.deadline = new WriteDeadline(transport, { deadlineMs: wd.ms, stuck: wd.stuck });
    const deadline = this.deadline;
    const sent = opts.sent;
    if (deadline === undefined || sent === undefined) this.onSent = deadline?.onSent ?? sent;
    else
      this.onSent = () => {
        deadline.onSent();
        sent();
      };
  }

  /** Bytes owed and not yet handed to the OS: this turn's batch plus the socket's backlog. */
  get pendingBytes(): number {
    return this.batch.bytes + this.transport.bufferedBytes();
  }

  /** Reads are paused (flow control, or a verdict awaited). */
  get readsPaused(): boolean {
    return this.paused > 0;
  }

  /** PINGs every `intervalMs` from now on (pinger.ts); a reload's new interval re-arms it. */
  keepAlive(intervalMs: number): void {
    if (this.ended) return;
    if (this.pinger.running) this.pinger.retime(intervalMs);
    else this.pinger.start(intervalMs, () => this.onPingTimer());
  }

  /** Queues a control line (or bytes) for this turn's write. */
  write(s: string | Buffer): void {
    if (typeof s === 'string') this.batch.writeString(s);
    else this.batch.writeBytes(s);
    this.schedule();
  }

  /** The owner's flush runs after this turn (flush.ts), once however much is queued. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    flushAfterTurn(this.opts.owner);
  }

  /**
   * A message was encoded into the batch: written after the turn (flush.ts), or at once past EAGER_FLUSH_BYTES: a
   * publisher that never yields (an in-process loop) must not make us batch without bound.
   */
  queued(): void {
    if (this.batch.bytes >= EAGER_FLUSH_BYTES) this.opts.owner.flush();
    else this.schedule();
  }

  /** Writes the batch in one go. */
  flush(): void {
    this.scheduled = false;
    if (this.batch.bytes === 0 || this.ended) return;
    this.transport.write(this.batch.take(), this.onSent);
    this.deadline?.wrote();
  }

  /** Everything written was handed to the OS (the transport's onDrain): no deadline to watch. */
  drained(): void {
    this.deadline?.stop();
  }

  /** Counted: reads resume once every pause is resumed. */
  pause(): void {
    if (this.paused++ === 0) this.transport.pause();
  }

  resume(): void {
    if (this.paused > 0 && --this.paused === 0 && !this.ended) this.transport.resume();
  }

  /** Graceful: what is queued, then the close once it is sent (bounded, Transport.end). */
  end(): void {
    this.flush();
    this.transport.end();
    this.stop();
  }

  /** A peer that was refused: what is queued (its -ERR) handed to the OS, then the connection dropped. */
  refuse(): void {
    this.transport.refuse(this.batch.bytes > 0 ? this.batch.take() : undefined);
    this.stop();
  }

  /** A reader that cannot keep up: its backlog dropped (keeping it would keep memory for it), the connection cut. */
  cut(): void {
    this.batch.clear();
    this.transport.destroy();
    this.stop();
  }

  /** The connection is gone, however it ended: nothing more is written, watched or pinged. */
  stop(): void {
    this.ended = true;
    this.batch.clear();
    this.deadline?.stop();
    this.pinger.stop();
  }

  private onPingTimer(): void {
    if (this.ended) return;
    // With reads paused on purpose the peer's PONGs sit unread: missing them says nothing (pinger.ts onTimer).
    const action = this.pinger.onTimer(this.opts.keepalive.pingMax(), this.paused > 0);
    if (action === 'stale') this.opts.keepalive.stale(this.pinger.unanswered);
    else if (action === 'ping') this.opts.keepalive.ping();
  }
}
