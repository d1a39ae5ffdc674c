// A raw NATS wire client for protocol tests: bytes out, regexes over the bytes that came back. Shaped after
// nats-server's test/test.go (sendProto / expectResult), written for node:net. Every wait is bounded; input is
// kept as latin1 text so string offsets are byte offsets (HMSG/MSG byte counts stay checkable with `.length`).
// Plain TCP or TLS after the plaintext INFO (nats-server's default before handshake_first), any NATS port: a
// client port, a leafnode port, the gateway's.
import net from 'node:net';
import tls from 'node:tls';
import type { AfterHook } from './tmp.js';
import { WAIT_MS, until, within } from './wait.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** How the server ended the connection: a FIN (`end`), a reset (`reset`), or another socket error. */
export type CloseKind = 'end' | 'reset' | 'error';

export interface Closed {
  readonly kind: CloseKind;
  /** Everything received and not consumed by an `expect` before the close. */
  readonly rest: string;
}

export interface RawConnectOptions {
  /** Bound on the TCP connect plus the INFO line. */
  timeoutMs?: number;
  /** Default true: every `send` is written at once. */
  noDelay?: boolean;
}

/**
 * How long a raw peer waits for what it expects (an answer, a close) unless told otherwise. Short on purpose: these
 * waits are promptness checks too (a refused peer "is closed" means closed now, not within 10 s), as the service's
 * raw helper's 2 s bound was before test-support. A TLS peer (connectRawTls) waits RAW_TLS_WAIT_MS, the gateway's
 * raw TLS helper's bound.
 */
export const RAW_WAIT_MS = 2000;
export const RAW_TLS_WAIT_MS = 3000;
/** exchange() and exchangeToClose(): a whole session against nats-server, the gateway launcher's 5 s bound. */
const EXCHANGE_WAIT_MS = 5000;

export class RawConn {
  /** The server's INFO, parsed. */
  info: Record<string, unknown> = {};
  /** Our end's port (over TLS, the plain socket's): what a server logs as the peer's `port`. */
  localPort: number | undefined;
  private input = '';
  private closedWith: CloseKind | undefined;
  private lastError: Error | undefined;
  private waiters = new Set<() => void>();

  constructor(
    readonly socket: net.Socket,
    /** The default bound of every wait below. */
    readonly waitMs = RAW_WAIT_MS,
  ) {
    this.localPort = socket.localPort;
    socket.once('connect', () => (this.localPort ??= socket.localPort));
    socket.on('data', (chunk: Buffer) => {
      this.input += chunk.toString('latin1');
      this.wake();
    });
    // A write after the server closed raises EPIPE/ECONNRESET: recorded, never thrown at the test runner.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.lastError = err;
      this.closedWith ??= err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'error';
      this.wake();
    });
    socket.on('end', () => {
      this.closedWith ??= 'end';
      this.wake();
    });
    socket.on('close', () => {
      this.closedWith ??= 'end';
      this.wake();
    });
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  get error(): Error | undefined {
    return this.lastError;
  }

  /** Unconsumed input, without consuming it. */
  get buffered(): string {
    return this.input;
  }

  /** Writes a string (as latin1 bytes, like the Go tests' []byte(proto)) or a Buffer, unless already closed. */
  send(data: string | Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Resolves when `data` has been handed to the kernel (or the socket failed); for pacing many small writes. */
  sendAndDrain(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) return resolve();
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, () => resolve());
    });
  }

  /**
   * Waits until `re` matches the unconsumed input and consumes it up to the end of the match. Anchor with `^` to
   * require the match to be the very next bytes. Rejects on timeout or when the connection closes first, showing
   * what was received.
   */
  async expect(re: RegExp, timeoutMs = this.waitMs): Promise<RegExpExecArray> {
    let match: RegExpExecArray | null = null;
    await this.waitFor(
      () => {
        match = new RegExp(re.source, re.flags.replace('g', '')).exec(this.input);
        if (match) return true;
        if (this.closedWith !== undefined) {
          throw new Error(`connection closed (${this.closedWith}) before ${re}; unconsumed: ${show(this.input)}`);
        }
        return false;
      },
      timeoutMs,
      () => `no ${re} within ${timeoutMs} ms; unconsumed: ${show(this.input)}`,
    );
    const m = match as unknown as RegExpExecArray;
    this.input = this.input.slice(m.index + m[0].length);
    return m;
  }

  /** Waits until at least `n` more bytes arrived and consumes exactly those. */
  async expectBytes(n: number, timeoutMs = this.waitMs): Promise<string> {
    await this.waitFor(
      () => {
        if (this.input.length >= n) return true;
        if (this.closedWith !== undefined) throw new Error(`connection closed (${this.closedWith}) before ${n} bytes`);
        return false;
      },
      timeoutMs,
      () => `only ${this.input.length} of ${n} bytes within ${timeoutMs} ms`,
    );
    const out = this.input.slice(0, n);
    this.input = this.input.slice(n);
    return out;
  }

  /** Waits until `end` arrived and consumes everything up to and including it, which it returns. */
  async readUntil(end: string, timeoutMs = this.waitMs): Promise<string> {
    const m = await this.expect(new RegExp(esc(end)), timeoutMs);
    return m.input.slice(0, m.index + m[0].length);
  }

  /** Waits for the server to close the connection; returns everything received and not consumed before. */
  async readToClose(timeoutMs = this.waitMs): Promise<string> {
    return (await this.expectClosed(timeoutMs)).rest;
  }

  /** Asserts nothing arrives and the connection stays open for `ms`. */
  async expectNothing(ms = 200): Promise<void> {
    await this.waitFor(
      () => {
        if (this.input.length > 0) throw new Error(`expected nothing, got ${show(this.input)}`);
        if (this.closedWith !== undefined)
          throw new Error(`expected nothing, but the connection closed (${this.closedWith})`);
        return false;
      },
      ms,
      undefined,
    );
  }

  /** Waits for the server to close the connection; returns how and what was left unconsumed. */
  async expectClosed(timeoutMs = this.waitMs): Promise<Closed> {
    await this.waitFor(
      () => this.closedWith !== undefined,
      timeoutMs,
      () => `connection still open after ${timeoutMs} ms; unconsumed: ${show(this.input)}`,
    );
    const rest = this.input;
    this.input = '';
    return { kind: this.closedWith as CloseKind, rest };
  }

  /** Sends PING and waits for the PONG: everything the server produced for earlier input precedes it. */
  async flush(timeoutMs = this.waitMs): Promise<void> {
    this.send('PING\r\n');
    await this.expect(/PONG\r\n/, timeoutMs);
  }

  /** Pauses reading from the socket (the kernel buffers fill and the server sees a slow reader). */
  pause(): void {
    this.socket.pause();
  }

  close(): void {
    this.socket.destroy();
  }

  /**
   * Polls `done` on every input/close event and at the deadline. With `onTimeout` unset, the timeout is the
   * success case (expectNothing).
   */
  private waitFor(done: () => boolean, timeoutMs: number, onTimeout: (() => string) | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): boolean => {
        try {
          if (done()) {
            finish();
            resolve();
            return true;
          }
        } catch (err) {
          finish();
          reject(err);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        if (check()) return;
        finish();
        if (onTimeout) reject(new Error(onTimeout()));
        else resolve();
      }, timeoutMs);
      const waiter = (): void => void check();
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
      check();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** Opens a TCP connection and reads the INFO line; nothing else is sent. */
export async function connectRaw(target: Endpoint, opts: RawConnectOptions = {}): Promise<RawConn> {
  const timeoutMs = opts.timeoutMs ?? RAW_WAIT_MS;
  const socket = net.connect({ host: target.host, port: target.port, noDelay: opts.noDelay ?? true });
  const conn = new RawConn(socket);
  try {
    const m = await conn.expect(/^INFO\s+(\{.*\})\s*\r\n/, timeoutMs);
    conn.info = JSON.parse(m[1] as string) as Record<string, unknown>;
  } catch (err) {
    conn.close();
    throw err;
  }
  return conn;
}

/** TLS files for connectRawTls (PEM text or buffers); without cert and key no client certificate is presented. */
export interface RawTlsFiles {
  readonly ca: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
}

/**
 * Opens a TCP connection, reads the plaintext INFO, then upgrades to TLS on the same socket (the NATS way before
 * handshake_first) and returns the connection over TLS; nothing else is sent. Rejects when the handshake fails.
 */
export async function connectRawTls(
  target: Endpoint,
  files: RawTlsFiles,
  opts: RawConnectOptions = {},
): Promise<RawConn> {
  const timeoutMs = opts.timeoutMs ?? RAW_TLS_WAIT_MS;
  const plain = net.connect({ host: target.host, port: target.port, noDelay: opts.noDelay ?? true });
  let head = '';
  let secure: tls.TLSSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no INFO within ${timeoutMs} ms; got ${show(head)}`)), timeoutMs);
      plain.once('error', reject);
      plain.once('close', () => reject(new Error(`closed before INFO; got ${show(head)}`)));
      plain.on('data', function onInfo(chunk: Buffer) {
        head += chunk.toString('latin1');
        const m = /^INFO\s+(\{.*\})\s*\r\n/.exec(head);
        if (m === null) return;
        plain.off('data', onInfo);
        resolve(JSON.parse(m[1] as string) as Record<string, unknown>);
      });
    });
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    plain.on('error', () => {}); // reported by the TLS socket
    secure = tls.connect({
      socket: plain,
      ca: files.ca,
      ...(files.cert !== undefined && { cert: files.cert, key: files.key }),
      servername: 'localhost',
    });
    // Listening at once: bytes the server sends right after the handshake (an -ERR) must not be missed.
    const conn = new RawConn(secure, RAW_TLS_WAIT_MS);
    conn.info = info;
    conn.localPort = plain.localPort;
    await within(
      new Promise<void>((resolve, reject) => {
        secure!.once('secureConnect', () => resolve());
        secure!.once('error', reject);
      }),
      'the TLS handshake',
      timeoutMs,
    );
    return conn;
  } catch (err) {
    secure?.destroy();
    plain.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Connects, sends `CONNECT <json>` and PING, and waits for the PONG (after +OK when verbose). */
export async function connectAndHandshake(
  target: Endpoint,
  connect: Record<string, unknown> = { verbose: false, pedantic: false },
  opts: RawConnectOptions = {},
): Promise<RawConn> {
  const conn = await connectRaw(target, opts);
  try {
    conn.send(`CONNECT ${JSON.stringify(connect)}\r\nPING\r\n`);
    await conn.expect(/PONG\r\n/, opts.timeoutMs ?? RAW_WAIT_MS);
  } catch (err) {
    conn.close();
    throw err;
  }
  return conn;
}

/** `CONNECT` with verbose and pedantic off and `fields` over them, then `lines`, as one write's text. */
function connectThen(fields: Record<string, unknown>, lines: readonly string[]): string {
  return `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...fields })}\r\n${lines.map((l) => `${l}\r\n`).join('')}`;
}

/**
 * Sends `lines` after CONNECT (`connect`'s fields), then PING, and returns every line received before the PONG;
 * the connection is closed. For side-by-side checks of what a server answers.
 */
export async function exchange(
  target: Endpoint,
  connect: Record<string, unknown>,
  lines: readonly string[],
  timeoutMs = EXCHANGE_WAIT_MS,
): Promise<string[]> {
  const conn = await connectRaw(target, { timeoutMs });
  try {
    conn.send(`${connectThen(connect, lines)}PING\r\n`);
    const m = await conn.expect(/(?:^|\n)PONG\r\n/, timeoutMs);
    const before = m.input.slice(0, m.index + (m[0].startsWith('\n') ? 1 : 0));
    return before.split('\r\n').slice(0, -1);
  } finally {
    conn.close();
  }
}

/**
 * Sends `lines` after CONNECT and returns everything received after the INFO line until the server closes the
 * connection: for the refusals that end a connection.
 */
export async function exchangeToClose(
  target: Endpoint,
  connect: Record<string, unknown>,
  lines: readonly string[],
  timeoutMs = EXCHANGE_WAIT_MS,
): Promise<string> {
  const conn = await connectRaw(target, { timeoutMs });
  try {
    conn.send(connectThen(connect, lines));
    return await conn.readToClose(timeoutMs);
  } finally {
    conn.close();
  }
}

/** Collects connections so `t.after` can close every one of them. */
export class RawPool {
  private readonly conns = new Set<RawConn>();
  track(conn: RawConn): RawConn {
    this.conns.add(conn);
    return conn;
  }
  async connect(target: Endpoint, opts?: RawConnectOptions): Promise<RawConn> {
    return this.track(await connectRaw(target, opts));
  }
  async handshake(target: Endpoint, connect?: Record<string, unknown>, opts?: RawConnectOptions): Promise<RawConn> {
    return this.track(await connectAndHandshake(target, connect, opts));
  }
  closeAll(): void {
    for (const c of this.conns) c.close();
    this.conns.clear();
  }
}

/** Sockets that connected and send nothing, as a flood of handshake-less connections does. */
export interface IdleSockets {
  /** Sockets the server has not closed. */
  open(): number;
  closed(): number;
  /** How many received `-ERR 'maximum connections exceeded'`. */
  refused(): number;
  destroy(): void;
}

/**
 * Opens `n` TCP connections to 127.0.0.1:`port` at once that send nothing (no TLS handshake, no upgrade request,
 * no CONNECT); resolves once every one connected or was closed straight away (the server has seen them all).
 * Destroyed after the test.
 */
export async function idleSockets(t: AfterHook, port: number, n: number, ms = WAIT_MS): Promise<IdleSockets> {
  const socks: { s: net.Socket; closed: boolean; input: string }[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    const x = { s, closed: false, input: '' };
    s.on('data', (d: Buffer) => (x.input += d.toString('latin1')));
    s.on('error', () => {}); // a reset is a close
    s.on('close', () => (x.closed = true));
    socks.push(x);
  }
  const idle: IdleSockets = {
    open: () => socks.filter((x) => !x.closed).length,
    closed: () => socks.filter((x) => x.closed).length,
    refused: () => socks.filter((x) => x.input.includes("-ERR 'maximum connections exceeded'")).length,
    destroy: () => socks.forEach((x) => x.s.destroy()),
  };
  t.after(() => idle.destroy());
  await until(() => socks.every((x) => x.s.readyState === 'open' || x.closed), `${n} sockets connected`, ms);
  return idle;
}

/** Escapes a regex literal piece (subjects contain `.`, `*`, `>`). */
export function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function show(s: string): string {
  const cut = s.length > 300 ? `${s.slice(0, 300)}…(${s.length} bytes)` : s;
  return JSON.stringify(cut);
}
