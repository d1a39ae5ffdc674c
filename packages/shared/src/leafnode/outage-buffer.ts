// The leaf side's outage buffer (uplink.ts): messages for the hub held, oldest first, while the link is down or
// older ones still wait, each with its own copy of the bytes counted against bufferBytes; and the local publishers
// paused while it (or the socket behind it) is full, resumed once it is down to half. Which held message is sent,
// discarded or kept waiting for the hub's interest is uplink.ts's.
import type { Logger } from '../log.js';
import type { Conn, PublisherHandle } from '../server/broker.js';
import type { LeafMessage } from './peer.js';

/** Held messages skipped over before the array is compacted (amortises the splice). */
const COMPACT_AFTER = 4096;

/** A message waiting for the hub, with its own copy of the bytes. */
export interface Held extends LeafMessage {
  /** What it counts against bufferBytes. */
  readonly size: number;
}

export class OutageBuffer {
  // Messages for the hub not yet written, oldest first from head.
  private held: (Held | undefined)[] = [];
  private head = 0;
  private heldBytes = 0;
  private readonly paused = new Set<PublisherHandle>();

  constructor(
    /** Held bytes at which local publishers are paused (UplinkOptions.bufferBytes). */
    readonly limitBytes: number,
    private readonly logger: Logger,
    /** What the log lines say of the link: its upstream and state now. */
    private readonly context: () => { upstream: string | undefined; state: string },
  ) {}

  /** Messages held now. */
  get length(): number {
    return this.held.length - this.head;
  }

  /** What the held messages count against limitBytes. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Local publishers paused now. */
  get pausedPublishers(): number {
    return this.paused.size;
  }

  /**
   * Holds `m` behind the older ones, in order; pauses `from` once the buffer is full. A copy, so the publisher's
   * read buffer is not kept alive by a slice and bufferBytes counts what is really held; `owned`: `m.msg` is already
   * one (a stamped message built for this, auth-stamp.ts) and is kept as it is.
   */
  hold(m: LeafMessage, from: Conn, owned = false): void {
    const size = m.msg.length + m.subject.length + (m.reply?.length ?? 0);
    this.held.push({ subject: m.subject, reply: m.reply, queues: m.queues, hdrLen: m.hdrLen, msg: owned ? m.msg : Buffer.from(m.msg), size });
    this.heldBytes += size;
    if (this.heldBytes >= this.limitBytes) this.pause(from);
  }

  /** The oldest held message, or undefined when none is held. */
  peek(): Held | undefined {
    return this.head < this.held.length ? this.held[this.head] : undefined;
  }

  /** The oldest held message is gone (written or discarded). */
  shift(): void {
    const h = this.held[this.head]!;
    this.held[this.head++] = undefined;
    this.heldBytes -= h.size;
  }

  /** After a drain: the array freed when it is empty, compacted when most of it is skipped over. */
  compact(): void {
    if (this.head === this.held.length) {
      this.held = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.held.length) {
      this.held = this.held.slice(this.head);
      this.head = 0;
    }
  }

  /** Discards every held message (close); returns how many there were and their bytes. */
  discard(): { msgs: number; bytes: number } {
    const dropped = { msgs: this.length, bytes: this.heldBytes };
    this.held = [];
    this.head = 0;
    this.heldBytes = 0;
    return dropped;
  }

  /** Pauses `from`'s publisher: the buffer, or the socket behind it, is full. */
  pause(from: Conn): void {
    const p = from.publisher;
    if (this.paused.has(p)) return;
    if (this.paused.size === 0) {
      this.logger.info({ ...this.context(), held_bytes: this.heldBytes, buffer_bytes: this.limitBytes }, 'uplink buffer full, pausing publishers');
    }
    this.paused.add(p);
    p.pause();
  }

  /**
   * Publishers go on once the backlog is down to half the buffer (hysteresis: no pause/resume per message): the
   * held bytes and `socketBytes`, what the socket has queued (0 while the link is not up).
   */
  resumeWhenLow(socketBytes: number): void {
    if (this.paused.size === 0) return;
    const low = this.limitBytes / 2;
    if (this.heldBytes > low || socketBytes > low) return;
    this.resumeAll();
  }

  resumeAll(): void {
    if (this.paused.size === 0) return;
    const ps = [...this.paused];
    this.paused.clear();
    this.logger.info({ upstream: this.context().upstream, publishers: ps.length }, 'uplink buffer drained, resuming publishers');
    for (const p of ps) p.resume();
  }
}
