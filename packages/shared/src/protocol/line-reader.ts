// A control line that arrives in pieces, kept until its LF. Lines that arrive whole never come here: the parser
// dispatches them from the read chunk, uncopied. What a partial line keeps is bounded by its own bytes, whatever the
// read pattern: the op word in a fixed buffer; once the arguments begin, the op word, one blank and the arguments in
// one buffer, grown by doubling up to the line's bound and dropped when the line ends. (Review of issue 11, 1a: a
// buffer per read let a peer sending a 4 KB CONNECT one byte per read cost the service ~1.3 MiB of RSS.) Blanks
// after the op word, and whatever follows PING, PONG or +OK, are skipped, never kept (nats-server parser.go OP_PING).
import { Errors, type ProtocolError } from './errors.js';
import { isConnectByte, skipOpAt, type Op, type OpWords } from './ops.js';

const SPACE = 32;
const TAB = 9;
/** The longest op word ("CONNECT") and a CR a bare op may end with. */
const OP_WORD_MAX = 8;
/** The first buffer for a line's arguments: a PUB or MSG line cut by a read's end (the common case) fits in it. */
const FIRST_CAPACITY = 128;
const NO_BYTES = Buffer.alloc(0);

/**
 * What one Buffer with an ArrayBuffer of its own costs beside its bytes: its V8 objects and backing-store record,
 * measured at ~200 B on Node 20 (100,000 `Buffer.allocUnsafeSlow(n)` kept alive, heapUsed + external per buffer).
 * Counted in retainedBytes, so a buffer per read of a trickled line would show there as the memory it is.
 */
export const BUFFER_OBJECT_BYTES = 200;

/** Where a line being read stands (nats-server's OP_*, *_SPC and *_ARG states). */
const enum Phase {
  /** No partial line. */
  None,
  /** Reading the op word. */
  Op,
  /** Blanks between the op and its arguments: skipped, never kept. */
  Blank,
  /** The arguments: kept, bounded by the op's limit. */
  Args,
  /** PING, PONG or +OK: everything up to the line's end is ignored, never kept. */
  Skip,
}

/** Why a partial line was refused; the stream is over. */
export interface LineRefusal {
  readonly err: ProtocolError;
  readonly detail: string;
}

const UNKNOWN_OP: LineRefusal = { err: Errors.unknownOp, detail: 'unknown operation' };
const BEFORE_CONNECT: LineRefusal = { err: Errors.authorizationViolation, detail: 'operation before CONNECT' };

export class LineReader {
  private phase = Phase.None;
  /** The op word so far, and room for the blank a line that ends right after it is dispatched with. */
  // Allocated with the first partial line: most connections never send one, and a Buffer of its own costs ~200 B.
  private opBytes = NO_BYTES;
  private opLen = 0;
  private op: Op | undefined;
  /** The line from its op word once the arguments began: op word, one blank, arguments; or undefined. */
  private line: Buffer | undefined;
  private lineLen = 0;
  /** Bytes of arguments in `line` (what the op's limit bounds). */
  private argsLen = 0;

  /** `limitOf(op)`: the longest arguments `op` may carry (max_control_line; more for a server's INFO). */
  constructor(
    private readonly words: OpWords,
    private readonly limitOf: (op: Op) => number,
  ) {}

  /** A line has begun and not ended. */
  get reading(): boolean {
    return this.phase !== Phase.None;
  }

  /** Memory kept for the partial line: its buffer's capacity and the buffer's own cost, or the op word so far. */
  get retainedBytes(): number {
    return this.line === undefined ? this.opLen : this.line.length + BUFFER_OBJECT_BYTES;
  }

  /**
   * Takes `buf[from, to)` (no LF in it) into the line, starting one if none is being read. `expectConnect`: the
   * line's first byte must begin CONNECT. Returns why the line is refused, or undefined.
   */
  take(buf: Buffer, from: number, to: number, expectConnect: boolean): LineRefusal | undefined {
    if (this.phase === Phase.None) {
      this.phase = Phase.Op;
      if (this.opBytes.length === 0) this.opBytes = Buffer.alloc(OP_WORD_MAX + 1);
    }
    let i = from;
    while (i < to) {
      switch (this.phase) {
        case Phase.Op: {
          const b = buf[i]!;
          if (this.opLen === 0 && expectConnect && !isConnectByte(b)) return BEFORE_CONNECT;
          if (b === SPACE || b === TAB) {
            // The op word is complete: it must be one of the role's ops.
            this.op = this.words.at(this.opBytes, 0, this.opLen);
            if (this.op === undefined) return UNKNOWN_OP;
            this.phase = Phase.Blank;
            i++;
            break;
          }
          if (this.opLen === OP_WORD_MAX) return UNKNOWN_OP;
          this.opBytes[this.opLen++] = b;
          i++;
          const refused = this.afterOpByte();
          if (refused !== undefined) return refused;
          break;
        }
        case Phase.Blank:
          if (buf[i] === SPACE || buf[i] === TAB) i++;
          else this.phase = Phase.Args;
          break;
        case Phase.Args: {
          // One more than the limit for a CR the line may end with; a longer line can never be valid, so nothing
          // past that is kept.
          const n = to - i;
          if (this.argsLen + n > this.limitOf(this.op!) + 1) {
            return { err: Errors.maxControlLine, detail: `control line of ${this.argsLen + n}+ bytes` };
          }
          this.append(buf, i, to);
          i = to;
          break;
        }
        case Phase.Skip:
          i = to;
          break;
      }
    }
    return undefined;
  }

  /**
   * The line has ended (its LF was read): the line to dispatch as if it had arrived whole (op word, one blank if
   * any came, arguments; without the LF), or the op for PING, PONG and +OK. Nothing is kept afterwards.
   */
  end(): Buffer | Op {
    const op = this.op;
    let line: Buffer;
    if (this.phase === Phase.Skip) {
      this.reset();
      return op!;
    }
    if (this.line !== undefined) {
      line = this.line.subarray(0, this.lineLen);
    } else {
      // The op word, and the blank after it when one came, with no arguments (`PUB\r`, `SUB `).
      let n = this.opLen;
      if (this.phase === Phase.Blank) this.opBytes[n++] = SPACE;
      line = this.opBytes.subarray(0, n);
    }
    this.reset();
    return line;
  }

  /** Drops the partial line, if any. */
  reset(): void {
    this.phase = Phase.None;
    this.opLen = 0;
    this.op = undefined;
    this.line = undefined;
    this.lineLen = 0;
    this.argsLen = 0;
  }

  /** After a byte of the op word: refuse it the moment no op can start so (nats-server rejects a bad op byte at once). */
  private afterOpByte(): LineRefusal | undefined {
    const n = this.opLen;
    const skip = n >= 3 ? skipOpAt(this.opBytes, 0, n) : undefined;
    if (skip !== undefined && this.words.has(skip)) {
      this.op = skip;
      this.phase = Phase.Skip;
      return undefined;
    }
    return this.words.mayBegin(this.opBytes, n) ? undefined : UNKNOWN_OP;
  }

  /** Appends arguments `buf[from, to)`, already checked against the op's limit, to the one buffer of the line. */
  private append(buf: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.line === undefined) {
      // The op word and one blank first, so the ended line reads as the whole line would.
      const prefix = this.opLen + 1;
      this.line = this.grown(undefined, prefix + n);
      this.opBytes.copy(this.line, 0, 0, this.opLen);
      this.line[this.opLen] = SPACE;
      this.lineLen = prefix;
    } else if (this.lineLen + n > this.line.length) {
      this.line = this.grown(this.line, this.lineLen + n);
    }
    buf.copy(this.line, this.lineLen, from, to);
    this.lineLen += n;
    this.argsLen += n;
  }

  /**
   * A buffer of at least `need` bytes with `old`'s line in it: twice the old capacity (or FIRST_CAPACITY), never more
   * than the op's bound (op word, blank, arguments and CR), so a line costs at most about twice its bytes. Its own
   * ArrayBuffer (allocUnsafeSlow): a slice of Node's shared pool would keep a whole 8 KiB pool block alive.
   */
  private grown(old: Buffer | undefined, need: number): Buffer {
    const most = this.opLen + 1 + this.limitOf(this.op!) + 1;
    const capacity = Math.min(most, Math.max(need, old === undefined ? FIRST_CAPACITY : 2 * old.length));
    const next = Buffer.allocUnsafeSlow(capacity);
    if (old !== undefined) old.copy(next, 0, 0, this.lineLen);
    return next;
  }
}
