// Test support for memory-before-authentication tests: open many connections that each send bytes a server should
// refuse or bound (a partial line, a payload before CONNECT) and never finish, then read the server's RSS before and
// after. Openers read the INFO line first (and upgrade to TLS
// after it, as NATS clients do); whatever the server answers later is discarded. The bytes go in one write, or
// trickled one byte per write so the server reads them one at a time (a peer holding memory through many small reads).
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { HOST, readRssKiB, settledRssKiB } from './processes.js';
import { pace } from './wait.js';

/** Opens one connection and resolves once the server's INFO was read (and TLS is up, for a TLS opener). */
export type Opener = () => Promise<Duplex>;

const OPEN_MS = 10_000;
/**
 * A trickle writes one byte to every connection per round, rounds this far apart: time for the server to read each
 * byte on its own before the next arrives (Nagle is off, so each write leaves as a segment, or a TLS record).
 */
const TRICKLE_ROUND_MS = 1;
/** A trickle of 4,000 rounds takes 5-10 s on a loaded machine; past this it is given up. */
const TRICKLE_MS = 120_000;
/**
 * Before a trickle is measured, as many connections trickle this many bytes each and are closed. A burst of
 * 100,000s of one-byte reads grows the server's heap by ~10 MB of garbage room (the service: ~100 KiB "per
 * connection" in a first trickle, 14-21 KiB in a second on the same process); the baseline must include that, or it
 * hides what the connections themselves hold. Small enough that whatever it held, freed, cannot hide much of that.
 */
const TRICKLE_WARM_UP_BYTES = 400;

/** Reads up to the INFO line on a fresh TCP socket; resolves with the socket (flowing, data discarded from here). */
function afterInfo(socket: net.Socket): Promise<net.Socket> {
  // Small writes leave at once: a trickle's bytes must not be coalesced by Nagle's algorithm.
  socket.setNoDelay(true);
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
    const secure = tls.connect({
      socket: plain,
      ca,
      servername: 'localhost',
      ...(cert && { cert }),
      ...(key && { key }),
    });
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
  /**
   * Send the bytes one byte per write, once every connection is open: a round writes the next byte to each
   * connection, rounds TRICKLE_ROUND_MS apart, so the server reads each byte on its own. Default false (one write).
   * measureParking warms the server up with a short trickle first (TRICKLE_WARM_UP_BYTES).
   */
  trickle?: boolean;
}

export interface ParkedConnections {
  /** How many the server has not closed (yet). */
  open(): number;
  closeAll(): void;
}

/** Writes `data` in one write; resolves once it was handed to the kernel, or the socket closed (bounded). */
function writeOnce(s: Duplex, data: Buffer): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, OPEN_MS);
    s.write(data, () => (clearTimeout(timer), resolve()));
    s.once('close', () => (clearTimeout(timer), resolve()));
  });
}

/**
 * Writes each connection's bytes one byte per write, a round over all connections per TRICKLE_ROUND_MS, skipping
 * connections the server closed; resolves once every write was handed to the kernel (bounded by TRICKLE_MS).
 */
async function trickle(conns: readonly [Duplex, Buffer][]): Promise<void> {
  const rounds = Math.max(0, ...conns.map(([, d]) => d.length));
  const end = Date.now() + TRICKLE_MS;
  for (let k = 0; k < rounds; k++) {
    if (Date.now() > end) throw new Error(`trickle: ${k} of ${rounds} rounds written in ${TRICKLE_MS} ms`);
    for (const [s, d] of conns) if (k < d.length && s.writable) s.write(d.subarray(k, k + 1));
    await pace(TRICKLE_ROUND_MS);
  }
  while (conns.some(([s]) => s.writable && s.writableLength > 0)) {
    if (Date.now() > end) throw new Error(`trickle: writes still pending after ${TRICKLE_MS} ms`);
    await pace(10);
  }
}

/** Opens the connections, each sending its bytes; resolves once every write was handed to the kernel or failed. */
export async function park(opts: ParkOptions): Promise<ParkedConnections> {
  const conns: [Duplex, Buffer][] = [];
  const closed = new Set<Duplex>();
  const batch = opts.batch ?? 20;
  for (let start = 0; start < opts.count; start += batch) {
    const ids = Array.from({ length: Math.min(batch, opts.count - start) }, (_, k) => start + k);
    await Promise.all(
      ids.map(async (i) => {
        const s = await opts.open();
        const data = opts.bytes(i);
        conns.push([s, data]);
        s.once('close', () => closed.add(s));
        if (!opts.trickle) await writeOnce(s, data);
      }),
    );
  }
  if (opts.trickle) await trickle(conns);
  return {
    open: () => conns.length - closed.size,
    closeAll: () => {
      for (const [s] of conns) s.destroy();
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

/**
 * RSS of `pid` settled, then `opts.count` connections parked, then RSS settled again; the connections are closed.
 * A trickle is preceded by a short one, closed, so the baseline includes what many small reads grow in any server.
 */
export async function measureParking(pid: number, opts: ParkOptions): Promise<ParkingFigure> {
  if (opts.trickle)
    (await park({ ...opts, bytes: (i) => opts.bytes(i).subarray(0, TRICKLE_WARM_UP_BYTES) })).closeAll();
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
