// Turns a NATS byte stream into protocol operations for a handler. It knows no sockets: bytes in, calls out, so
// TCP, TLS, WebSocket and leafnode links share it. Any split of the stream across reads yields the same calls.
// Control lines are found with Buffer#indexOf (native), payloads are handed out as zero-copy slices of the read
// chunk when they arrive whole, and copied once when split (learned from nats.js core/src/parser.ts and
// nats-server server/parser.go; written anew).
import { Errors, type ProtocolError } from './errors.js';

/** Operations a peer may send. Which are accepted depends on the parser's role. */
export type Op =
  | 'CONNECT' | 'PUB' | 'HPUB' | 'SUB' | 'UNSUB' | 'PING' | 'PONG'
  | 'INFO' | 'MSG' | 'HMSG' | '+OK' | '-ERR'
  | 'LS+' | 'LS-' | 'LMSG';

/** client: what a server accepts from a client. server: what a client accepts from a server. leaf: a leafnode link. */
export type ParserRole = 'client' | 'server' | 'leaf';

const ROLE_OPS: Record<ParserRole, readonly Op[]> = {
  // +OK, INFO and -ERR from a client: nats-server ignores the first two and closes on the third.
  client: ['CONNECT', 'PUB', 'HPUB', 'SUB', 'UNSUB', 'PING', 'PONG', '+OK', 'INFO', '-ERR'],
  server: ['INFO', 'MSG', 'HMSG', 'PING', 'PONG', '+OK', '-ERR'],
  // HMSG on a leaf link is the header form of LMSG (no sid): nats-server leafnode.go processLeafHeaderMsgArgs.
  leaf: ['INFO', 'CONNECT', 'LS+', 'LS-', 'LMSG', 'HMSG', 'PING', 'PONG', '+OK', '-ERR'],
};

/**
 * Receives parsed operations. `msg` buffers hold the header block (first `hdrLen` bytes, 0 when there are none)
 * followed by the payload; they may be slices of the read chunk and stay valid after the call.
 */
export interface ProtocolHandler {
  onConnect?(json: string): void;
  onInfo?(json: string): void;
  onPub?(subject: string, reply: string | undefined, hdrLen: number, msg: Buffer): void;
  /**
   * PUB/HPUB as a range: `buf[start, end)` holds the header block and payload (`buf` stays valid after the call).
   * When given, the parser calls it instead of onPub, so a handler that needs no bytes (nobody subscribed) makes no
   * slice of the read chunk.
   */
  onPubAt?(subject: string, reply: string | undefined, hdrLen: number, buf: Buffer, start: number, end: number): void;
  onSub?(subject: string, queue: string | undefined, sid: string): void;
  onUnsub?(sid: string, max: number | undefined): void;
  onMsg?(subject: string, sid: string, reply: string | undefined, hdrLen: number, msg: Buffer): void;
  onLeafSub?(subject: string, queue: string | undefined, weight: number): void;
  onLeafUnsub?(subject: string, queue: string | undefined): void;
  /** LMSG: `queues` lists the queue groups the message is for (empty for plain subscribers). */
  onLeafMsg?(subject: string, reply: string | undefined, queues: readonly string[], hdrLen: number, msg: Buffer): void;
  onPing(): void;
  onPong(): void;
  onOk?(): void;
  onErr?(text: string): void;
  /** The stream is unusable from here on; the parser ignores further input. */
  onProtocolError(err: ProtocolError, detail: string): void;
}

export interface ParserLimits {
  /** Longest control line, counting the arguments (nats-server's max_control_line). */
  maxControlLine: number;
  /** Largest message a PUB/HPUB may declare (bytes, headers included). */
  maxPayload: number;
}

const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;
const MAX_ARGS = 16;

/** Which op announced the payload being read. */
const enum PayloadOp {
  Pub,
  Msg,
  LeafMsg,
}

export class Parser {
  private readonly ops: ReadonlySet<Op>;
  private readonly opNames: readonly string[];
  /** Bytes of a control line that has not ended yet. */
  private partial: Buffer[] = [];
  private partialLength = 0;
  /** A payload split across reads: the bytes so far (payload + CRLF), or undefined. */
  private split: Buffer | undefined;
  private splitFilled = 0;
  // The op whose payload comes next; fields instead of a closure so a message costs no allocation here.
  private payOp = PayloadOp.Pub;
  private paySubject = '';
  private payReply: string | undefined;
  private paySid = '';
  private payHdr = 0;
  private payQueues: readonly string[] = NO_QUEUES;
  private failed = false;
  // Argument boundaries of the current control line, reused to avoid allocation per line.
  private readonly argStart = new Int32Array(MAX_ARGS);
  private readonly argEnd = new Int32Array(MAX_ARGS);

  constructor(
    private readonly handler: ProtocolHandler,
    private readonly role: ParserRole,
    public limits: ParserLimits,
  ) {
    this.ops = new Set(ROLE_OPS[role]);
    this.opNames = ROLE_OPS[role];
  }

  /** Feeds one chunk of the stream. */
  parse(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len && !this.failed) {
      if (this.split !== undefined) {
        pos = this.fillPayload(chunk, pos);
        continue;
      }
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) {
        this.holdPartialLine(chunk, pos);
        return;
      }
      let line: Buffer;
      let start: number;
      if (this.partialLength > 0) {
        this.partial.push(chunk.subarray(pos, nl));
        line = Buffer.concat(this.partial);
        start = 0;
        this.partial = [];
        this.partialLength = 0;
      } else {
        line = chunk;
        start = pos;
      }
      const end = line === chunk ? nl : line.length;
      pos = nl + 1;
      // A payload that follows the line may sit in this very chunk: dispatchLine returns its size, or -1.
      const payloadSize = this.dispatchLine(line, start, end);
      if (payloadSize < 0) continue;
      const need = payloadSize + 2;
      if (len - pos >= need) {
        if (chunk[pos + payloadSize] !== CR || chunk[pos + payloadSize + 1] !== LF) {
          this.fail(Errors.unknownOp, 'message payload not followed by CRLF');
          return;
        }
        this.deliverPayload(chunk, pos, pos + payloadSize);
        pos += need;
      } else {
        this.split = Buffer.allocUnsafe(need);
        this.splitFilled = chunk.copy(this.split, 0, pos, len);
        pos = len;
      }
    }
  }

  /** True once a protocol error was reported. */
  get hasFailed(): boolean {
    return this.failed;
  }

  // --- payloads -------------------------------------------------------------------------------------------

  /** The payload `buf[start, end)` to the handler, for the op that announced it. */
  private deliverPayload(buf: Buffer, start: number, end: number): void {
    const h = this.handler;
    switch (this.payOp) {
      case PayloadOp.Pub:
        if (h.onPubAt !== undefined) h.onPubAt(this.paySubject, this.payReply, this.payHdr, buf, start, end);
        else h.onPub?.(this.paySubject, this.payReply, this.payHdr, buf.subarray(start, end));
        break;
      case PayloadOp.Msg:
        h.onMsg?.(this.paySubject, this.paySid, this.payReply, this.payHdr, buf.subarray(start, end));
        break;
      case PayloadOp.LeafMsg:
        h.onLeafMsg?.(this.paySubject, this.payReply, this.payQueues, this.payHdr, buf.subarray(start, end));
        break;
    }
  }

  private fillPayload(chunk: Buffer, pos: number): number {
    const buf = this.split!;
    const take = Math.min(buf.length - this.splitFilled, chunk.length - pos);
    chunk.copy(buf, this.splitFilled, pos, pos + take);
    this.splitFilled += take;
    if (this.splitFilled < buf.length) return pos + take;
    this.split = undefined;
    const size = buf.length - 2;
    if (buf[size] !== CR || buf[size + 1] !== LF) {
      this.fail(Errors.unknownOp, 'message payload not followed by CRLF');
      return chunk.length;
    }
    this.deliverPayload(buf, 0, size);
    return pos + take;
  }

  // --- control lines --------------------------------------------------------------------------------------

  private holdPartialLine(chunk: Buffer, pos: number): void {
    const rest = chunk.subarray(pos);
    // Copy: the reader may reuse nothing, but holding a slice would pin the whole chunk for a few bytes.
    this.partial.push(Buffer.from(rest));
    this.partialLength += rest.length;
    if (!this.opPrefixPossible()) {
      this.fail(Errors.unknownOp, 'unknown operation');
      return;
    }
    // The op itself, a space and the arguments: refuse early so a peer cannot grow this buffer without bound.
    if (this.partialLength > this.limits.maxControlLine + 8 && !this.partialIsInfo()) {
      this.fail(Errors.maxControlLine, `control line of ${this.partialLength}+ bytes`);
    } else if (this.partialLength > INFO_LINE_HARD_MAX) {
      this.fail(Errors.maxControlLine, `control line of ${this.partialLength}+ bytes`);
    }
  }

  /** Whether the bytes held so far can still begin an allowed op (nats-server rejects a bad op byte at once). */
  private opPrefixPossible(): boolean {
    const head = Buffer.concat(this.partial, Math.min(this.partialLength, 8));
    let n = 0;
    while (n < head.length && head[n] !== SPACE && head[n] !== TAB && head[n] !== CR) n++;
    if (n === head.length && n >= 8) return false;
    const word = head.toString('latin1', 0, n).toUpperCase();
    const complete = n < head.length;
    return this.opNames.some((op) => (complete ? op === word : op.startsWith(word)));
  }

  private partialIsInfo(): boolean {
    return this.partial[0]!.toString('latin1', 0, Math.min(this.partial[0]!.length, 4)).toUpperCase() === 'INFO';
  }

  /**
   * Handles one control line (without its LF); returns the size of the payload that follows, or -1 for none.
   * For PUB-like ops it records the op and its arguments in the pay* fields.
   */
  private dispatchLine(line: Buffer, start: number, end: number): number {
    if (end > start && line[end - 1] === CR) end--;
    // Op word.
    let i = start;
    while (i < end && line[i] !== SPACE && line[i] !== TAB) i++;
    const op = this.opAt(line, start, i);
    if (op === undefined) {
      this.fail(Errors.unknownOp, 'unknown operation');
      return -1;
    }
    const opEnd = i;
    while (i < end && (line[i] === SPACE || line[i] === TAB)) i++;
    const argsStart = i;
    const bare = opEnd === end;
    if (op === 'CONNECT' && bare) {
      // nats-server closes on a bare CONNECT without an -ERR (its JSON is missing, not its op).
      return this.violation('CONNECT without arguments');
    }
    if (TAKES_ARGS.has(op) ? bare : argsStart !== end) {
      // nats-server's byte machine wants a space after such an op (`SUB\r\n`), and nothing after PING/PONG/+OK.
      this.fail(Errors.unknownOp, bare ? `${op} without arguments` : `${op} with arguments`);
      return -1;
    }
    // Only the arguments count, trailing blanks included; CONNECT too (observed from nats-server 2.9.10).
    if (op !== 'INFO' && end - argsStart > this.limits.maxControlLine) {
      this.fail(Errors.maxControlLine, `control line of ${end - start} bytes`);
      return -1;
    }
    switch (op) {
      case 'PING':
        this.handler.onPing();
        return -1;
      case 'PONG':
        this.handler.onPong();
        return -1;
      case 'PUB':
        return this.pub(line, argsStart, end, false);
      case 'HPUB':
        return this.pub(line, argsStart, end, true);
      case 'SUB':
        this.sub(line, argsStart, end);
        return -1;
      case 'UNSUB':
        this.unsub(line, argsStart, end);
        return -1;
      case 'CONNECT':
        this.handler.onConnect?.(line.toString('utf8', argsStart, end));
        return -1;
      case 'INFO':
        this.handler.onInfo?.(line.toString('utf8', argsStart, end));
        return -1;
      case 'MSG':
        return this.msg(line, argsStart, end, false);
      case 'HMSG':
        return this.role === 'leaf' ? this.leafMsg(line, argsStart, end, true) : this.msg(line, argsStart, end, true);
      case '+OK':
        this.handler.onOk?.();
        return -1;
      case '-ERR':
        this.handler.onErr?.(stripQuotes(line.toString('utf8', argsStart, end)));
        return -1;
      case 'LS+':
        this.leafSub(line, argsStart, end);
        return -1;
      case 'LS-':
        this.leafUnsub(line, argsStart, end);
        return -1;
      case 'LMSG':
        return this.leafMsg(line, argsStart, end, false);
    }
  }

  /** Case-insensitive op lookup without allocating for the common ops. */
  private opAt(line: Buffer, s: number, e: number): Op | undefined {
    const n = e - s;
    let op: Op | undefined;
    const c0 = line[s]! | 0x20;
    if (n === 3 && c0 === 0x70 /* p */ && (line[s + 1]! | 0x20) === 0x75 && (line[s + 2]! | 0x20) === 0x62) {
      op = 'PUB';
    } else if (n === 3 && c0 === 0x73 /* s */ && (line[s + 1]! | 0x20) === 0x75 && (line[s + 2]! | 0x20) === 0x62) {
      op = 'SUB';
    } else if (n === 3 && c0 === 0x6d /* m */ && (line[s + 1]! | 0x20) === 0x73 && (line[s + 2]! | 0x20) === 0x67) {
      op = 'MSG';
    } else if (n > 0 && n <= 7) {
      const word = line.toString('latin1', s, e).toUpperCase();
      op = (this.opNames as readonly string[]).includes(word) ? (word as Op) : undefined;
    }
    return op !== undefined && this.ops.has(op) ? op : undefined;
  }

  /** Splits arguments on runs of spaces and tabs into argStart/argEnd; returns their count (MAX_ARGS+1 = too many). */
  private splitArgs(line: Buffer, s: number, e: number): number {
    let n = 0;
    let i = s;
    while (i < e) {
      while (i < e && (line[i] === SPACE || line[i] === TAB)) i++;
      if (i >= e) break;
      if (n === MAX_ARGS) return MAX_ARGS + 1;
      this.argStart[n] = i;
      while (i < e && line[i] !== SPACE && line[i] !== TAB) i++;
      this.argEnd[n] = i;
      n++;
    }
    return n;
  }

  private arg(line: Buffer, k: number): string {
    return line.toString('utf8', this.argStart[k]!, this.argEnd[k]!);
  }

  // The last subject decoded, with its bytes: publishers mostly repeat subjects, and comparing a few bytes costs
  // far less than decoding a new string per message (parser micro-bench: about a third of a PUB's parse time).
  private lastSubject = '';
  private lastSubjectBytes: Buffer = Buffer.alloc(0);

  private subjectArg(line: Buffer, k: number): string {
    const s = this.argStart[k]!;
    const len = this.argEnd[k]! - s;
    const cached = this.lastSubjectBytes;
    if (len === cached.length) {
      let i = 0;
      while (i < len && line[s + i] === cached[i]) i++;
      if (i === len) return this.lastSubject;
    }
    if (len > SUBJECT_CACHE_MAX_BYTES) return line.toString('utf8', s, s + len);
    this.lastSubject = line.toString('utf8', s, s + len);
    this.lastSubjectBytes = Buffer.from(line.subarray(s, s + len));
    return this.lastSubject;
  }

  private num(line: Buffer, k: number): number {
    return parseSize(line, this.argStart[k]!, this.argEnd[k]!);
  }

  private pub(line: Buffer, s: number, e: number, withHeaders: boolean): number {
    const n = this.splitArgs(line, s, e);
    const sizes = withHeaders ? 2 : 1;
    if (n !== sizes + 1 && n !== sizes + 2) return this.violation(`malformed ${withHeaders ? 'HPUB' : 'PUB'} arguments`);
    const total = this.num(line, n - 1);
    const hdrLen = withHeaders ? this.num(line, n - 2) : 0;
    if (total < 0 || hdrLen < 0 || hdrLen > total) return this.violation('bad message size');
    if (total > this.limits.maxPayload) {
      this.fail(Errors.maxPayload, `message of ${total} bytes over max_payload ${this.limits.maxPayload}`);
      return -1;
    }
    this.payOp = PayloadOp.Pub;
    this.paySubject = this.subjectArg(line, 0);
    this.payReply = n === sizes + 2 ? this.arg(line, 1) : undefined;
    this.payHdr = hdrLen;
    return total;
  }

  private msg(line: Buffer, s: number, e: number, withHeaders: boolean): number {
    const n = this.splitArgs(line, s, e);
    const sizes = withHeaders ? 2 : 1;
    if (n !== sizes + 2 && n !== sizes + 3) return this.violation(`malformed ${withHeaders ? 'HMSG' : 'MSG'} arguments`);
    const total = this.num(line, n - 1);
    const hdrLen = withHeaders ? this.num(line, n - 2) : 0;
    if (total < 0 || hdrLen < 0 || hdrLen > total) return this.violation('bad message size');
    this.payOp = PayloadOp.Msg;
    this.paySubject = this.subjectArg(line, 0);
    this.paySid = this.arg(line, 1);
    this.payReply = n === sizes + 3 ? this.arg(line, 2) : undefined;
    this.payHdr = hdrLen;
    return total;
  }

  private sub(line: Buffer, s: number, e: number): void {
    const n = this.splitArgs(line, s, e);
    if (n !== 2 && n !== 3) {
      this.violation('malformed SUB arguments');
      return;
    }
    this.handler.onSub?.(this.arg(line, 0), n === 3 ? this.arg(line, 1) : undefined, this.arg(line, n - 1));
  }

  private unsub(line: Buffer, s: number, e: number): void {
    const n = this.splitArgs(line, s, e);
    if (n !== 1 && n !== 2) {
      this.violation('malformed UNSUB arguments');
      return;
    }
    let max: number | undefined;
    if (n === 2) {
      // nats-server reads a max it cannot parse as 0: unsubscribe now, connection stays open.
      max = Math.max(0, this.num(line, 1));
    }
    this.handler.onUnsub?.(this.arg(line, 0), max);
  }

  // LS+ <subject> [<queue> <weight>]   (nats-server leafnode.go processLeafSub)
  private leafSub(line: Buffer, s: number, e: number): void {
    const n = this.splitArgs(line, s, e);
    if (n === 1) {
      this.handler.onLeafSub?.(this.arg(line, 0), undefined, 0);
    } else if (n === 3) {
      const weight = this.num(line, 2);
      this.handler.onLeafSub?.(this.arg(line, 0), this.arg(line, 1), weight < 0 ? 1 : weight);
    } else {
      this.violation('malformed LS+ arguments');
    }
  }

  // LS- <subject> [<queue>]
  private leafUnsub(line: Buffer, s: number, e: number): void {
    const n = this.splitArgs(line, s, e);
    if (n !== 1 && n !== 2) {
      this.violation('malformed LS- arguments');
      return;
    }
    this.handler.onLeafUnsub?.(this.arg(line, 0), n === 2 ? this.arg(line, 1) : undefined);
  }

  // LMSG <subject> [reply] <size> | LMSG <subject> + <reply> <queues...> <size> | LMSG <subject> | <queues...> <size>
  // With headers (leaf role's HMSG) the same shapes carry `<hdr size> <size>` at the end.
  private leafMsg(line: Buffer, s: number, e: number, withHeaders: boolean): number {
    const all = this.splitArgs(line, s, e);
    if (all > MAX_ARGS) return this.violation('malformed LMSG arguments');
    // Without the header size the shapes are LMSG's: n counts the arguments up to and including the total size.
    const n = withHeaders ? all - 1 : all;
    if (n < 2) return this.violation('malformed LMSG arguments');
    // The subject through the last-subject cache, the marker read as a byte, the queue list only when there is
    // one: the leaf path was decoding two strings and allocating an array per message (gateway bench profile:
    // 17 % of the service's LMSG handling was the subject string).
    const subject = this.subjectArg(line, 0);
    let reply: string | undefined;
    let queues: string[] | undefined;
    let k = 1;
    const markerAt = this.argStart[1]!;
    const marker = this.argEnd[1]! - markerAt === 1 ? line[markerAt]! : 0;
    if (marker === PLUS_BYTE || marker === PIPE_BYTE) {
      queues = [];
      if (marker === PLUS_BYTE) {
        if (n < 4) return this.violation('malformed LMSG arguments');
        reply = this.arg(line, 2);
        k = 3;
      } else {
        k = 2;
      }
      // Everything but the trailing size is a queue name.
      for (; k < n - 1; k++) queues.push(this.arg(line, k));
    } else if (n === 3) {
      reply = this.arg(line, 1);
      k = 2;
    } else if (n !== 2) {
      return this.violation('malformed LMSG arguments');
    }
    const total = this.num(line, all - 1);
    const hdrLen = withHeaders ? this.num(line, all - 2) : 0;
    if (total < 0 || hdrLen < 0 || hdrLen > total) return this.violation('bad message size');
    this.payOp = PayloadOp.LeafMsg;
    this.paySubject = subject;
    this.payReply = reply;
    this.payQueues = queues === undefined || queues.length === 0 ? NO_QUEUES : queues;
    this.payHdr = hdrLen;
    return total;
  }

  private violation(detail: string): number {
    this.fail(Errors.protocolViolation, detail);
    return -1;
  }

  private fail(err: ProtocolError, detail: string): void {
    if (this.failed) return;
    this.failed = true;
    this.partial = [];
    this.partialLength = 0;
    this.split = undefined;
    this.handler.onProtocolError(err, detail);
  }
}

const NO_QUEUES: readonly string[] = Object.freeze([]);
const PLUS_BYTE = 0x2b; // '+': LMSG <subject> + <reply> <queues...> <size>
const PIPE_BYTE = 0x7c; // '|': LMSG <subject> | <queues...> <size>
/** Longer subjects are decoded every time rather than cached (a copy per miss would cost more than it saves). */
const SUBJECT_CACHE_MAX_BYTES = 256;
const TAKES_ARGS: ReadonlySet<Op> = new Set<Op>(['CONNECT', 'PUB', 'HPUB', 'SUB', 'UNSUB', 'INFO', 'MSG', 'HMSG', '-ERR', 'LS+', 'LS-', 'LMSG']);

/** INFO from a server is not bound by our max_control_line; still bounded so a peer cannot grow memory. */
const INFO_LINE_HARD_MAX = 1 << 20;

/** Parses a non-negative decimal from bytes; -1 when it is not one (nats-server parseSize). */
export function parseSize(buf: Buffer, s: number, e: number): number {
  if (e <= s || e - s > 15) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function stripQuotes(s: string): string {
  const t = s.trim();
  return t.length >= 2 && t.startsWith("'") && t.endsWith("'") ? t.slice(1, -1) : t;
}
