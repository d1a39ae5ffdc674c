// Who verified the client a leaf forwards a message for. The gateway's uplink puts the publishing client's
// AuthContext (server/auth-context.ts) on every message it sends upstream for that client, in one header that no
// client can set: a copy the client wrote is removed (names compared without case, as NATS headers are), and the
// header is removed from what comes down to clients too, so no external client learns another's identity. The
// event service's intake reads it back (event-service handlers/authcontext.ts). The stamp is built once per client;
// per message the uplink writes it beside the client's bytes (Outbound.writeSplicedLeafMsg), copying nothing else.
import { createHash } from 'node:crypto';
import type { HeaderValues } from '../protocol/headers.js';
import type { Outbound } from '../protocol/outbound.js';
import { AUTH_TYPES, type AuthContext, type AuthType } from '../server/auth-context.js';
import { writeLeafMsg, type LeafMessage } from './peer.js';

/** The header's name. Not `Nats-` prefixed: that prefix is NATS's own (JetStream, services). */
export const AUTH_HEADER = 'Gateway-Auth';

/**
 * The most bytes a stamp adds to a message: a header block of its own (`NATS/1.0`, the line, the blank line) for a
 * message that had none. The gateway keeps clients this far below the upstream's max_payload, so a stamped message
 * still fits it. A stamp that would be larger drops `authclaims`, then names a very long `authid` by its digest.
 */
export const AUTH_STAMP_MAX_BYTES = 1024;

const KNOWN_TYPES: ReadonlySet<string> = new Set(AUTH_TYPES);
const BLOCK_PREFIX = 'NATS/1.0\r\n';
/** The name, lower case, as bytes: what header lines are compared with. */
const NAME_TEXT = AUTH_HEADER.toLowerCase();
const NAME = Buffer.from(NAME_TEXT, 'latin1');

/** One client's stamp, both forms over one buffer. */
export interface AuthStamp {
  /** `NATS/1.0\r\nGateway-Auth: <json>\r\n\r\n`: the header block of a message that had none. */
  readonly block: Buffer;
  /** `Gateway-Auth: <json>\r\n\r\n`: put in place of the blank line that ends a message's own header block. */
  readonly tail: Buffer;
}

/**
 * The header's value: the AuthContext as one line of JSON, ASCII only (non-ASCII escaped, as JSON allows), so no
 * header decoder can read a line break or a different text into it.
 */
export function encodeAuthHeaderValue(auth: AuthContext): string {
  const fields = (a: AuthContext): string =>
    JSON.stringify({
      authtype: a.authtype,
      ...(a.authid !== undefined && { authid: a.authid }),
      ...(a.authclaims !== undefined && { authclaims: a.authclaims }),
    }).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const room = AUTH_STAMP_MAX_BYTES - BLOCK_PREFIX.length - AUTH_HEADER.length - 2 - 4;
  let value = fields(auth);
  if (value.length <= room) return value;
  const { authclaims: _dropped, ...bare } = auth;
  value = fields(bare);
  if (value.length <= room) return value;
  // An identity this long is no one's name in practice; its digest still tells principals apart.
  return fields({
    authtype: auth.authtype,
    authid: `sha256:${createHash('sha256')
      .update(auth.authid ?? '')
      .digest('base64url')}`,
  });
}

/** The stamp for a client verified as `auth`. */
export function authStamp(auth: AuthContext): AuthStamp {
  const block = Buffer.from(`${BLOCK_PREFIX}${AUTH_HEADER}: ${encodeAuthHeaderValue(auth)}\r\n\r\n`, 'latin1');
  return { block, tail: block.subarray(BLOCK_PREFIX.length) };
}

/** The header's value read back; undefined when it is not an AuthContext (unknown authtype, wrong types, not JSON). */
export function decodeAuthHeaderValue(value: string): AuthContext | undefined {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const { authtype, authid, authclaims } = v as Record<string, unknown>;
  if (typeof authtype !== 'string' || !KNOWN_TYPES.has(authtype)) return undefined;
  if (
    (authid !== undefined && typeof authid !== 'string') ||
    (authclaims !== undefined && typeof authclaims !== 'string')
  )
    return undefined;
  return Object.freeze({
    authtype: authtype as AuthType,
    ...(authid !== undefined && { authid }),
    ...(authclaims !== undefined && { authclaims }),
  });
}

/** Every value of the header in decoded headers (names compared without case). */
export function authHeaderValues(headers: HeaderValues | undefined): string[] {
  const out: string[] = [];
  if (headers === undefined) return out;
  for (const name of Object.keys(headers)) {
    if (name.length !== AUTH_HEADER.length || name.toLowerCase() !== NAME_TEXT) continue;
    const v = headers[name]!;
    if (Array.isArray(v)) out.push(...v);
    else out.push(v);
  }
  return out;
}

// --- header blocks ------------------------------------------------------------------------------------------------
// Decoders split a block into lines differently: ours and nats.js at CRLF, trimming what surrounds a name (a CR, a
// LF, any Unicode blank); nats.go's textproto at any LF, a line that starts with a blank continuing the one before.
// So lines are taken at every LF here, and one counts as a copy of the header when the name appears, in any case,
// anywhere before its first colon (or anywhere in it, when it has none: a colon on a later line would complete it
// for a CRLF decoder). A header whose own name merely contains ours is removed too. The first line is `NATS/1.0` and
// a status for every decoder: never a header. Every scan stops at the end of the header block, whatever follows.

/** The first LF in `msg[from, end)`, or `end`. */
function lineEnd(msg: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) if (msg[i] === 0x0a) return i;
  return end;
}

/** Whether the line `msg[s, e)` names the header (see above). */
function namesHeader(msg: Buffer, s: number, e: number): boolean {
  const n = NAME.length;
  for (let i = s; i + n <= e; i++) {
    const c = msg[i]!;
    if (c === 0x3a) return false; // ':' before the name: it is in the value
    if ((c | 0x20) !== NAME[0]) continue;
    let j = 1;
    while (j < n) {
      let d = msg[i + j]!;
      if (d >= 0x41 && d <= 0x5a) d |= 0x20;
      if (d !== NAME[j]) break;
      j++;
    }
    if (j === n) return true;
  }
  return false;
}

/**
 * Whether the header block `msg[0, hdrLen)` can take a stamp as it is (the stamp's tail in place of its final CRLF):
 * it ends in CRLF CRLF, every LF follows a CR, and no line names the header. One pass over the header bytes.
 */
export function blockTakesStamp(msg: Buffer, hdrLen: number): boolean {
  if (
    hdrLen < 4 ||
    msg[hdrLen - 4] !== 0x0d ||
    msg[hdrLen - 3] !== 0x0a ||
    msg[hdrLen - 2] !== 0x0d ||
    msg[hdrLen - 1] !== 0x0a
  )
    return false;
  for (let lf = lineEnd(msg, 0, hdrLen); lf < hdrLen - 1;) {
    if (lf === 0 || msg[lf - 1] !== 0x0d) return false;
    const next = lineEnd(msg, lf + 1, hdrLen);
    if (namesHeader(msg, lf + 1, next)) return false;
    lf = next;
  }
  return true;
}

/** Whether any line of the block but the first names the header. */
function mentionsHeader(msg: Buffer, hdrLen: number): boolean {
  for (let lf = lineEnd(msg, 0, hdrLen); lf < hdrLen;) {
    const next = lineEnd(msg, lf + 1, hdrLen);
    if (namesHeader(msg, lf + 1, next)) return true;
    lf = next;
  }
  return false;
}

/**
 * The header block's lines, the header's and blank ones removed, each ending in CRLF (a CR before its LF dropped,
 * then CRLF written): what a stamp's tail, or the closing CRLF, follows. The first line is kept whatever it holds.
 */
function keptLines(msg: Buffer, hdrLen: number): Buffer {
  const parts: Buffer[] = [];
  for (let s = 0, first = true; s < hdrLen; first = false) {
    const e = lineEnd(msg, s, hdrLen);
    const end = e > s && msg[e - 1] === 0x0d ? e - 1 : e;
    if (first || (end > s && !namesHeader(msg, s, end))) parts.push(msg.subarray(s, end), CRLF);
    s = e + 1;
  }
  return Buffer.concat(parts);
}

/** `msg` (header block of `hdrLen`, then the payload) with `stamp` added and any copy of the header removed: a new buffer. */
export function stampedMessage(msg: Buffer, hdrLen: number, stamp: AuthStamp): { hdrLen: number; msg: Buffer } {
  let head: Buffer;
  let tail: Buffer;
  if (hdrLen === 0) {
    head = EMPTY;
    tail = stamp.block;
  } else if (blockTakesStamp(msg, hdrLen)) {
    head = msg.subarray(0, hdrLen - 2);
    tail = stamp.tail;
  } else {
    head = keptLines(msg, hdrLen);
    tail = stamp.tail;
  }
  return { hdrLen: head.length + tail.length, msg: Buffer.concat([head, tail, msg.subarray(hdrLen)]) };
}

/**
 * `msg` without any line naming the header, or `msg` itself when it has none (the usual case: no copy made). A
 * block left with its first line alone stays a block (`NATS/1.0\r\n\r\n`).
 */
export function withoutAuthHeader(msg: Buffer, hdrLen: number): { hdrLen: number; msg: Buffer } {
  if (hdrLen === 0 || !mentionsHeader(msg, hdrLen)) return { hdrLen, msg };
  const head = keptLines(msg, hdrLen);
  return { hdrLen: head.length + 2, msg: Buffer.concat([head, CRLF, msg.subarray(hdrLen)]) };
}

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * Writes `m` for the hub with `stamp` (peer.ts writeLeafMsg's counterpart); returns the payload bytes written. The
 * usual message (no headers, or a well-formed block without the header) is spliced as it is written; only a block
 * that holds a copy of the header, or is malformed, is rebuilt first. A hub without headers gets the payload alone.
 */
export function writeStampedLeafMsg(out: Outbound, m: LeafMessage, stamp: AuthStamp, hubHeaders: boolean): number {
  if (!hubHeaders) return writeLeafMsg(out, m, false);
  const { hdrLen, msg } = m;
  if (hdrLen === 0) {
    out.writeSplicedLeafMsg(m.subject, m.reply, m.queues, 0, msg, 0, 0, stamp.block);
    return msg.length + stamp.block.length;
  }
  if (blockTakesStamp(msg, hdrLen)) {
    out.writeSplicedLeafMsg(m.subject, m.reply, m.queues, hdrLen, msg, hdrLen - 2, 2, stamp.tail);
    return msg.length - 2 + stamp.tail.length;
  }
  const s = stampedMessage(msg, hdrLen, stamp);
  out.writeLeafMsg(m.subject, m.reply, m.queues, s.hdrLen, s.msg);
  return s.msg.length;
}
