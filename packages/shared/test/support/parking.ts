// Test support for memory-before-authentication tests: open many connections that each send bytes a server should
// refuse or bound (a partial line, a payload before CONNECT) and never finish, then read the server's RSS before and
// after. Exported as `@event-broker/shared/testing/parking`. Openers read the INFO line first (and upgrade to TLS
// after it, as NATS clients do); whatever the server answers later is discarded.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { HOST, readRssKiB, settledRssKiB } from './processes.js';

/** Opens one connection and resolves once the server's INFO was read (and TLS is up, for a TLS opener). */
export type Opener = () => Promise<Duplex>;

const OPEN_MS = 10_000;

/** Reads up to the INFO line on a fresh TCP socket; resolves with the socket (flowing, data discarded from here). */
function afterInfo(socket: net.Socket): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let head = '';
    const timer = setTimeout(() => fail(new Error('no INFO line')), OPEN_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n')) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

/**
 * What the server sends after the INFO (an -ERR) is read and dropped: a paused socket would never see the server's
 * FIN, and its close is what tells a refused connection from a parked one.
 */
function discardInput(s: Duplex): void {
  s.on('error', () => {});
  s.on('data', () => {});
}

/** Plain TCP: the INFO, then anything else the server says is discarded. */
export function plainOpener(port: number): Opener {
  return async () => {
    const s = await afterInfo(net.connect(port, HOST));
    discardInput(s);
    return s;
  };
}

/** TLS after the plaintext INFO (nats-server's default), presenting `cert`/`key` when given. */
export function tlsOpener(port: number, files: { ca: string; cert?: string; key?: string }): Opener {
  const ca = fs.readFileSync(files.ca);
  const cert = files.cert === undefined ? undefined : fs.readFileSync(files.cert);
  const key = files.key === undefined ? undefined : fs.readFileSync(files.key);
  return async () => {
    const plain = await afterInfo(net.connect(port, HOST));
    const secure = tls.connect({ socket: plain, ca, servername: 'localhost', ...(cert && { cert }), ...(key && { key }) });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no TLS handshake')), OPEN_MS);
      secure.once('secureConnect', () => (clearTimeout(timer), resolve()));
      secure.once('error', (err) => (clearTimeout(timer), reject(err)));
    });
    discardInput(secure);
    return secure;
  };
}

export interface ParkOptions {
  /** How many connections. */
  count: number;
  open: Opener;
  /** What connection `i` sends, once, and never completes. */
  bytes(i: number): Buffer;
  /** Connections opened at once (a burst of TLS handshakes is slow on a busy machine). */
  batch?: number;
}

export interface ParkedConnections {
  /** How many the server has not closed (yet). */
  open(): number;
  closeAll(): void;
}

/** Opens the connections, each sending its bytes; resolves once every write was handed to the kernel or failed. */
export async function park(opts: ParkOptions): Promise<ParkedConnections> {
  const sockets: Duplex[] = [];
  const closed = new Set<Duplex>();
  const batch = opts.batch ?? 20;
  for (let start = 0; start < opts.count; start += batch) {
    const ids = Array.from({ length: Math.min(batch, opts.count - start) }, (_, k) => start + k);
    await Promise.all(
      ids.map(async (i) => {
        const s = await opts.open();
        sockets.push(s);
        s.once('close', () => closed.add(s));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, OPEN_MS);
          s.write(opts.bytes(i), () => (clearTimeout(timer), resolve()));
          s.once('close', () => (clearTimeout(timer), resolve()));
        });
      }),
    );
  }
  return {
    open: () => sockets.length - closed.size,
    closeAll: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

export interface ParkingFigure {
  baselineKiB: number;
  afterKiB: number;
  /** (after - baseline) / count, KiB: what one such connection costs the server. */
  perConnectionKiB: number;
  /** Connections the server still held when the RSS was read. */
  stillOpen: number;
}

/** RSS of `pid` settled, then `opts.count` connections parked, then RSS settled again; the connections are closed. */
export async function measureParking(pid: number, opts: ParkOptions): Promise<ParkingFigure> {
  const baselineKiB = await settledRssKiB(pid);
  const parked = await park(opts);
  try {
    const afterKiB = await settledRssKiB(pid);
    return { baselineKiB, afterKiB, perConnectionKiB: (afterKiB - baselineKiB) / opts.count, stillOpen: parked.open() };
  } finally {
    parked.closeAll();
  }
}

/** One line for t.diagnostic. */
export function describeFigure(who: string, f: ParkingFigure): string {
  return `${who}: RSS ${(f.baselineKiB / 1024).toFixed(1)} -> ${(f.afterKiB / 1024).toFixed(1)} MiB, ${f.perConnectionKiB.toFixed(1)} KiB per connection, ${f.stillOpen} still open`;
}

export { readRssKiB };
