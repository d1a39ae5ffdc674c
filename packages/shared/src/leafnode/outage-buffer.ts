// The leaf side's outage buffer (uplink.ts): messages for the hub held, oldest first, while the link is down or
// older ones still wait, each with its own copy of the bytes counted against bufferBytes; their drain into the link
// once it is up, each waiting for the hub's interest in its subject for a while after the link came up; and the
// local publishers paused while it (or the socket behind it) is full, resumed once it is down to half. Writing a
// message to the hub, and when the link is up, are uplink.ts's.
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

/** The link held messages drain into while it is up: the uplink's. */
export interface OutageLink {
  /** Bytes owed to the hub and not yet handed to the OS. */
  pendingBytes(): number;
  /** Whether the hub's interest, as we hold it, covers `subject`. */
  wants(subject: string): boolean;
  /** Writes a held message for the hub (or drops it, counted, when over the hub's max_payload). */
  write(h: Held): void;
  /** Writes what is queued. */
  flush(): void;
}

export interface OutageBufferOptions {
  /** Held bytes at which local publishers are paused (UplinkOptions.bufferBytes). */
  readonly limitBytes: number;
  /** How long after the link comes up a held message waits for the hub's interest (UplinkOptions.interestWaitMs). */
  readonly interestWaitMs: number;
  readonly logger: Logger;
  /** What the log lines say of the link: its upstream and state now. */
  context(): { upstream: string | undefined; state: string };
}

export class OutageBuffer {
  /** Held bytes at which local publishers are paused. */
  readonly limitBytes: number;
  /** Held messages discarded because the hub, back, no longer wanted their subject after interestWaitMs. */
  droppedNoInterest = 0;
  // Messages for the hub not yet written, oldest first from head.
  private held: (Held | undefined)[] = [];
  private head = 0;
  private heldBytes = 0;
  private readonly paused = new Set<PublisherHandle>();
  /** The link while it is up. */
  private link: OutageLink | undefined;
  /** Held messages wait for the hub's interest until then. */
  private holdUntil = 0;
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: OutageBufferOptions) {
    this.limitBytes = opts.limitBytes;
  }

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

  /** The link is up: what is held goes to it, each message waiting for the hub's interest until interestWaitMs from now. */
  up(link: OutageLink): void {
    this.link = link;
    this.holdUntil = Date.now() + this.opts.interestWaitMs;
    this.drain();
  }

  /** The link is down: messages are held until it is back. */
  down(): void {
    this.link = undefined;
  }

  /**
   * Writes held messages, oldest first, while the socket takes them. A message whose subject the hub does not
   * want (yet) stops the queue until the hub announces it or interestWaitMs after the link came up; then it is
   * discarded, as the hub would.
   */
  drain(): void {
    const link = this.link;
    if (link === undefined) return;
    let dropped = 0;
    while (this.head < this.held.length) {
      if (link.pendingBytes() >= this.limitBytes) break; // sent() resumes
      const h = this.held[this.head]!;
      if (!link.wants(h.subject)) {
        const wait = this.holdUntil - Date.now();
        if (wait > 0) {
          this.armHold(wait);
          break;
        }
        dropped++;
      } else {
        link.write(h);
      }
      this.held[this.head++] = undefined;
      this.heldBytes -= h.size;
    }
    // The array freed when it is empty, compacted when most of it is skipped over.
    if (this.head === this.held.length) {
      this.held = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.held.length) {
      this.held = this.held.slice(this.head);
      this.head = 0;
    }
    if (dropped > 0) {
      this.droppedNoInterest += dropped;
      const { upstream } = this.opts.context();
      this.opts.logger.warn({ upstream, dropped, waited_ms: this.opts.interestWaitMs }, 'held messages discarded: the upstream no longer wants their subjects');
    }
    link.flush();
    this.resumeWhenLow();
  }

  /** Some bytes reached the OS: more held messages may go, paused publishers may resume. */
  sent(): void {
    if (this.length > 0) this.drain();
    else this.resumeWhenLow();
  }

  private armHold(ms: number): void {
    if (this.holdTimer !== undefined) return;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.drain();
    }, ms);
    this.holdTimer.unref?.();
  }

  /** Discards every held message (close); returns how many there were and their bytes. */
  discard(): { msgs: number; bytes: number } {
    this.link = undefined;
    clearTimeout(this.holdTimer);
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
      this.opts.logger.info({ ...this.opts.context(), held_bytes: this.heldBytes, buffer_bytes: this.limitBytes }, 'uplink buffer full, pausing publishers');
    }
    this.paused.add(p);
    p.pause();
  }

  /**
   * Publishers go on once the backlog is down to half the buffer (hysteresis: no pause/resume per message): the
   * held bytes, and what the socket has queued while the link is up.
   */
  private resumeWhenLow(): void {
    if (this.paused.size === 0) return;
    const low = this.limitBytes / 2;
    if (this.heldBytes > low || (this.link !== undefined && this.link.pendingBytes() > low)) return;
    this.resumeAll();
  }

  resumeAll(): void {
    if (this.paused.size === 0) return;
    const ps = [...this.paused];
    this.paused.clear();
    this.opts.logger.info({ upstream: this.opts.context().upstream, publishers: ps.length }, 'uplink buffer drained, resuming publishers');
    for (const p of ps) p.resume();
  }
}
