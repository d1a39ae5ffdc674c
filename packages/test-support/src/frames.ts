// Hostile NATS frames for fuzzing every role of the parser and the real processes' ports: well-formed frames of each
// operation a peer may send in that role, joined, then mutated (bytes flipped, inserted, removed; sizes replaced by
// huge, negative, overlong or over-limit numbers; line ends removed; truncated). Sizes are bounded so a run stays
// fast. Used by the parser's property tests, the wire fuzz test and `pnpm fuzz`.
import fc from 'fast-check';

/** The parser's roles: what a server reads from a client, what a client reads from a server, a leafnode link. */
export type FrameRole = 'client' | 'server' | 'leaf';

export interface FrameOptions {
  /** The max_payload the peer under test enforces: sizes around it are tried. */
  maxPayload: number;
  /** The max_control_line it enforces: lines around it are tried. */
  maxControlLine: number;
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Subject tokens: plain, wildcards, inbox-like, valid UTF-8, and byte strings that are not UTF-8. */
const token = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('a', 'b', 'foo', 'bar', 'events', 'x1', '_INBOX', 'q').map(bytes) },
  { weight: 2, arbitrary: fc.constantFrom('*', '>').map(bytes) },
  { weight: 1, arbitrary: fc.constantFrom('é', '日本', 'ü').map(utf8) },
  {
    weight: 1,
    arbitrary: fc.constantFrom([0xff], [0xc0, 0xaf], [0xfe, 0x41], [0xed, 0xa0, 0x80]).map((b) => Buffer.from(b)),
  },
);
const subject = fc
  .array(token, { minLength: 1, maxLength: 4 })
  .map((ts) => Buffer.concat(ts.flatMap((t, i) => (i === 0 ? [t] : [bytes('.'), t]))));
const sid = fc.oneof(
  fc.integer({ min: 1, max: 99 }).map((n) => bytes(String(n))),
  token,
);
const payload = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom('\r\n', 'PING\r\n', 'PUB a 1\r\n').map(bytes) },
);
const headerBlock = fc
  .array(fc.tuple(fc.constantFrom('K', 'Nats-Msg-Id', 'X'), fc.stringMatching(/^[a-z0-9 ]{0,12}$/)), { maxLength: 3 })
  .map((kv) => bytes(`NATS/1.0\r\n${kv.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`));
const json = fc.oneof(
  fc.constantFrom(
    '{}',
    '{"verbose":false,"pedantic":false}',
    '{"headers":true,"verbose":false}',
    '{"echo":false}',
    '[1]',
    '{',
    'null',
  ),
  fc
    .dictionary(
      fc.constantFrom('verbose', 'pedantic', 'name', 'headers', 'lang', 'x'),
      fc.oneof(fc.boolean(), fc.string({ maxLength: 8 })),
      { maxKeys: 3 },
    )
    .map((o) => JSON.stringify(o)),
);

function line(...parts: Buffer[]): Buffer {
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [bytes(' '), p])).concat([bytes('\r\n')]));
}
const num = (n: number) => bytes(String(n));

const msgWithHeaders = fc.tuple(headerBlock, payload).map(([h, p]) => ({ h, p }));

/** One well-formed frame of an operation a peer may send in `role`. */
export function validFrame(role: FrameRole): fc.Arbitrary<Buffer> {
  const common = [
    fc.constantFrom('PING\r\n', 'PONG\r\n', 'ping\r\n', '+OK\r\n', "-ERR 'Stale Connection'\r\n").map(bytes),
    json.map((j) => line(bytes('INFO'), bytes(j))),
  ];
  if (role === 'client') {
    return fc.oneof(
      ...common,
      json.map((j) => line(bytes('CONNECT'), bytes(j))),
      fc
        .tuple(subject, fc.option(subject), payload)
        .map(([s, r, p]) => Buffer.concat([line(bytes('PUB'), s, ...(r ? [r] : []), num(p.length)), p, bytes('\r\n')])),
      fc
        .tuple(subject, fc.option(subject), msgWithHeaders)
        .map(([s, r, m]) =>
          Buffer.concat([
            line(bytes('HPUB'), s, ...(r ? [r] : []), num(m.h.length), num(m.h.length + m.p.length)),
            m.h,
            m.p,
            bytes('\r\n'),
          ]),
        ),
      fc.tuple(subject, fc.option(token), sid).map(([s, q, i]) => line(bytes('SUB'), s, ...(q ? [q] : []), i)),
      fc.tuple(sid, fc.option(fc.nat(20))).map(([i, m]) => line(bytes('UNSUB'), i, ...(m === null ? [] : [num(m)]))),
    );
  }
  if (role === 'server') {
    return fc.oneof(
      ...common,
      fc
        .tuple(subject, sid, fc.option(subject), payload)
        .map(([s, i, r, p]) =>
          Buffer.concat([line(bytes('MSG'), s, i, ...(r ? [r] : []), num(p.length)), p, bytes('\r\n')]),
        ),
      fc
        .tuple(subject, sid, fc.option(subject), msgWithHeaders)
        .map(([s, i, r, m]) =>
          Buffer.concat([
            line(bytes('HMSG'), s, i, ...(r ? [r] : []), num(m.h.length), num(m.h.length + m.p.length)),
            m.h,
            m.p,
            bytes('\r\n'),
          ]),
        ),
    );
  }
  // leaf: LS+/LS-, LMSG and the header HMSG in their four shapes (plain, reply, `+ reply queues`, `| queues`).
  const shape = fc.oneof(
    fc.constant<Buffer[]>([]),
    subject.map((r) => [r]),
    fc.tuple(subject, fc.array(token, { minLength: 1, maxLength: 3 })).map(([r, qs]) => [bytes('+'), r, ...qs]),
    fc.array(token, { minLength: 1, maxLength: 3 }).map((qs) => [bytes('|'), ...qs]),
  );
  return fc.oneof(
    ...common,
    json.map((j) => line(bytes('CONNECT'), bytes(j))),
    fc
      .tuple(subject, fc.option(fc.tuple(token, fc.nat(9))))
      .map(([s, q]) => line(bytes('LS+'), s, ...(q ? [q[0], num(q[1])] : []))),
    fc.tuple(subject, fc.option(token)).map(([s, q]) => line(bytes('LS-'), s, ...(q ? [q] : []))),
    fc
      .tuple(subject, shape, payload)
      .map(([s, sh, p]) => Buffer.concat([line(bytes('LMSG'), s, ...sh, num(p.length)), p, bytes('\r\n')])),
    fc
      .tuple(subject, shape, msgWithHeaders)
      .map(([s, sh, m]) =>
        Buffer.concat([
          line(bytes('HMSG'), s, ...sh, num(m.h.length), num(m.h.length + m.p.length)),
          m.h,
          m.p,
          bytes('\r\n'),
        ]),
      ),
  );
}

/** One change to a stream; positions are taken modulo the stream's length. */
export type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'insert'; at: number; data: Buffer }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'number'; nth: number; value: string }
  | { kind: 'size'; nth: number; value: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'longLine'; at: number; length: number };

function mutation(opts: FrameOptions): fc.Arbitrary<Mutation> {
  const hostileNumbers = [
    '999999999999999',
    '9999999999999999999999',
    '1234567890',
    '999999999',
    '4294967296',
    '-1',
    '-999999999999999',
    '1e9',
    '0x10',
    '+5',
    '00000000000000000001',
    '',
    String(opts.maxPayload),
    String(opts.maxPayload + 1),
    String(opts.maxPayload + 3),
    '0',
  ];
  // Message sizes at and past max_payload (and past max_control_line, so a payload buffer made past the limit shows
  // in a bound on what the parser holds), too long to parse, negative.
  const hostileSizes = [
    String(opts.maxPayload),
    String(opts.maxPayload + 1),
    String(opts.maxPayload + 3),
    String(opts.maxPayload + opts.maxControlLine),
    '999999999',
    '999999999999999',
    '-1',
  ];
  return fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(),
      byte: fc.constantFrom(0x0d, 0x0a, 0x20, 0x09, 0x00, 0xff, 0x2b, 0x7c, 0x43, 0x50, 0x49),
    }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      data: fc.oneof(
        fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
        fc.constantFrom('\r\n', ' ', 'PING', 'INFO ', 'C', '\xff').map(bytes),
      ),
    }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('number' as const), nth: fc.nat(), value: fc.constantFrom(...hostileNumbers) }),
    fc.record({ kind: fc.constant('size' as const), nth: fc.nat(), value: fc.constantFrom(...hostileSizes) }),
    fc.record({ kind: fc.constant('size' as const), nth: fc.nat(), value: fc.constantFrom(...hostileSizes) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
    // Bytes with no line end around max_control_line: a partial line that must be refused as it grows.
    fc.record({
      kind: fc.constant('longLine' as const),
      at: fc.nat(),
      length: fc.integer({ min: opts.maxControlLine - 8, max: opts.maxControlLine + 16 }),
    }),
  );
}

/** Applies `m` to `s` (a new buffer). */
export function mutate(s: Buffer, m: Mutation): Buffer {
  const at =
    s.length === 0 ? 0 : (m as { at?: number }).at === undefined ? 0 : (m as { at: number }).at % (s.length + 1);
  switch (m.kind) {
    case 'flip': {
      if (s.length === 0) return s;
      const out = Buffer.from(s);
      out[at % s.length] = m.byte;
      return out;
    }
    case 'insert':
      return Buffer.concat([s.subarray(0, at), m.data, s.subarray(at)]);
    case 'delete':
      return Buffer.concat([s.subarray(0, at), s.subarray(at + m.length)]);
    case 'truncate':
      return s.subarray(0, at);
    case 'duplicate':
      return Buffer.concat([s.subarray(0, at + m.length), s.subarray(at)]);
    case 'longLine':
      return Buffer.concat([s.subarray(0, at), Buffer.alloc(m.length, 0x61), s.subarray(at)]);
    case 'number':
    case 'size': {
      // The nth run of digits (wrapping around), as sizes, sids and weights appear in control lines; for `size`,
      // only a run that ends its line (where every message's total size is).
      const runs: [number, number][] = [];
      const re = m.kind === 'size' ? /\d+(?=\r\n)/g : /\d+/g;
      const text = s.toString('latin1');
      for (let r = re.exec(text); r !== null; r = re.exec(text)) runs.push([r.index, r.index + r[0].length]);
      if (runs.length === 0) return s;
      const [a, b] = runs[m.nth % runs.length]!;
      return Buffer.concat([s.subarray(0, a), bytes(m.value), s.subarray(b)]);
    }
  }
}

export interface HostileStreamOptions extends FrameOptions {
  /** Most frames in one stream (default 12). */
  maxFrames?: number;
  /** Most mutations applied (default 3). */
  maxMutations?: number;
  /** Bytes put in front of every stream, unmutated (a CONNECT with the token, to get past admission). */
  preamble?: Buffer;
}

/** Well-formed frames of `role`, joined, mutated; sometimes plain random bytes. */
export function hostileStream(role: FrameRole, opts: HostileStreamOptions): fc.Arbitrary<Buffer> {
  const mutated = fc
    .tuple(
      fc.array(validFrame(role), { maxLength: opts.maxFrames ?? 12 }),
      fc.array(mutation(opts), { maxLength: opts.maxMutations ?? 3 }),
    )
    .map(([frames, ms]) => ms.reduce(mutate, Buffer.concat(frames)));
  const stream = fc.oneof(
    { weight: 8, arbitrary: mutated },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)) },
  );
  return opts.preamble === undefined ? stream : stream.map((s) => Buffer.concat([opts.preamble!, s]));
}

/** Where to cut a stream into chunks: sorted distinct offsets inside it. */
export function cutsOf(length: number, raw: readonly number[]): number[] {
  if (length === 0) return [];
  return [...new Set(raw.map((c) => c % length))].filter((c) => c > 0).sort((a, b) => a - b);
}

/** The stream cut at `cuts` (from cutsOf). */
export function chunksOf(stream: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(stream.subarray(prev, c));
    prev = c;
  }
  out.push(stream.subarray(prev));
  return out;
}

/**
 * What one Buffer costs beside its bytes, as the parser's retainedBytes counts it (its own ArrayBuffer measured at ~200 B
 * of V8 objects and backing-store record on Node 20); a bound for tests, a little above the parser's figure.
 */
export const BUFFER_OBJECT_BYTES = 256;

/** The limits a parser under test runs with: a server's INFO (server and leaf roles) has a bound of its own. */
export interface HeldLimits extends FrameOptions {
  maxInfoLine: number;
}

/**
 * The most a parser of `role` may hold between reads of `stream` (Parser#retainedBytes: memory, not bytes of the line):
 * one buffer, a split payload's (max_payload and its CRLF) or a partial line's (an op word of at most 7 bytes, one
 * blank, the arguments and the CR the line may end with), and that buffer's own cost. Only a server's INFO, read in
 * the roles that receive one, may be as long as maxInfoLine, and only a stream with an INFO op word at the start of
 * a line (where an operation can begin: after a LF, or at the stream's start) can hold one.
 */
export function heldBound(role: FrameRole, stream: Buffer, limits: HeldLimits): number {
  const info = role !== 'client' && /(?:^|\n)info[ \t]/i.test(stream.toString('latin1'));
  const line = info ? Math.max(limits.maxInfoLine, limits.maxControlLine) : limits.maxControlLine;
  return Math.max(limits.maxPayload + 2, 7 + 1 + line + 1) + BUFFER_OBJECT_BYTES;
}
