// The leaf side's outage buffer (uplink.ts): messages for the hub buffered, oldest first, while the link is down or
// older ones still wait, each with its own copy of the bytes counted against bufferBytes; their drain into the link
// once it is up, each waiting for the hub's interest in its subject for a while after the link came up; and the
// local publishers paused while it (or the socket behind it) is full, resumed once it is down to half. Writing a
// message to the hub, and when the link is up, are uplink.ts's.
import type { Logger } from '../log.js';
import type { Conn, PublisherHandle } from '../server/broker.js';
import type { LeafMessage } from './peer.js';

/** Buffered messages skipped over before the array is compacted (amortises the splice). */
const COMPACT_AFTER = 4096;

/** A message waiting for the hub, with its own copy of the bytes. */
export interface BufferedMsg extends LeafMessage {
  /** What it counts against bufferBytes. */
  readonly size: number;
}

/** The link buffered messages drain into while it is up: the uplink's. */
export interface OutageLink {
  /** Bytes owed to the hub and not yet handed to the OS. */
  pendingBytes(): number;
  /** Whether the hub's interest, as we know it, covers `subject`. */
  wants(subject: string): boolean;
  /** Writes a buffered message for the hub (or drops it, counted, when over the hub's max_payload). */
  write(h: BufferedMsg): void;
  /** Writes what is queued. */
  flush(): void;
}

export interface OutageBufferOptions {
  /** Buffered bytes at which local publishers are paused (UplinkOptions.bufferBytes). */
  readonly limitBytes: number;
  /** How long after the link is up a buffered message waits for the hub's interest (UplinkOptions.interestWaitMs). */
  readonly interestWaitMs: number;
  readonly logger: Logger;
  /** What the log lines say of the link: its upstream and state now. */
  context(): { upstream: string | undefined; state: string };
}

export class OutageBuffer {
  /** Buffered bytes at which local publishers are paused. */
  readonly limitBytes: number;
  /** Buffered messages discarded because the hub, back, no longer wanted their subject after interestWaitMs. */
  droppedNoInterest = 0;
  // Messages for the hub not yet written, oldest first from head.
  private msgs: (BufferedMsg | undefined)[] = [];
  private head = 0;
  private bufferedBytes = 0;
  private readonly paused = new Set<PublisherHandle>();
  /** The link while it is up. */
  private link: OutageLink | undefined;
  /** Buffered messages wait for the hub's interest until then. */
  private interestWaitUntil = 0;
  private interestTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: OutageBufferOptions) {
    this.limitBytes = opts.limitBytes;
  }

  /** Messages buffered now. */
  get length(): number {
    return this.msgs.length - this.head;
  }

  /** What the buffered messages count against limitBytes. */
  get bytes(): number {
    return this.bufferedBytes;
  }

  /** Local publishers paused now. */
  get pausedPublishers(): number {
    return this.paused.size;
  }

  /**
   * Buffers `m` behind the older ones, in order; pauses `from` once the buffer is full. A copy, so the publisher's
   * read buffer is not kept alive by a slice and bufferBytes counts what is really kept; `owned`: `m.msg` is already
   * one (a stamped message built for this, auth-stamp.ts) and is kept as it is.
   */
  add(m: LeafMessage, from: Conn, owned = false): void {
    const size = m.msg.length + m.subject.length + (m.reply?.length ?? 0);
    this.msgs.push({
      subject: m.subject,
      reply: m.reply,
      queues: m.queues,
      hdrLen: m.hdrLen,
      msg: owned ? m.msg : Buffer.from(m.msg),
      size,
    });
    this.bufferedBytes += size;
    if (this.bufferedBytes >= this.limitBytes) this.pause(from);
  }

  /** The link is up: buffered messages go to it, each waiting for the hub's interest until interestWaitMs from now. */
  up(link: OutageLink): void {
    this.link = link;
    this.interestWaitUntil = Date.now() + this.opts.interestWaitMs;
    this.drain();
  }

  /** The link is down: messages are buffered until it is back. */
  down(): void {
    this.link = undefined;
  }

  /**
   * Writes buffered messages, oldest first, while the socket takes them. A message whose subject the hub does not
   * want (yet) stops the queue until the hub announces it or interestWaitMs after the link came up; then it is
   * discarded, as the hub would.
   */
  drain(): void {
    const link = this.link;
    if (link === undefined) return;
    let dropped = 0;
    while (this.head < this.msgs.length) {
      if (link.pendingBytes() >= this.limitBytes) break; // sent() resumes
      const h = this.msgs[this.head]!;
      if (!link.wants(h.subject)) {
        const wait = this.interestWaitUntil - Date.now();
        if (wait > 0) {
          this.armInterestWait(wait);
          break;
        }
        dropped++;
      } else {
        link.write(h);
      }
      this.msgs[this.head++] = undefined;
      this.bufferedBytes -= h.size;
    }
    // The array freed when it is empty, compacted when most of it is skipped over.
    if (this.head === this.msgs.length) {
      this.msgs = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.msgs.length) {
      this.msgs = this.msgs.slice(this.head);
      this.head = 0;
    }
    if (dropped > 0) {
      this.droppedNoInterest += dropped;
      const { upstream } = this.opts.context();
      this.opts.logger.warn(
        { upstream, dropped, waited_ms: this.opts.interestWaitMs },
        'held messages discarded: the upstream no longer wants their subjects',
      );
    }
    link.flush();
    this.resumeWhenLow();
  }

  /** Some bytes reached the OS: more buffered messages may go, paused publishers may resume. */
  sent(): void {
    if (this.length > 0) this.drain();
    else this.resumeWhenLow();
  }

  private armInterestWait(ms: number): void {
    if (this.interestTimer !== undefined) return;
    this.interestTimer = setTimeout(() => {
      this.interestTimer = undefined;
      this.drain();
    }, ms);
    this.interestTimer.unref?.();
  }

  /** Discards every buffered message (close); returns how many there were and their bytes. */
  discard(): { msgs: number; bytes: number } {
    this.link = undefined;
    clearTimeout(this.interestTimer);
    const dropped = { msgs: this.length, bytes: this.bufferedBytes };
    this.msgs = [];
    this.head = 0;
    this.bufferedBytes = 0;
    return dropped;
  }

  /** Pauses `from`'s publisher: the buffer, or the socket behind it, is full. */
  pause(from: Conn): void {
    const p = from.publisher;
    if (this.paused.has(p)) return;
    if (this.paused.size === 0) {
      this.opts.logger.info(
        { ...this.opts.context(), held_bytes: this.bufferedBytes, buffer_bytes: this.limitBytes },
        'uplink buffer full, pausing publishers',
      );
    }
    this.paused.add(p);
    p.pause();
  }

  /**
   * Publishers go on once the backlog is down to half the buffer (hysteresis: no pause/resume per message): the
   * buffered bytes, and what the socket has queued while the link is up.
   */
  private resumeWhenLow(): void {
    if (this.paused.size === 0) return;
    const low = this.limitBytes / 2;
    if (this.bufferedBytes > low || (this.link !== undefined && this.link.pendingBytes() > low)) return;
    this.resumeAll();
  }

  resumeAll(): void {
    if (this.paused.size === 0) return;
    const ps = [...this.paused];
    this.paused.clear();
    this.opts.logger.info(
      { upstream: this.opts.context().upstream, publishers: ps.length },
      'uplink buffer drained, resuming publishers',
    );
    for (const p of ps) p.resume();
  }
}
