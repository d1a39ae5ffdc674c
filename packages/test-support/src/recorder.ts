// A protocol handler that records every call as a plain array, so parses of one stream fed in different chunks can
// be compared with deepEqual, and a parse() wrapper that watches what the parser holds between calls. Shaped for
// shared's Parser and ProtocolHandler, structurally: test-support imports no workspace package (shared's own tests
// use it), so the parser class is passed in (`chunkParser(Parser)`).

/** What the recorder reads of a protocol error (shared's ProtocolError fits). */
export interface ErrorLike {
  readonly text: string;
  readonly closeReason?: string;
}

export type Event = (string | number | undefined)[];

export class Recorder {
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
  onRefused(op: string, err: ErrorLike) {
    this.events.push(['REFUSED', op, err.text]);
  }
  onOversize(op: string, subject: string, size: number) {
    this.events.push(['OVERSIZE', op, subject, size]);
  }
  onProtocolError(err: ErrorLike) {
    this.events.push(['ERROR', err.text || err.closeReason]);
  }
}

export interface Parsed {
  events: Event[];
  /** The most the parser held between two calls (Parser#retainedBytes). */
  maxHeld: number;
}

/** What parseChunks needs of a parser (shared's Parser fits). */
export interface ChunkParser {
  parse(chunk: Buffer): void;
  pause(): void;
  resume(): void;
  readonly retainedBytes: number;
}

/** A parser class: shared's `Parser`. */
export type ParserClass<Role, Options> = new (handler: Recorder, role: Role, opts: Options) => ChunkParser;

export type ParseOptions<Options> = Options & {
  /**
   * Pause at every CONNECT, as a connection waiting for an asynchronous admission does, and resume once one more
   * chunk has arrived (and was kept unparsed); default false. The events must not change.
   */
  pauseAtConnect?: boolean;
};

/** parseChunks for `Parser`: parses `chunks` in order with a fresh parser and Recorder. */
export function chunkParser<Role, Options>(Parser: ParserClass<Role, Options>) {
  return function parseChunks(chunks: readonly Buffer[], role: Role, opts: ParseOptions<Options>): Parsed {
    const rec = new Recorder();
    let parser: ChunkParser | undefined;
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
  };
}
