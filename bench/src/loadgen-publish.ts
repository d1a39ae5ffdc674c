// What the node generator's publishers send: prebuilt PUB frames in chunks of ~256 KiB, written as the socket
// drains, to one subject (publish) or cycling through many (FrameCycle).
import { now } from './loadgen-measure.js';
import type { RawConn } from './loadgen-conn.js';

const CHUNK_BYTES = 256 * 1024;

export function payload(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = 97 + (i % 26);
  return b;
}

/** `count` PUB frames in chunks of ~256 KiB, written as the socket drains; stops early at the deadline. */
export async function publish(
  c: RawConn,
  subject: string,
  size: number,
  count: number,
  deadline: bigint,
): Promise<number> {
  const frame = Buffer.concat([Buffer.from(`PUB ${subject} ${size}\r\n`), payload(size), Buffer.from('\r\n')]);
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / frame.length));
  const chunk = Buffer.concat(Array.from({ length: perChunk }, () => frame));
  let sent = 0;
  while (sent < count && now() < deadline) {
    const n = Math.min(perChunk, count - sent);
    await c.write(n === perChunk ? chunk : chunk.subarray(0, n * frame.length));
    sent += n;
    if (c.error) throw new Error(c.error);
  }
  return sent;
}

/** Frames to different subjects back to back, sent in order and round again, ~256 KiB per write. */
export class FrameCycle {
  private readonly buf: Buffer;
  private readonly off: number[] = [];
  private readonly perChunk: number;
  private pos = 0;

  constructor(frames: Buffer[]) {
    let at = 0;
    let max = 1;
    for (const f of frames) {
      this.off.push(at);
      at += f.length;
      max = Math.max(max, f.length);
    }
    this.off.push(at);
    this.buf = Buffer.concat(frames);
    this.perChunk = Math.max(1, Math.floor(CHUNK_BYTES / max));
  }

  async send(c: RawConn, count: number, deadline: bigint): Promise<number> {
    const n = this.off.length - 1;
    let sent = 0;
    while (sent < count && now() < deadline) {
      const k = Math.min(this.perChunk, count - sent, n - this.pos);
      await c.write(this.buf.subarray(this.off[this.pos]!, this.off[this.pos + k]!));
      sent += k;
      this.pos = (this.pos + k) % n;
      if (c.error) throw new Error(c.error);
    }
    return sent;
  }
}
