// A ProtocolHandler that records every call as a plain array, so parses of one stream fed in different chunks can be
// compared with deepEqual, and a parse() wrapper that watches what the parser holds between calls. Exported as
// `@event-broker/shared/testing/recorder`.
import { Parser, type Op, type ParserOptions, type ParserRole, type ProtocolError, type ProtocolHandler } from '../../src/protocol/index.js';

export type Event = (string | number | undefined)[];

export class Recorder implements ProtocolHandler {
  events: Event[] = [];
  onConnect(json: string) {
    this.events.push(['CONNECT', json]);
  }
  onInfo(json: string) {
    this.events.push(['INFO', json]);
  }
  onPub(subject: string, reply: string | undefined, hdrLen: number, msg: Buffer) {
    this.events.push(['PUB', subject, reply, hdrLen, msg.toString('latin1')]);
  }
  onSub(subject: string, queue: string | undefined, sid: string) {
    this.events.push(['SUB', subject, queue, sid]);
  }
  onUnsub(sid: string, max: number | undefined) {
    this.events.push(['UNSUB', sid, max]);
  }
  onMsg(subject: string, sid: string, reply: string | undefined, hdrLen: number, msg: Buffer) {
    this.events.push(['MSG', subject, sid, reply, hdrLen, msg.toString('latin1')]);
  }
  onLeafSub(subject: string, queue: string | undefined, weight: number) {
    this.events.push(['LS+', subject, queue, weight]);
  }
  onLeafUnsub(subject: string, queue: string | undefined) {
    this.events.push(['LS-', subject, queue]);
  }
  onLeafMsg(subject: string, reply: string | undefined, queues: readonly string[], hdrLen: number, msg: Buffer) {
    this.events.push(['LMSG', subject, reply, queues.join(','), hdrLen, msg.toString('latin1')]);
  }
  onPing() {
    this.events.push(['PING']);
  }
  onPong() {
    this.events.push(['PONG']);
  }
  onOk() {
    this.events.push(['+OK']);
  }
  onErr(text: string) {
    this.events.push(['-ERR', text]);
  }
  onRefused(op: Op, err: ProtocolError) {
    this.events.push(['REFUSED', op, err.text]);
  }
  onOversize(op: Op, subject: string, size: number) {
    this.events.push(['OVERSIZE', op, subject, size]);
  }
  onProtocolError(err: ProtocolError) {
    this.events.push(['ERROR', err.text || err.closeReason]);
  }
}

export interface Parsed {
  events: Event[];
  /** The most the parser held between two calls (Parser#retainedBytes). */
  maxHeld: number;
}

export interface ParseOptions extends ParserOptions {
  /**
   * Pause at every CONNECT, as a connection waiting for an asynchronous admission does, and resume once one more
   * chunk has arrived (and was kept unparsed); default false. The events must not change.
   */
  pauseAtConnect?: boolean;
}

/** Parses `chunks` in order with a fresh parser and Recorder. */
export function parseChunks(chunks: readonly Buffer[], role: ParserRole, opts: ParseOptions): Parsed {
  const rec = new Recorder();
  let parser: Parser | undefined;
  let paused = false;
  if (opts.pauseAtConnect) {
    const onConnect = rec.onConnect.bind(rec);
    rec.onConnect = (json: string) => {
      onConnect(json);
      parser!.pause();
      paused = true;
    };
  }
  parser = new Parser(rec, role, opts);
  let maxHeld = 0;
  for (const c of chunks) {
    const wasPaused = paused;
    parser.parse(c);
    maxHeld = Math.max(maxHeld, parser.retainedBytes);
    if (wasPaused) {
      paused = false;
      parser.resume();
      maxHeld = Math.max(maxHeld, parser.retainedBytes);
    }
  }
  while (paused) {
    paused = false;
    parser.resume();
  }
  maxHeld = Math.max(maxHeld, parser.retainedBytes);
  return { events: rec.events, maxHeld };
}
