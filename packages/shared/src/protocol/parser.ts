// Turns a NATS byte stream into protocol operations for a handler. It knows no sockets: bytes in, calls out, so
// TCP, TLS, WebSocket and leafnode links share it. Any split of the stream across reads yields the same calls.
// Control lines are found with Buffer#indexOf (native), payloads are handed out as zero-copy slices of the read
// chunk when they arrive whole, and copied once when split (learned from nats.js core/src/parser.ts and
// nats-server server/parser.go; written anew).
// Nothing a peer sends makes it throw or retain more than its limits: every size is checked against max_payload
// before a buffer is made, a line being read is bounded by max_control_line as it arrives (and costs about its bytes
// however it is cut: line-reader.ts), and a peer that must CONNECT first is refused at its first other byte (issue
// 11: one line had ended the process, and 1 MiB could be retained before authentication).
// Op words are looked up in ops.ts, partial lines kept by line-reader.ts, what the parser calls and is given is
// parser-contract.ts's; this file dispatches lines and payloads. It stays one state machine (~600 lines) on purpose:
// the framing (lines, payloads whole or split, skipping, pausing) and the per-op argument decoding share one set of
// scratch fields (argument offsets, the op awaiting its payload), which is what keeps a message free of allocation;
// split into modules, each op would cross an object boundary or return a tuple on the hottest path there is.
import { isUtf8 } from 'node:buffer';
import { Errors, type ProtocolError } from './errors.js';
import { REPLY_END, REPLY_START, SIZE, SUBJECT_END, SUBJECT_START, pubArgs, scanPub } from './fast-pub.js';
import {
  LM_HDR,
  LM_REPLY_END,
  LM_REPLY_START,
  LM_SIZE,
  LM_SUBJECT_END,
  LM_SUBJECT_START,
  leafMsgArgs,
  scanLeafMsg,
} from './fast-leaf-msg.js';
import { BUFFER_OBJECT_BYTES, LineReader } from './line-reader.js';
import { PubLine, PubLineMatch } from './pub-line.js';
import { OpWords, PLUS_BYTE, isConnectByte, type Op, type ParserRole } from './ops.js';
import type { ParserLimits, ParserOptions, ProtocolHandler } from './parser-contract.js';

export type { Op, ParserRole } from './ops.js';
export type { ParserLimits, ParserOptions, ProtocolHandler } from './parser-contract.js';

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
  /** A message whose subject, reply or queues are not UTF-8: read, then refused. */
  Refused,
}

export class Parser {
  /** The limits in force; a reload replaces them (they apply from the next operation). */
  limits: ParserLimits;
  private readonly words: OpWords;
  private expectConnect: boolean;
  /** A control line that has not ended yet. */
  private readonly partial: LineReader;
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
  private payRefusedOp: Op = 'PUB';
  private payRefusedErr: ProtocolError = Errors.invalidPublishSubject;
  /** The last PUB line fastPub read, for the next one to compare (pub-line.ts); made at a client's first PUB. */
  private pubLine: PubLine | undefined;
  /** The payload size of the line fastPub or fastLeafMsg last read. */
  private fastSize = 0;
  private readonly skipOversize: number;
  private readonly maxInfoLine: number;
  /** An over-size message being read past: payload bytes still to skip, then its CRLF (bytes of it still due). */
  private skipLeft = 0;
  private skipTail = 0;
  private failed = false;
  /** Set by pause(): input is kept, not parsed, until resume(). */
  private paused = false;
  private stash: Buffer | undefined;
  /** Memory the stash keeps alive: all of the read it may be a view of. */
  private stashBytes = 0;
  /** Set while decoding an operation's arguments when one of them is not UTF-8. */
  private badText = false;
  /** The line splitArgs last split has a byte that is not ASCII. */
  private nonAscii = false;
  // Argument boundaries of the current control line, reused to avoid allocation per line.
  private readonly argStart = new Int32Array(MAX_ARGS);
  private readonly argEnd = new Int32Array(MAX_ARGS);

  constructor(
    private readonly handler: ProtocolHandler,
    private readonly role: ParserRole,
    opts: ParserOptions,
  ) {
    this.words = OpWords.of(role);
    this.partial = new LineReader(this.words, (op) => this.argLimit(op));
    this.limits = { maxControlLine: opts.maxControlLine, maxPayload: opts.maxPayload };
    this.expectConnect = opts.expectConnect ?? false;
    this.skipOversize = opts.skipOversize ?? 0;
    this.maxInfoLine = opts.maxInfoLine ?? INFO_LINE_MAX;
  }

  /** Parses one chunk of the stream. */
  parse(chunk: Buffer): void {
    if (this.failed) return;
    if (this.paused) {
      // The caller paused its reads too; what it had already read waits here, unparsed.
      this.stash = this.stash === undefined ? chunk : Buffer.concat([this.stash, chunk]);
      this.stashBytes = this.stash.length;
      return;
    }
    let pos = 0;
    const len = chunk.length;
    // For fastPub's word compares; made at the first PUB of this chunk, dropped with it.
    let view: DataView | undefined;
    while (pos < len && !this.failed && !this.paused) {
      if (this.split !== undefined) {
        pos = this.fillPayload(chunk, pos);
        continue;
      }
      if (this.skipTail > 0) {
        pos = this.skipPayload(chunk, pos);
        continue;
      }
      let payloadSize: number;
      // A client's plain PUB, or a leaf link's LMSG/HMSG without queues, whole in this chunk, read in one pass
      // (fast-pub.ts, fast-leaf-msg.ts); anything else, or a line they cannot vouch for, takes the general path
      // below, which answers it exactly as before.
      const after =
        this.expectConnect || this.partial.reading
          ? -1
          : this.role === 'client'
            ? this.fastPub(chunk, (view ??= new DataView(chunk.buffer, chunk.byteOffset, len)), pos, len)
            : this.role === 'leaf'
              ? this.fastLeafMsg(chunk, pos, len)
              : -1;
      if (after >= 0) {
        pos = after;
        payloadSize = this.fastSize;
      } else {
        const nl = chunk.indexOf(LF, pos);
        if (nl === -1) {
          this.takePartial(chunk, pos, len);
          return;
        }
        if (this.partial.reading) {
          if (!this.takePartial(chunk, pos, nl)) return;
          pos = nl + 1;
          payloadSize = this.endPartial();
        } else {
          // A payload that follows the line may sit in this very chunk: dispatchLine returns its size, or -1.
          payloadSize = this.dispatchLine(chunk, pos, nl);
          pos = nl + 1;
        }
      }
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
        // Bounded: dispatchLine refused any size over max_payload.
        this.split = Buffer.allocUnsafe(need);
        this.splitFilled = chunk.copy(this.split, 0, pos, len);
        pos = len;
      }
    }
    if (this.paused && !this.failed && pos < len) {
      // A view of the read, which keeps all of it alive (a socket's read has an ArrayBuffer of its own).
      this.stash = chunk.subarray(pos);
      this.stashBytes = len;
    }
  }

  /**
   * Stops after the operation being handled (call it from a handler): the rest of the input is kept unparsed
   * until resume(). A connection waiting for an asynchronous verdict on its CONNECT reads nothing behind it.
   */
  pause(): void {
    this.paused = true;
  }

  /** Parses what was kept since pause(), then goes on with later input. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const rest = this.stash;
    this.stash = undefined;
    if (rest !== undefined) this.parse(rest);
  }

  /** True once a protocol error was reported. */
  get hasFailed(): boolean {
    return this.failed;
  }

  /**
   * Memory the parser retains between calls for what the peer sent: the capacity of each buffer it keeps (a partial
   * line's, a split payload's, input kept while paused: a view of the caller's read) and each buffer's own cost
   * (BUFFER_OBJECT_BYTES), not just the bytes in them. At most max_control_line and an op word and CR for a line (a
   * server's INFO, read by the server and leaf roles, up to maxInfoLine), max_payload + 2 for a payload, one buffer
   * each; hostile-input tests assert it, fed whole, split and byte by byte.
   */
  get retainedBytes(): number {
    const split = this.split === undefined ? 0 : this.split.length + BUFFER_OBJECT_BYTES;
    const stash = this.stash === undefined ? 0 : this.stashBytes + BUFFER_OBJECT_BYTES;
    return this.partial.retainedBytes + split + stash;
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
        if (h.onLeafMsgAt !== undefined)
          h.onLeafMsgAt(this.paySubject, this.payReply, this.payQueues, this.payHdr, buf, start, end);
        else h.onLeafMsg?.(this.paySubject, this.payReply, this.payQueues, this.payHdr, buf.subarray(start, end));
        break;
      case PayloadOp.Refused:
        h.onRefused?.(this.payRefusedOp, this.payRefusedErr, 'subject, reply or queue not UTF-8');
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

  /** Reads past an over-size message's payload and checks its CRLF, retaining nothing; returns where it stopped. */
  private skipPayload(chunk: Buffer, pos: number): number {
    const take = Math.min(this.skipLeft, chunk.length - pos);
    this.skipLeft -= take;
    pos += take;
    while (this.skipLeft === 0 && this.skipTail > 0 && pos < chunk.length) {
      // The CRLF after the payload, as for a payload that is kept (nats-server parser.go MSG_END_R, MSG_END_N).
      if (chunk[pos] !== (this.skipTail === 2 ? CR : LF)) {
        this.fail(Errors.unknownOp, 'message payload not followed by CRLF');
        return chunk.length;
      }
      this.skipTail--;
      pos++;
    }
    return pos;
  }

  // --- control lines split across reads ---------------------------------------------------------------------

  /** Takes `buf[from, to)` (no LF in it) into the partial line (line-reader.ts); false once the line is refused. */
  private takePartial(buf: Buffer, from: number, to: number): boolean {
    const refused = this.partial.take(buf, from, to, this.expectConnect);
    if (refused === undefined) return true;
    this.fail(refused.err, refused.detail);
    return false;
  }

  /** The partial line has ended: dispatch it as the whole line would have been. */
  private endPartial(): number {
    const line = this.partial.end();
    if (typeof line === 'string') {
      this.dispatchSkipOp(line);
      return -1;
    }
    return this.dispatchLine(line, 0, line.length);
  }

  /** The longest arguments `op` may carry: a server's INFO (read by a client library or a leaf) may be longer. */
  private argLimit(op: Op): number {
    return op === 'INFO' && this.role !== 'client' ? this.maxInfoLine : this.limits.maxControlLine;
  }

  // --- control lines --------------------------------------------------------------------------------------

  /**
   * A plain PUB read in one pass (fast-pub.ts): records it as pub() would and returns where its payload starts (its
   * size in fastSize), or -1 for a line the general path must read.
   */
  private fastPub(chunk: Buffer, view: DataView, pos: number, len: number): number {
    const { maxControlLine, maxPayload } = this.limits;
    const line = (this.pubLine ??= new PubLine());
    const seen = line.match(view, chunk, pos, len, maxControlLine, maxPayload);
    this.payOp = PayloadOp.Pub;
    this.payHdr = 0;
    if (seen === PubLineMatch.Whole) {
      this.paySubject = line.subject;
      this.payReply = line.reply;
      this.fastSize = line.size;
      return pos + line.length;
    }
    const head = seen === PubLineMatch.Head ? line.headLength : 0;
    const after = scanPub(chunk, pos, len, maxControlLine, maxPayload, head);
    if (after < 0) return -1;
    const a = pubArgs;
    const subjectEnd = a[SUBJECT_END]!;
    let subject: string;
    // What is kept is rewritten only when it may pay: a line of another subject once that subject comes twice in a
    // row (the subject cache's hit) or when none is kept, one of the same subject without a reply (another size).
    // A publisher cycling through subjects, or sending a new reply inbox each time, would rewrite it at every message
    // (micro-bench: +60 and +15-40 ns a message).
    let keep: boolean;
    if (head > 0) {
      subject = line.subject;
      keep = a[REPLY_START]! < 0;
    } else {
      // Printable ASCII: decoding needs no UTF-8 check.
      this.nonAscii = false;
      this.badText = false;
      const cached = this.lastSubjectBytes;
      subject = this.subjectAt(chunk, a[SUBJECT_START]!, subjectEnd);
      keep = line.length === 0 || this.lastSubjectBytes === cached;
    }
    const replyAt = a[REPLY_START]!;
    const reply = replyAt < 0 ? undefined : chunk.toString('latin1', replyAt, a[REPLY_END]!);
    const size = a[SIZE]!;
    this.paySubject = subject;
    this.payReply = reply;
    this.fastSize = size;
    if (keep) line.set(view, pos, after, subjectEnd + 1 - pos, subject, reply, size);
    return after;
  }

  /**
   * A leaf link's LMSG/HMSG without queues read in one pass (fast-leaf-msg.ts): records it as leafMsg() would and
   * returns where its payload starts (its size in fastSize), or -1 for a line the general path must read.
   */
  private fastLeafMsg(chunk: Buffer, pos: number, len: number): number {
    const after = scanLeafMsg(chunk, pos, len, this.limits.maxControlLine, this.limits.maxPayload);
    if (after < 0) return -1;
    const a = leafMsgArgs;
    // Printable ASCII: decoding needs no UTF-8 check.
    this.nonAscii = false;
    this.badText = false;
    this.payOp = PayloadOp.LeafMsg;
    this.payHdr = a[LM_HDR]!;
    this.paySubject = this.subjectAt(chunk, a[LM_SUBJECT_START]!, a[LM_SUBJECT_END]!);
    const replyAt = a[LM_REPLY_START]!;
    this.payReply = replyAt < 0 ? undefined : chunk.toString('latin1', replyAt, a[LM_REPLY_END]!);
    this.payQueues = NO_QUEUES;
    this.fastSize = a[LM_SIZE]!;
    return after;
  }

  /**
   * Handles one control line (without its LF); returns the size of the payload that follows, or -1 for none.
   * For PUB-like ops it records the op and its arguments in the pay* fields.
   */
  private dispatchLine(line: Buffer, start: number, end: number): number {
    if (this.expectConnect && !(end > start && isConnectByte(line[start]!))) {
      this.fail(Errors.authorizationViolation, 'operation before CONNECT');
      return -1;
    }
    if (end > start && line[end - 1] === CR) end--;
    // Op word.
    let i = start;
    while (i < end && line[i] !== SPACE && line[i] !== TAB) i++;
    const op = this.words.at(line, start, i);
    if (op === undefined) {
      this.fail(Errors.unknownOp, 'unknown operation');
      return -1;
    }
    if (op === 'PING' || op === 'PONG' || op === '+OK') {
      // nats-server reads nothing after these up to the line's end (parser.go OP_PING): `PING foo` is a PING.
      this.dispatchSkipOp(op);
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
    if (bare) {
      // nats-server's byte machine wants a space after such an op (`SUB\r\n` is an unknown operation).
      this.fail(Errors.unknownOp, `${op} without arguments`);
      return -1;
    }
    // Only the arguments count, trailing blanks included; CONNECT too (observed from nats-server 2.9.10).
    if (end - argsStart > this.argLimit(op)) {
      this.fail(Errors.maxControlLine, `control line of ${end - start} bytes`);
      return -1;
    }
    switch (op) {
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
        // Before the handler runs: one that pauses us for an asynchronous verdict resumes a parser past it.
        this.expectConnect = false;
        this.handler.onConnect?.(line.toString('utf8', argsStart, end));
        return -1;
      case 'INFO':
        this.handler.onInfo?.(line.toString('utf8', argsStart, end));
        return -1;
      case 'MSG':
        return this.msg(line, argsStart, end, false);
      case 'HMSG':
        return this.role === 'leaf' ? this.leafMsg(line, argsStart, end, true) : this.msg(line, argsStart, end, true);
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

  private dispatchSkipOp(op: Op): void {
    if (op === 'PING') this.handler.onPing();
    else if (op === 'PONG') this.handler.onPong();
    else this.handler.onOk?.();
  }

  /**
   * Splits arguments on runs of spaces and tabs into argStart/argEnd; returns their count (MAX_ARGS+1 = too many).
   * Notes whether any argument byte is not ASCII, so an all-ASCII line (nearly every one) skips the UTF-8 check.
   */
  private splitArgs(line: Buffer, s: number, e: number): number {
    let n = 0;
    let i = s;
    let bits = 0;
    while (i < e) {
      while (i < e && (line[i] === SPACE || line[i] === TAB)) i++;
      if (i >= e) break;
      if (n === MAX_ARGS) return MAX_ARGS + 1;
      this.argStart[n] = i;
      // Every read stays inside [s, e): a read past e (past the buffer for a partial line's end) leaves the typed
      // array's bounds, which V8 answers on a slow path.
      for (; i < e; i++) {
        const b = line[i]!;
        if (b === SPACE || b === TAB) break;
        bits |= b;
      }
      this.argEnd[n] = i;
      n++;
    }
    this.nonAscii = (bits & 0x80) !== 0;
    return n;
  }

  /**
   * Argument k as a string. Subjects are kept as strings, so bytes that are not UTF-8 would decode to U+FFFD and
   * two different byte strings to one subject: such an argument sets badText and its operation is refused. An
   * all-ASCII line pays nothing for it (splitArgs saw no high byte); otherwise only a decoded U+FFFD costs the check.
   */
  private arg(line: Buffer, k: number): string {
    return this.text(line, this.argStart[k]!, this.argEnd[k]!);
  }

  private text(line: Buffer, s: number, e: number): string {
    const str = line.toString('utf8', s, e);
    if (this.nonAscii && str.indexOf('\uFFFD') !== -1 && !isUtf8(line.subarray(s, e))) this.badText = true;
    return str;
  }

  // The last subject decoded, with its bytes: publishers mostly repeat subjects, and comparing a few bytes costs
  // far less than decoding a new string per message (parser micro-bench: about a third of a PUB's parse time).
  // Only valid UTF-8 is cached, so a hit needs no check. Callers clear badText before the subject.
  private lastSubject = '';
  private lastSubjectBytes: Buffer = NO_BYTES;

  private subjectArg(line: Buffer, k: number): string {
    return this.subjectAt(line, this.argStart[k]!, this.argEnd[k]!);
  }

  private subjectAt(line: Buffer, s: number, e: number): string {
    const len = e - s;
    const cached = this.lastSubjectBytes;
    if (len === cached.length) {
      let i = 0;
      while (i < len && line[s + i] === cached[i]) i++;
      if (i === len) return this.lastSubject;
    }
    const subject = this.text(line, s, s + len);
    if (this.badText || len > SUBJECT_CACHE_MAX_BYTES) return subject;
    this.lastSubject = subject;
    this.lastSubjectBytes = Buffer.from(line.subarray(s, s + len));
    return subject;
  }

  private num(line: Buffer, k: number): number {
    return parseSize(line, this.argStart[k]!, this.argEnd[k]!);
  }

  /**
   * The sizes at the end of a message line, checked before anything is allocated for its payload: malformed (not a
   * number of at most 9 digits, or headers larger than the whole) closes without -ERR, over max_payload is
   * `Maximum Payload Violation` (nats-server client.go processPub, processHeaderPub). Returns the total, or -1.
   */
  private sizes(op: Op, line: Buffer, totalAt: number, hdrAt: number): number {
    const total = this.num(line, totalAt);
    const hdrLen = hdrAt < 0 ? 0 : this.num(line, hdrAt);
    if (total < 0 || hdrLen < 0 || hdrLen > total) return this.violation('bad message size');
    if (total > this.limits.maxPayload) {
      if (total <= this.skipOversize) {
        // Read past, never retained; the subject only for the handler's log (a rare path: decoding costs nothing here).
        this.skipLeft = total;
        this.skipTail = 2;
        this.handler.onOversize?.(op, this.arg(line, 0), total);
        return -1;
      }
      this.fail(Errors.maxPayload, `message of ${total} bytes over max_payload ${this.limits.maxPayload}`);
      return -1;
    }
    this.payHdr = hdrLen;
    return total;
  }

  /** The payload of a message with an argument that is not UTF-8 is read and dropped, then the op refused. */
  private refuseMessage(op: Op, err: ProtocolError, total: number): number {
    this.payOp = PayloadOp.Refused;
    this.payRefusedOp = op;
    this.payRefusedErr = err;
    return total;
  }

  private pub(line: Buffer, s: number, e: number, withHeaders: boolean): number {
    const n = this.splitArgs(line, s, e);
    const sizes = withHeaders ? 2 : 1;
    if (n !== sizes + 1 && n !== sizes + 2)
      return this.violation(`malformed ${withHeaders ? 'HPUB' : 'PUB'} arguments`);
    const total = this.sizes(withHeaders ? 'HPUB' : 'PUB', line, n - 1, withHeaders ? n - 2 : -1);
    if (total < 0) return -1;
    this.badText = false;
    this.payOp = PayloadOp.Pub;
    this.paySubject = this.subjectArg(line, 0);
    this.payReply = n === sizes + 2 ? this.arg(line, 1) : undefined;
    if (this.badText) return this.refuseMessage(withHeaders ? 'HPUB' : 'PUB', Errors.invalidPublishSubject, total);
    return total;
  }

  private msg(line: Buffer, s: number, e: number, withHeaders: boolean): number {
    const n = this.splitArgs(line, s, e);
    const sizes = withHeaders ? 2 : 1;
    if (n !== sizes + 2 && n !== sizes + 3)
      return this.violation(`malformed ${withHeaders ? 'HMSG' : 'MSG'} arguments`);
    const total = this.sizes(withHeaders ? 'HMSG' : 'MSG', line, n - 1, withHeaders ? n - 2 : -1);
    if (total < 0) return -1;
    this.badText = false;
    this.payOp = PayloadOp.Msg;
    this.paySubject = this.subjectArg(line, 0);
    this.paySid = this.arg(line, 1);
    this.payReply = n === sizes + 3 ? this.arg(line, 2) : undefined;
    if (this.badText) return this.refuseMessage(withHeaders ? 'HMSG' : 'MSG', Errors.invalidSubject, total);
    return total;
  }

  private sub(line: Buffer, s: number, e: number): void {
    const n = this.splitArgs(line, s, e);
    if (n !== 2 && n !== 3) {
      this.violation('malformed SUB arguments');
      return;
    }
    this.badText = false;
    const subject = this.arg(line, 0);
    const queue = n === 3 ? this.arg(line, 1) : undefined;
    const sid = this.arg(line, n - 1);
    if (this.badText) this.handler.onRefused?.('SUB', Errors.invalidSubject, 'subject, queue or sid not UTF-8');
    else this.handler.onSub?.(subject, queue, sid);
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
    this.badText = false;
    const sid = this.arg(line, 0);
    if (this.badText) this.handler.onRefused?.('UNSUB', Errors.invalidSubject, 'sid not UTF-8');
    else this.handler.onUnsub?.(sid, max);
  }

  // LS+ <subject> [<queue> <weight>]   (nats-server leafnode.go processLeafSub)
  private leafSub(line: Buffer, s: number, e: number): void {
    const n = this.splitArgs(line, s, e);
    if (n !== 1 && n !== 3) {
      this.violation('malformed LS+ arguments');
      return;
    }
    this.badText = false;
    const subject = this.arg(line, 0);
    const queue = n === 3 ? this.arg(line, 1) : undefined;
    const weight = n === 3 ? this.num(line, 2) : 0;
    if (this.badText) this.handler.onRefused?.('LS+', Errors.invalidSubject, 'subject or queue not UTF-8');
    else this.handler.onLeafSub?.(subject, queue, weight < 0 ? 1 : weight);
  }

  // LS- <subject> [<queue>]
  private leafUnsub(line: Buffer, s: number, e: number): void {
    const n = this.splitArgs(line, s, e);
    if (n !== 1 && n !== 2) {
      this.violation('malformed LS- arguments');
      return;
    }
    this.badText = false;
    const subject = this.arg(line, 0);
    const queue = n === 2 ? this.arg(line, 1) : undefined;
    if (this.badText) this.handler.onRefused?.('LS-', Errors.invalidSubject, 'subject or queue not UTF-8');
    else this.handler.onLeafUnsub?.(subject, queue);
  }

  // LMSG <subject> [reply] <size> | LMSG <subject> + <reply> <queues...> <size> | LMSG <subject> | <queues...> <size>
  // With headers (leaf role's HMSG) the same shapes carry `<hdr size> <size>` at the end.
  private leafMsg(line: Buffer, s: number, e: number, withHeaders: boolean): number {
    const all = this.splitArgs(line, s, e);
    if (all > MAX_ARGS) return this.violation('malformed LMSG arguments');
    // Without the header size the shapes are LMSG's: n counts the arguments up to and including the total size.
    const n = withHeaders ? all - 1 : all;
    if (n < 2) return this.violation('malformed LMSG arguments');
    const markerAt = this.argStart[1]!;
    const marker = this.argEnd[1]! - markerAt === 1 ? line[markerAt]! : 0;
    const queued = marker === PLUS_BYTE || marker === PIPE_BYTE;
    if (queued ? marker === PLUS_BYTE && n < 4 : n !== 2 && n !== 3) return this.violation('malformed LMSG arguments');
    // The sizes first: nothing of a message over max_payload is decoded or kept.
    const total = this.sizes(withHeaders ? 'HMSG' : 'LMSG', line, all - 1, withHeaders ? all - 2 : -1);
    if (total < 0) return -1;
    // The subject through the last-subject cache, the marker read as a byte, the queue list only when there is
    // one: the leaf path was decoding two strings and allocating an array per message (gateway bench profile:
    // 17 % of the service's LMSG handling was the subject string).
    this.badText = false;
    const subject = this.subjectArg(line, 0);
    let reply: string | undefined;
    let queues: string[] | undefined;
    if (queued) {
      queues = [];
      let k = 2;
      if (marker === PLUS_BYTE) {
        reply = this.arg(line, 2);
        k = 3;
      }
      // Everything but the trailing size is a queue name.
      for (; k < n - 1; k++) queues.push(this.arg(line, k));
    } else if (n === 3) {
      reply = this.arg(line, 1);
    }
    if (this.badText) return this.refuseMessage(withHeaders ? 'HMSG' : 'LMSG', Errors.invalidPublishSubject, total);
    this.payOp = PayloadOp.LeafMsg;
    this.paySubject = subject;
    this.payReply = reply;
    this.payQueues = queues === undefined || queues.length === 0 ? NO_QUEUES : queues;
    return total;
  }

  private violation(detail: string): number {
    this.fail(Errors.protocolViolation, detail);
    return -1;
  }

  private fail(err: ProtocolError, detail: string): void {
    if (this.failed) return;
    this.failed = true;
    this.partial.reset();
    this.split = undefined;
    this.skipLeft = 0;
    this.skipTail = 0;
    this.stash = undefined;
    this.handler.onProtocolError(err, detail);
  }
}

const NO_QUEUES: readonly string[] = Object.freeze([]);
/** The subject cache before its first subject: one empty buffer for every parser (never written). */
const NO_BYTES = Buffer.alloc(0);
// The markers of LMSG <subject> + <reply> <queues...> <size> (PLUS_BYTE, ops.ts) and LMSG <subject> | <queues...> <size>.
const PIPE_BYTE = 0x7c;
/** Longer subjects are decoded every time rather than cached (a copy per miss would cost more than it saves). */
const SUBJECT_CACHE_MAX_BYTES = 256;

/** A server's INFO, read by the server and leaf roles, is not bound by our max_control_line; still bounded. */
const INFO_LINE_MAX = 1 << 20;

/** nats-server parseSize: at most 9 digits (999,999,999); anything longer is malformed. */
const SIZE_DIGITS_MAX = 9;

/** Parses a non-negative decimal from bytes; -1 when it is not one of at most 9 digits (nats-server parseSize). */
export function parseSize(buf: Buffer, s: number, e: number): number {
  if (e <= s || e - s > SIZE_DIGITS_MAX) return -1;
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
