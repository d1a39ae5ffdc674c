// Processes and ports for tests and the bench: free loopback ports, waiting for a child to listen, a process's
// RSS from /proc. Every wait is bounded.
import fs from 'node:fs';
import net from 'node:net';
import { WAIT_MS, pace } from './wait.js';

export const HOST = '127.0.0.1';

/** How often waitForPort tries to connect. */
const CONNECT_EVERY_MS = 25;

/** Binds port 0 and releases it: for a server that needs its ports up front (nats-server, a restart in place). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, HOST, resolve);
  });
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Resolves once something accepts on `port`, bounded; rejects early when `alive()` says the process is gone
 * (`describe()` adds what it said, its stderr).
 */
export async function waitForPort(
  port: number,
  alive: () => boolean,
  ms = WAIT_MS,
  describe?: () => string,
): Promise<void> {
  const end = Date.now() + ms;
  const detail = () => (describe ? `: ${describe()}` : '');
  while (Date.now() < end) {
    if (!alive()) throw new Error(`the process to listen on ${port} exited${detail()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, HOST);
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await pace(CONNECT_EVERY_MS);
  }
  throw new Error(`nothing listens on ${port} after ${ms} ms${detail()}`);
}

/** VmRSS of a process, KiB. */
export function readRssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/**
 * The RSS once it stops moving: `samples` readings in a row, `intervalMs` apart, within `quietKiB` of each other
 * (the server has read what the sockets carried). Bounded by `maxMs`: the last reading then.
 */
export async function settledRssKiB(
  pid: number,
  opts: { quietKiB?: number; samples?: number; intervalMs?: number; maxMs?: number } = {},
): Promise<number> {
  const quiet = opts.quietKiB ?? 512;
  const want = opts.samples ?? 5;
  const every = opts.intervalMs ?? 100;
  const end = Date.now() + (opts.maxMs ?? 15_000);
  let window: number[] = [];
  for (;;) {
    const rss = readRssKiB(pid);
    window = [...window, rss].slice(-want);
    if (window.length === want && Math.max(...window) - Math.min(...window) <= quiet) return rss;
    if (Date.now() > end) return rss;
    await pace(every);
  }
}
