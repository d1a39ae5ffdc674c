// The one-pass reader of the line a publisher sends most: `PUB <subject> [reply] <size>\r\n`, whole in the read
// chunk, single spaces, printable ASCII. It finds the line's end, its arguments and its size in one walk over the
// bytes, where the general path (parser.ts dispatchLine) looks for the LF natively, reads the op word, splits the
// arguments and then parses the size: three passes and a native call per line, ~a third of the publish-only bench's
// profile. It only vouches for lines it fully understands; anything else (a tab, two spaces, a byte outside
// 0x21-0x7e, a bare LF, a size that is not 1-9 digits or is over max_payload, a line longer than max_control_line,
// a line cut by the chunk's end) is left to the general path, which answers it as it always did. The parser-fuzz
// and fast-pub tests hold the two paths to the same operations.

const SPACE = 0x20;
const CR = 13;
const LF = 10;
/** Bytes 0x21..0x7e: what an argument may hold here (the general path takes the rest). */
const PRINTABLE_MAX = 0x7e;
/** nats-server parseSize: at most 9 digits. */
const SIZE_DIGITS_MAX = 9;

/**
 * Where scanPub found the arguments: subject start and end, reply start and end (-1 without one), the size. Shared
 * by every parser: it is read right after the scan that wrote it, with nothing in between (one thread, no re-entry).
 */
export const pubArgs = new Int32Array(5);
export const SUBJECT_START = 0;
export const SUBJECT_END = 1;
export const REPLY_START = 2;
export const REPLY_END = 3;
export const SIZE = 4;

/**
 * Reads `PUB <subject> [reply] <size>\r\n` (op word in any case) at `buf[pos]`, within `buf[pos, len)`; returns the
 * position after its LF with pubArgs filled, or -1 when the general path must read this line instead. `maxArgs` is
 * max_control_line (it bounds the arguments, as in the general path), `maxPayload` the size a message may have.
 * `headLength` > 0: the caller knows the line starts with a head it read before (pub-line.ts: op word, space,
 * subject, space, that many bytes), so the scan starts after it; pubArgs' subject is then the head's.
 */
export function scanPub(
  buf: Buffer,
  pos: number,
  len: number,
  maxArgs: number,
  maxPayload: number,
  headLength = 0,
): number {
  const argsStart = pos + 4;
  // The CR may sit at argsStart + maxArgs at the latest (arguments of exactly max_control_line bytes).
  const limit = Math.min(len, argsStart + maxArgs + 1);
  const out = pubArgs;
  let i = argsStart;
  let n = 0;
  let lastStart: number;
  if (headLength > 0) {
    // The subject and the space after it are the head's; the loop below refuses a head at or past the limit.
    out[SUBJECT_START] = argsStart;
    out[SUBJECT_END] = pos + headLength - 1;
    i = pos + headLength;
    n = 1;
  } else if (
    pos + 4 > len ||
    (buf[pos]! | 0x20) !== 0x70 /* p */ ||
    (buf[pos + 1]! | 0x20) !== 0x75 /* u */ ||
    (buf[pos + 2]! | 0x20) !== 0x62 /* b */ ||
    buf[pos + 3] !== SPACE
  )
    return -1;
  for (;;) {
    const s = i;
    while (i < limit) {
      const c = buf[i]!;
      if (c <= SPACE || c > PRINTABLE_MAX) break;
      i++;
    }
    if (i === s || i >= limit) return -1;
    if (n === 0) {
      out[SUBJECT_START] = s;
      out[SUBJECT_END] = i;
    } else if (n === 1) {
      out[REPLY_START] = s;
      out[REPLY_END] = i;
    }
    lastStart = s;
    n++;
    const c = buf[i];
    if (c === SPACE) {
      if (n === 3) return -1;
      i++;
      continue;
    }
    if (c !== CR || i + 1 >= len || buf[i + 1] !== LF) return -1;
    break;
  }
  if (n < 2) return -1;
  if (i - lastStart > SIZE_DIGITS_MAX) return -1;
  let size = 0;
  for (let k = lastStart; k < i; k++) {
    const d = buf[k]! - 48;
    if (d < 0 || d > 9) return -1;
    size = size * 10 + d;
  }
  if (size > maxPayload) return -1;
  if (n === 2) out[REPLY_START] = -1;
  out[SIZE] = size;
  return i + 2;
}
