// What the parser calls (ProtocolHandler) and what it is given (its limits and options): the contract between
// parser.ts and the connection ends that use it (clients, leaf links, the uplink, raw test peers).
import type { ProtocolError } from './errors.js';
import type { Op } from './ops.js';

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
  /** onLeafMsg for the message `buf[start, end)` of the read chunk (no slice made); preferred when present. */
  onLeafMsgAt?(
    subject: string,
    reply: string | undefined,
    queues: readonly string[],
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
  ): void;
  onPing(): void;
  onPong(): void;
  onOk?(): void;
  onErr?(text: string): void;
  /** The stream is unusable from here on; the parser ignores further input. */
  onProtocolError(err: ProtocolError, detail: string): void;
  /**
   * One operation refused, the stream going on: its subject, reply, queue or sid is not UTF-8 (`err` is
   * `Invalid Subject`, or `Invalid Publish Subject` for a message). A refused message's payload was read and
   * dropped. Without this method such operations are dropped silently.
   */
  onRefused?(op: Op, err: ProtocolError, detail: string): void;
  /**
   * A message over max_payload (and within ParserOptions.skipOversize) is being read past, never retained: `size` bytes
   * of header and payload on `subject` are dropped and the stream goes on. Called once per such message, at its line.
   */
  onOversize?(op: Op, subject: string, size: number): void;
}

export interface ParserLimits {
  /** Longest control line, counting the arguments (nats-server's max_control_line). */
  maxControlLine: number;
  /** Largest message any operation may declare (bytes, headers included): PUB, HPUB, MSG, HMSG, LMSG. */
  maxPayload: number;
}

export interface ParserOptions extends ParserLimits {
  /**
   * The peer must send CONNECT before anything else: any other first byte is an `Authorization Violation` at once,
   * before anything of it is retained (nats-server parser.go OP_START with authSet; a leafnode port always expects
   * CONNECT). Cleared by the first CONNECT.
   */
  expectConnect?: boolean;
  /**
   * A message over max_payload but at most this many bytes is read past and dropped (onOversize) instead of ending
   * the stream; larger ones still end it with `Maximum Payload Violation`. For a leafnode peer, whose server may
   * allow larger messages than ours: nats-server checks no size on a leaf link, so one large message there must not
   * end the link for every client behind it. Nothing of a skipped message is retained. Absent or 0: none is skipped.
   */
  skipOversize?: number;
  /**
   * The longest INFO line the server and leaf roles read (a server's INFO is not bound by our max_control_line; a
   * client's is). Default parser.ts INFO_LINE_MAX (1 MiB).
   */
  maxInfoLine?: number;
}
