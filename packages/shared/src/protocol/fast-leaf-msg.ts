// The one-pass reader of the line a leafnode link carries most: `LMSG <subject> [reply] <size>\r\n` and its header
// form `HMSG <subject> [reply] <hdr size> <size>\r\n`, whole in the read chunk, single spaces, printable ASCII, no
// queue groups. fast-pub.ts's counterpart for the leaf role: the general path (parser.ts dispatchLine, leafMsg) looks
// for the LF natively, reads the op word, splits the arguments and parses the sizes, which was ~a fifth of the event
// service's time in the gateway bench. It vouches only for lines it fully understands; anything else (a queue
// marker `+` or `|`, a tab, two spaces, a byte outside 0x21-0x7e, a bare LF, a size that is not 1-9 digits, over
// max_payload or under the header size, a line longer than max_control_line, a line cut by the chunk's end) is left
// to the general path, which answers it as it always did. The fast-leaf-msg test holds the two paths to the same
// operations.

const SPACE = 0x20;
const CR = 13;
const LF = 10;
/** Bytes 0x21..0x7e: what an argument may hold here (the general path takes the rest). */
const PRINTABLE_MAX = 0x7e;
/** nats-server parseSize: at most 9 digits. */
const SIZE_DIGITS_MAX = 9;
/** The general path reads a one-byte second argument `+` or `|` as the queue-group marker. */
const PLUS = 0x2b;
const PIPE = 0x7c;

/**
 * Where scanLeafMsg found the arguments: subject start and end, reply start and end (-1 without one), the header
 * size (0 for LMSG), the total size. Shared by every parser: read right after the scan that wrote it (one thread).
 */
export const leafMsgArgs = new Int32Array(6);
export const LM_SUBJECT_START = 0;
export const LM_SUBJECT_END = 1;
export const LM_REPLY_START = 2;
export const LM_REPLY_END = 3;
export const LM_HDR = 4;
export const LM_SIZE = 5;

/** Argument boundaries of the line being scanned (at most 4: subject, reply, header size, size). */
const starts = new Int32Array(4);
const ends = new Int32Array(4);

/** The decimal in `buf[s, e)`: -1 unless 1-9 digits. */
function size(buf: Buffer, s: number, e: number): number {
  if (e - s > SIZE_DIGITS_MAX) return -1;
  let v = 0;
  for (let k = s; k < e; k++) {
    const d = buf[k]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * Reads an LMSG or HMSG line (op word in any case) at `buf[pos]`, within `buf[pos, len)`; returns the position after
 * its LF with leafMsgArgs filled, or -1 when the general path must read this line instead. `maxArgs` is
 * max_control_line (it bounds the arguments, as in the general path), `maxPayload` the size a message may have.
 */
export function scanLeafMsg(buf: Buffer, pos: number, len: number, maxArgs: number, maxPayload: number): number {
  if (pos + 5 > len || buf[pos + 4] !== SPACE) return -1;
  const c0 = buf[pos]! | 0x20;
  const headers = c0 === 0x68; /* h */
  if (
    (!headers && c0 !== 0x6c) /* l */ ||
    (buf[pos + 1]! | 0x20) !== 0x6d /* m */ ||
    (buf[pos + 2]! | 0x20) !== 0x73 /* s */ ||
    (buf[pos + 3]! | 0x20) !== 0x67 /* g */
  )
    return -1;
  const argsStart = pos + 5;
  // The CR may sit at argsStart + maxArgs at the latest (arguments of exactly max_control_line bytes).
  const limit = Math.min(len, argsStart + maxArgs + 1);
  const most = headers ? 4 : 3;
  let i = argsStart;
  let n = 0;
  for (;;) {
    const s = i;
    while (i < limit) {
      const c = buf[i]!;
      if (c <= SPACE || c > PRINTABLE_MAX) break;
      i++;
    }
    if (i === s || i >= limit) return -1;
    starts[n] = s;
    ends[n] = i;
    n++;
    const c = buf[i];
    if (c === SPACE) {
      if (n === most) return -1;
      i++;
      continue;
    }
    if (c !== CR || i + 1 >= len || buf[i + 1] !== LF) return -1;
    break;
  }
  const sizes = headers ? 2 : 1;
  if (n < sizes + 1) return -1;
  const total = size(buf, starts[n - 1]!, ends[n - 1]!);
  if (total < 0 || total > maxPayload) return -1;
  let hdr = 0;
  if (headers) {
    hdr = size(buf, starts[n - 2]!, ends[n - 2]!);
    if (hdr < 0 || hdr > total) return -1;
  }
  const out = leafMsgArgs;
  out[LM_SUBJECT_START] = starts[0]!;
  out[LM_SUBJECT_END] = ends[0]!;
  if (n === sizes + 2) {
    const r = starts[1]!;
    // `+` or `|` alone is a queue marker to the general path, which reads the queue forms.
    if (ends[1]! - r === 1 && (buf[r] === PLUS || buf[r] === PIPE)) return -1;
    out[LM_REPLY_START] = r;
    out[LM_REPLY_END] = ends[1]!;
  } else out[LM_REPLY_START] = -1;
  out[LM_HDR] = hdr;
  out[LM_SIZE] = total;
  return i + 2;
}
