// The last PUB line a parser read in one pass (fast-pub.ts), kept to recognise the next one: a publisher mostly
// repeats its line (`PUB <subject> <size>\r\n`, the same subject and often the same size), and comparing it as 32-bit
// words through a DataView of the read chunk costs a handful of loads where scanning it byte by byte and then
// comparing the subject with the last one read every byte twice (publish-only bench: the scan and the subject
// compare were ~45 % of the service's parse time). A line that matches whole needs nothing more: its subject, reply
// and size are the kept ones. One that matches up to its subject's end (another size, another reply) is scanned from
// there. Only a line the scan vouched for is kept, so the same bytes again need no check but the limits', which a
// reload may have lowered since.

/**
 * The longest line kept (a subject and reply of ~110 bytes together): longer lines are scanned every time, as before.
 * Kept small, and allocated at a connection's first PUB, since every client connection has a parser.
 */
const LINE_MAX = 128;

/** What PubLine.match found: the whole kept line, its head only (op word, space, subject, space), or neither. */
export const enum PubLineMatch {
  None = 0,
  Head = 1,
  Whole = 2,
}

export class PubLine {
  /**
   * The line as little-endian 32-bit words: at byte 0, 4, 8... while a whole word fits, then one more ending at the
   * line's last byte (overlapping the one before), so any line of 4 bytes or more is compared word by word.
   */
  private words: Int32Array | undefined;
  /** Bytes of the kept line through its LF; 0: none kept. */
  length = 0;
  /** Bytes of its op word, space, subject and space. */
  headLength = 0;
  subject = '';
  reply: string | undefined = undefined;
  size = 0;

  /** Keeps `view`'s bytes [pos, end) (a line fastPub read, of 9 bytes at least) with what it was read as. */
  set(
    view: DataView,
    pos: number,
    end: number,
    headLength: number,
    subject: string,
    reply: string | undefined,
    size: number,
  ): void {
    const n = end - pos;
    if (n > LINE_MAX) {
      this.length = 0;
      return;
    }
    const w = (this.words ??= new Int32Array((LINE_MAX >> 2) + 1));
    let j = 0;
    for (let k = 0; k + 4 <= n; k += 4) w[j++] = view.getInt32(pos + k, true);
    w[j] = view.getInt32(end - 4, true);
    this.length = n;
    this.headLength = headLength;
    this.subject = subject;
    this.reply = reply;
    this.size = size;
  }

  /** Forgets the kept line. */
  clear(): void {
    this.length = 0;
  }

  /**
   * Whether `buf[pos, len)` (`view` is a DataView of all of `buf`) starts with the kept line, whole (within the
   * limits in force: `maxArgs` bytes of arguments, `maxPayload`), or with its head. Nothing is read at or past `len`.
   */
  match(view: DataView, buf: Buffer, pos: number, len: number, maxArgs: number, maxPayload: number): PubLineMatch {
    const n = this.length;
    if (n === 0) return PubLineMatch.None;
    const w = this.words!;
    const head = this.headLength;
    // The whole line when it fits, else only as far as the head (for a line cut by the read's end).
    const stop = pos + n <= len ? n : pos + head < len ? head : 0;
    if (stop === 0) return PubLineMatch.None;
    let k = 0;
    let j = 0;
    while (k + 4 <= stop && view.getInt32(pos + k, true) === w[j]) {
      k += 4;
      j++;
    }
    if (k + 4 > stop && stop === n && view.getInt32(pos + n - 4, true) === w[j]) {
      // Arguments are what lies between `PUB ` and CRLF.
      if (n - 6 <= maxArgs && this.size <= maxPayload) return PubLineMatch.Whole;
      return PubLineMatch.None;
    }
    // Bytes [0, k) are the line's; the head may end inside word j (its bytes are taken from the kept word).
    if (k >= head) return PubLineMatch.Head;
    if (k + 4 <= head) return PubLineMatch.None;
    const word = w[j]!;
    for (let b = 0; k + b < head; b++) if (buf[pos + k + b] !== ((word >>> (b << 3)) & 0xff)) return PubLineMatch.None;
    return PubLineMatch.Head;
  }
}
