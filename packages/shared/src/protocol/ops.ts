// Which operations a peer may send in each role, and the op word at the start of a control line, looked up
// case-insensitively from the line's bytes without allocating for the common ops. Shared by the parser (lines that
// arrive whole) and the line reader (lines that arrive in pieces), so both read an op word alike.

/** Operations a peer may send. Which are accepted depends on the parser's role. */
export type Op =
  | 'CONNECT'
  | 'PUB'
  | 'HPUB'
  | 'SUB'
  | 'UNSUB'
  | 'PING'
  | 'PONG'
  | 'INFO'
  | 'MSG'
  | 'HMSG'
  | '+OK'
  | '-ERR'
  | 'LS+'
  | 'LS-'
  | 'LMSG';

/** client: what a server accepts from a client. server: what a client accepts from a server. leaf: a leafnode link. */
export type ParserRole = 'client' | 'server' | 'leaf';

const ROLE_OPS: Record<ParserRole, readonly Op[]> = {
  // +OK, INFO and -ERR from a client: nats-server ignores the first two and closes on the third.
  client: ['CONNECT', 'PUB', 'HPUB', 'SUB', 'UNSUB', 'PING', 'PONG', '+OK', 'INFO', '-ERR'],
  server: ['INFO', 'MSG', 'HMSG', 'PING', 'PONG', '+OK', '-ERR'],
  // HMSG on a leaf link is the header form of LMSG (no sid): nats-server leafnode.go processLeafHeaderMsgArgs.
  leaf: ['INFO', 'CONNECT', 'LS+', 'LS-', 'LMSG', 'HMSG', 'PING', 'PONG', '+OK', '-ERR'],
};

const SHARED: Partial<Record<ParserRole, OpWords>> = {};

export const PLUS_BYTE = 0x2b; // '+': also LMSG <subject> + <reply> <queues...> <size>
const CR = 13;

/** The op words of one role. */
export class OpWords {
  private readonly ops: ReadonlySet<Op>;
  private readonly names: readonly string[];

  /** The role's op words, shared by every parser of that role (immutable; a Set each cost every connection ~0.3 KB). */
  static of(role: ParserRole): OpWords {
    return (SHARED[role] ??= new OpWords(role));
  }

  private constructor(role: ParserRole) {
    this.names = ROLE_OPS[role];
    this.ops = new Set(this.names as readonly Op[]);
  }

  has(op: Op): boolean {
    return this.ops.has(op);
  }

  /** The role's op in `line[s, e)`; PING, PONG and +OK also as a word's prefix (nats-server reads `PINGx` as PING). */
  at(line: Buffer, s: number, e: number): Op | undefined {
    const n = e - s;
    if (n <= 0) return undefined;
    let op: Op | undefined;
    const c0 = line[s]! | 0x20;
    if (n === 3 && c0 === 0x70 /* p */ && (line[s + 1]! | 0x20) === 0x75 && (line[s + 2]! | 0x20) === 0x62) {
      op = 'PUB';
    } else if (n === 3 && c0 === 0x73 /* s */ && (line[s + 1]! | 0x20) === 0x75 && (line[s + 2]! | 0x20) === 0x62) {
      op = 'SUB';
    } else if (n === 3 && c0 === 0x6d /* m */ && (line[s + 1]! | 0x20) === 0x73 && (line[s + 2]! | 0x20) === 0x67) {
      op = 'MSG';
    } else if (
      n === 4 &&
      (line[s + 1]! | 0x20) === 0x6d &&
      (line[s + 2]! | 0x20) === 0x73 &&
      (line[s + 3]! | 0x20) === 0x67
    ) {
      // LMSG and HMSG, a leaf link's every message: read from the bytes, as the 3-letter ops (the general branch
      // below decoded and upper-cased a string per message: ~10 % of the service's time in the gateway bench).
      if (c0 === 0x6c /* l */) op = 'LMSG';
      else if (c0 === 0x68 /* h */) op = 'HMSG';
    } else if (n <= 7) {
      const word = line.toString('latin1', s, e).toUpperCase();
      op = this.names.includes(word) ? (word as Op) : undefined;
    }
    if (op === undefined && n >= 3) op = skipOpAt(line, s, n);
    return op !== undefined && this.ops.has(op) ? op : undefined;
  }

  /**
   * Whether the first `n` bytes of an op word still read so far can begin one of the role's ops (nats-server refuses
   * a bad op byte at once). `PUB\r` still can: it may end as `PUB\r\n`, a bare PUB, which has its own answer.
   */
  mayBegin(word: Buffer, n: number): boolean {
    const w = word.toString('latin1', 0, n).toUpperCase();
    if (this.names.some((op) => op.startsWith(w))) return true;
    return n > 1 && word[n - 1] === CR && this.names.includes(w.slice(0, -1));
  }
}

/** 'C' or 'c': the only first byte a peer that must CONNECT first may send. */
export function isConnectByte(b: number): boolean {
  return (b | 0x20) === 0x63;
}

/** PING, PONG or +OK at the start of a word of `n` bytes (nats-server reads `PINGx` as PING). */
export function skipOpAt(b: Buffer, s: number, n: number): Op | undefined {
  const c0 = b[s]! | 0x20;
  const c1 = b[s + 1]! | 0x20;
  const c2 = b[s + 2]! | 0x20;
  if (b[s] === PLUS_BYTE) return c1 === 0x6f /* o */ && c2 === 0x6b /* k */ ? '+OK' : undefined;
  if (n < 4 || c0 !== 0x70 /* p */) return undefined;
  const c3 = b[s + 3]! | 0x20;
  if (c3 !== 0x67 /* g */ || c2 !== 0x6e /* n */) return undefined;
  if (c1 === 0x69 /* i */) return 'PING';
  if (c1 === 0x6f /* o */) return 'PONG';
  return undefined;
}
