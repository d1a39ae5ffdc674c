// Collects what one connection is sent during an event-loop turn into few large buffers, so a burst of small
// messages becomes one socket write instead of thousands. Large payloads are passed by reference, never copied.
// Memory follows traffic: an idle connection keeps no buffer at all.

/** Payloads at least this large are queued as their own chunk rather than copied into the batch buffer. */
const BY_REFERENCE_BYTES = 16 * 1024;
/** Below Buffer.poolSize / 2: a small turn's buffer is a slice of Node's shared pool, not an allocation of its own. */
const MIN_BUFFER_BYTES = 1024;
/** A turn that queued less than this leaves no buffer behind (take()). */
const KEEP_REST_AFTER_BYTES = 4 * 1024;
const MAX_BUFFER_BYTES = 1024 * 1024;
/** Below this a byte loop beats TypedArray#set's call overhead. */
const SMALL_COPY_BYTES = 64;
/**
 * Queued bytes past which a connection writes at once instead of at the end of the turn: a publisher that never
 * yields (an in-process loop) must not make it batch without bound. Clients and both leafnode ends use it.
 */
export const EAGER_FLUSH_BYTES = 256 * 1024;

export class Outbound {
  private chunks: Buffer[] = [];
  private cur: Buffer | undefined;
  private curLen = 0;
  /** Bytes queued here and not yet taken. */
  private queued = 0;
  /** Size of the next buffer: follows the previous turn's volume, so steady streams allocate rarely. */
  private sizeHint = MIN_BUFFER_BYTES;

  get bytes(): number {
    return this.queued;
  }

  /** Buffer capacity kept between turns once everything was taken: 0 after a small turn (take()). */
  get retainedBytes(): number {
    return this.cur === undefined ? 0 : this.cur.length;
  }

  writeString(s: string): void {
    // A UTF-8 string takes at most 3 bytes per UTF-16 unit: reserve that, write, then count what was written.
    this.reserve(s.length * 3);
    const n = this.cur!.write(s, this.curLen, 'utf8');
    this.curLen += n;
    this.queued += n;
  }

  writeBytes(b: Uint8Array): void {
    const n = b.byteLength;
    if (n >= BY_REFERENCE_BYTES) {
      this.seal();
      this.chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, n));
      this.queued += n;
      return;
    }
    this.reserve(n);
    this.cur!.set(b, this.curLen);
    this.curLen += n;
    this.queued += n;
  }

  /**
   * One message as `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n`, or the HMSG form when `hdrLen` > 0,
   * written in a single reservation with no intermediate string (a 16-byte delivery micro-bench: 149 → 77 ns).
   */
  writeMsg(subject: string, sid: string, reply: string | undefined, hdrLen: number, msg: Buffer): void {
    this.writeMsgAt(subject, sid, reply, hdrLen, msg, 0, msg.length);
  }

  /** writeMsg for the message `buf[start, end)`: no slice of it is made unless it goes by reference. */
  writeMsgAt(
    subject: string,
    sid: string,
    reply: string | undefined,
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
  ): void {
    const size = end - start;
    const inline = size < BY_REFERENCE_BYTES;
    const replyLen = reply === undefined ? 0 : reply.length;
    // 3 bytes per UTF-16 unit is the UTF-8 worst case; 44 covers op, spaces, two sizes and both CRLFs.
    this.reserve((subject.length + sid.length + replyLen) * 3 + 44 + (inline ? size : 0));
    const out = this.cur!;
    let p = this.curLen;
    if (hdrLen > 0) {
      out[p++] = 0x48; // H
    }
    out[p++] = 0x4d; // M
    out[p++] = 0x53; // S
    out[p++] = 0x47; // G
    out[p++] = 0x20;
    p = writeText(out, p, subject);
    out[p++] = 0x20;
    p = writeText(out, p, sid);
    out[p++] = 0x20;
    if (replyLen > 0) {
      p = writeText(out, p, reply!);
      out[p++] = 0x20;
    }
    this.endMsg(out, p, hdrLen, buf, start, end, inline);
  }

  /**
   * One message for a leafnode peer, the bytes encoder.ts leafMsgLine gives, then the payload: `LMSG <subject>
   * [reply] <size>`, with queue groups `LMSG <subject> + <reply> <queues...> <size>` or `LMSG <subject> | <queues...>
   * <size>`, and with headers `HMSG` (no sid) and the header size before the size. No intermediate string: building
   * the line as one took 14-21 % of the gateway's profile in the gateway bench.
   */
  writeLeafMsg(
    subject: string,
    reply: string | undefined,
    queues: readonly string[],
    hdrLen: number,
    msg: Buffer,
  ): void {
    const inline = msg.length < BY_REFERENCE_BYTES;
    const p = this.leafLine(subject, reply, queues, hdrLen, inline ? msg.length : 0);
    this.endMsg(this.cur!, p, hdrLen, msg, 0, msg.length, inline);
  }

  /**
   * writeLeafMsg for `msg` with its bytes `[at, at + removed)` replaced by `insert`, inside its header block (the
   * block's size changes by as much): what a leaf adds to a message on its way, a header, without copying the message
   * first. Small messages are written in one reservation; large ones keep their payload by reference.
   */
  writeSplicedLeafMsg(
    subject: string,
    reply: string | undefined,
    queues: readonly string[],
    hdrLen: number,
    msg: Buffer,
    at: number,
    removed: number,
    insert: Buffer,
  ): void {
    this.writeSplicedLeafMsgAt(subject, reply, queues, hdrLen, msg, 0, msg.length, at, removed, insert);
  }

  /**
   * writeSplicedLeafMsg for the message `buf[start, end)` (`at` counted from `start`): no slice of it is made
   * unless it goes by reference.
   */
  writeSplicedLeafMsgAt(
    subject: string,
    reply: string | undefined,
    queues: readonly string[],
    hdrLen: number,
    msg: Buffer,
    start: number,
    end: number,
    at: number,
    removed: number,
    insert: Buffer,
  ): void {
    const size = end - start - removed + insert.length;
    const outHdr = hdrLen - removed + insert.length;
    const inline = size < BY_REFERENCE_BYTES;
    // leafLine may start a new buffer: `cur` is read after it.
    const line = this.leafLine(subject, reply, queues, outHdr, inline ? size : 0);
    const buf = this.cur!;
    let p = writeSizes(buf, line, outHdr, size);
    if (inline) {
      p = copyInto(buf, p, msg, start, start + at);
      // A whole buffer: TypedArray#set took ~35 ns more than writeLeafMsg for a 16-byte message with a 69-byte
      // stamp, Buffer#copy ~55 ns, a byte loop ~90 ns (a micro-bench of the gateway's path).
      buf.set(insert, p);
      p += insert.length;
      p = copyInto(buf, p, msg, start + at + removed, end);
      buf[p++] = 0x0d;
      buf[p++] = 0x0a;
      this.queued += p - this.curLen;
      this.curLen = p;
      return;
    }
    this.queued += p - this.curLen;
    this.curLen = p;
    this.writeBytes(msg.subarray(start, start + at));
    this.writeBytes(insert);
    this.writeBytes(msg.subarray(start + at + removed, end));
    this.reserve(2);
    this.cur![this.curLen++] = 0x0d;
    this.cur![this.curLen++] = 0x0a;
    this.queued += 2;
  }

  /**
   * Reserves room for a leaf message line and `inlineBytes` of payload, and writes the line up to the space before
   * its sizes: `LMSG <subject> [reply] `, with queue groups `LMSG <subject> + <reply> <queues...> ` or `LMSG
   * <subject> | <queues...> `, `HMSG` when `hdrLen` > 0. Returns where the sizes go in the current buffer.
   */
  private leafLine(
    subject: string,
    reply: string | undefined,
    queues: readonly string[],
    hdrLen: number,
    inlineBytes: number,
  ): number {
    const replyLen = reply === undefined ? 0 : reply.length;
    let queuesLen = 0;
    for (const q of queues) queuesLen += q.length + 1;
    // 3 bytes per UTF-16 unit is the UTF-8 worst case; 48 covers op, markers, spaces, two sizes and both CRLFs.
    this.reserve((subject.length + replyLen + queuesLen) * 3 + 48 + inlineBytes);
    const buf = this.cur!;
    let p = this.curLen;
    buf[p++] = hdrLen > 0 ? 0x48 /* H */ : 0x4c; /* L */
    buf[p++] = 0x4d; // M
    buf[p++] = 0x53; // S
    buf[p++] = 0x47; // G
    buf[p++] = 0x20;
    p = writeText(buf, p, subject);
    if (queues.length > 0) {
      buf[p++] = 0x20;
      if (replyLen > 0) {
        buf[p++] = 0x2b; // +
        buf[p++] = 0x20;
        p = writeText(buf, p, reply!);
      } else buf[p++] = 0x7c; // |
      for (const q of queues) {
        buf[p++] = 0x20;
        p = writeText(buf, p, q);
      }
    } else if (replyLen > 0) {
      buf[p++] = 0x20;
      p = writeText(buf, p, reply!);
    }
    buf[p++] = 0x20;
    return p;
  }

  /**
   * Ends a message line at `p` in the current buffer: `[<hdr size> ]<size>` and CRLF, then the payload (inline or
   * by reference) and CRLF.
   */
  private endMsg(
    buf: Buffer,
    p: number,
    hdrLen: number,
    msg: Buffer,
    start: number,
    end: number,
    inline: boolean,
  ): void {
    const size = end - start;
    p = writeSizes(buf, p, hdrLen, size);
    if (inline) {
      copyInto(buf, p, msg, start, end);
      p += size;
      buf[p++] = 0x0d;
      buf[p++] = 0x0a;
      this.queued += p - this.curLen;
      this.curLen = p;
      return;
    }
    this.queued += p - this.curLen;
    this.curLen = p;
    this.writeBytes(start === 0 && end === msg.length ? msg : msg.subarray(start, end));
    this.reserve(2);
    this.cur![this.curLen++] = 0x0d;
    this.cur![this.curLen++] = 0x0a;
    this.queued += 2;
  }

  /**
   * Hands over everything queued, in order, and resets. The rest of the current buffer is kept for the next turn only
   * after a busy one: after a small turn (a PONG, one reply) it goes, so an idle connection keeps no buffer (1,000 idle
   * connections each kept the rest of a 4 KiB one), and the next small turn takes a slice of Node's shared pool.
   */
  take(): Buffer[] {
    this.seal();
    const out = this.chunks;
    this.chunks = [];
    if (this.queued < KEEP_REST_AFTER_BYTES) this.cur = undefined;
    this.sizeHint = Math.min(MAX_BUFFER_BYTES, Math.max(MIN_BUFFER_BYTES, this.queued));
    this.queued = 0;
    return out;
  }

  /** Drops everything queued (the connection is gone). */
  clear(): void {
    this.chunks = [];
    this.cur = undefined;
    this.curLen = 0;
    this.queued = 0;
  }

  private reserve(n: number): void {
    if (this.cur !== undefined && this.cur.length - this.curLen >= n) return;
    this.seal();
    this.cur = Buffer.allocUnsafe(Math.max(n, this.sizeHint));
    this.curLen = 0;
  }

  private seal(): void {
    if (this.cur !== undefined && this.curLen > 0) {
      this.chunks.push(this.cur.subarray(0, this.curLen));
      // Keep the rest of the buffer for further writes in this turn.
      this.cur = this.cur.subarray(this.curLen);
      this.curLen = 0;
    }
  }
}

/** Writes a string's UTF-8 bytes at `p`; ASCII (every subject in practice) byte by byte, else natively. */
function writeText(buf: Buffer, p: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return p + buf.write(s, p, 'utf8');
    buf[p + i] = c;
  }
  return p + n;
}

/** Copies `src[start, end)` to `buf` at `p`; returns the end. */
function copyInto(buf: Buffer, p: number, src: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n <= SMALL_COPY_BYTES) for (let i = 0; i < n; i++) buf[p + i] = src[start + i]!;
  // Buffer#copy of a range makes a view and calls TypedArray#set with more checks on the way.
  else buf.set(start === 0 && end === src.length ? src : src.subarray(start, end), p);
  return p + n;
}

function writeDecimal(buf: Buffer, p: number, n: number): number {
  if (n < 10) {
    buf[p] = 0x30 + n;
    return p + 1;
  }
  let digits = 0;
  for (let v = n; v > 0; v = Math.floor(v / 10)) digits++;
  for (let i = p + digits - 1, v = n; i >= p; i--, v = Math.floor(v / 10)) buf[i] = 0x30 + (v % 10);
  return p + digits;
}

/** `[<hdr size> ]<size>` and CRLF at `p`, the end of a message line; returns the position after it. */
function writeSizes(buf: Buffer, p: number, hdrLen: number, size: number): number {
  if (hdrLen > 0) {
    p = writeDecimal(buf, p, hdrLen);
    buf[p++] = 0x20;
  }
  p = writeDecimal(buf, p, size);
  buf[p++] = 0x0d;
  buf[p++] = 0x0a;
  return p;
}
