// Test support for hostile-input tests that need a server in a process of its own (a crash must not take the test
// runner with it, and its RSS must be its own): nats-server started from config lines, /proc readings, free ports.
// Exported as `@event-broker/shared/testing/processes`, so every package's tests use one copy. Every wait is bounded
// and every child is stopped in `t.after`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

export const HOST = '127.0.0.1';

export function natsServerInstalled(): boolean {
  return spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** Skips the test locally (throws under CI) when nats-server is missing; true when it can run. */
export function requireNatsServer(t: TestContext): boolean {
  if (natsServerInstalled()) return true;
  if (process.env['CI']) throw new Error('nats-server is not installed (apt-get install nats-server; .ci/run installs it)');
  t.skip('nats-server is not installed');
  return false;
}

/** Binds port 0 and releases it: nats-server needs its ports up front. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, HOST, resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Resolves once something accepts on `port`, bounded; rejects early when `alive()` says the process is gone. */
export async function waitForPort(port: number, alive: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive()) throw new Error(`the process listening on ${port} exited`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, HOST);
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await sleep(25);
  }
  throw new Error(`nothing listens on ${port} after ${ms} ms`);
}

export interface NatsServerChild {
  readonly pid: number;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Rewrites its config with `lines` and sends SIGHUP; resolves once it logged the reload (bounded by `ms`). */
  reload(lines: string[], ms?: number): Promise<void>;
  stop(): Promise<void>;
}

const RELOADED = 'Reloaded server configuration';

/** nats-server with `lines` as its whole config (listen lines included); resolves once `port` accepts. */
export async function startNatsServer(t: TestContext, lines: string[], port: number): Promise<NatsServerChild> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-server-'));
  const conf = path.join(dir, 'server.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  const child = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 16384) stderr += d.toString();
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const exited = new Promise((r) => child.once('exit', r));
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    // Only what the reloads wait for is kept past the first 16 KiB: one line per reload.
    for (const line of d.toString().split('\n')) if (line.includes(RELOADED) || line.includes('[ERR]')) log += `${line}\n`;
  });
  const stop = async () => {
    if (alive()) {
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);
  try {
    await waitForPort(port, alive);
  } catch (err) {
    throw new Error(`nats-server: ${(err as Error).message}\n${stderr}`);
  }
  const reload = async (next: string[], ms = 10_000) => {
    const before = log.split(RELOADED).length;
    fs.writeFileSync(conf, next.join('\n') + '\n');
    child.kill('SIGHUP');
    const end = Date.now() + ms;
    while (log.split(RELOADED).length === before) {
      if (!alive() || Date.now() > end) throw new Error(`nats-server did not reload within ${ms} ms:\n${log}`);
      await sleep(20);
    }
  };
  return { pid: child.pid!, alive, reload, stop };
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
export async function settledRssKiB(pid: number, opts: { quietKiB?: number; samples?: number; intervalMs?: number; maxMs?: number } = {}): Promise<number> {
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
    await sleep(every);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
