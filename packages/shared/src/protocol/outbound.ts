// Collects what one connection is sent during an event-loop turn into few large buffers, so a burst of small
// messages becomes one socket write instead of thousands. Large payloads are passed by reference, never copied.
// Memory follows traffic: an idle connection holds no buffer at all.

/** Payloads at least this large are queued as their own chunk rather than copied into the batch buffer. */
const BY_REFERENCE_BYTES = 16 * 1024;
const MIN_BUFFER_BYTES = 4 * 1024;
const MAX_BUFFER_BYTES = 1024 * 1024;

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

  /** Hands over everything queued, in order, and resets. */
  take(): Buffer[] {
    this.seal();
    const out = this.chunks;
    this.chunks = [];
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
