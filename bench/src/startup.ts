// The `startup` scenarios' run (issue 16 item 5): how long from exec to the first PONG, for nats-server
// (`nats-server -a 127.0.0.1 -p PORT`) and for our service's CLI (the bin dev/start.mjs runs) with the configuration
// `npm start` gives it (dev/event-service.toml: four listeners and the store) on free ports, or (`startup-default`)
// with the embedded defaults (the client port only, the one setting given by a patch). The dev certificates and the store's
// directory are made before any sample, so their creation is not timed; one untimed start first warms the file
// cache and creates the store, so every timed sample is a restart. Each sample: spawn, poll-connect (bounded),
// CONNECT + PING, read PONG; then the server's RSS and CPU seconds at that moment, and an orderly stop (SIGINT).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDevPki } from '@event-broker/dev-tools';
import { freePort, HOST, readRssKiB } from '@event-broker/test-support/processes';
import type { GenResult, RunContext } from './scenario-types.js';
import { readCpuSeconds, type TargetName } from './servers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/**
 * The entry dev/start.mjs runs for the service (the bin: scripts/bundle.mjs's bundle, or tsc's files when the bundle
 * is missing or stale), and the configuration it gives it.
 */
const SERVICE_ENTRY = path.join(ROOT, 'packages/event-service/bin/event-service.mjs');
const DEV_CONFIG = path.join(ROOT, 'dev/event-service.toml');
/** A start that has not answered by then failed (the machine is shared: generous). */
const START_BOUND_MS = 20_000;
const STOP_BOUND_MS = 5_000;
const POLL_MS = 1;

export const STARTUP_SAMPLES = 10;
export const STARTUP_SAMPLES_QUICK = 4;

/** One start: exec → first PONG, and the server's footprint at that moment. */
export interface StartSample {
  ms: number;
  rssKiB: number;
  cpuS: number;
}

/** How each server is started: the command line, given a port (ours: also a working directory prepared once). */
interface Launch {
  command: string;
  args: (port: number) => string[];
  cwd: string;
  /** Extra ports the configuration listens on besides the client port (ours: websocket, leafnode, monitor). */
  extraPorts: number;
  /** Ours: the patch dev/ports.toml holds the client port (and the extra ports' when there are). */
  portsPatch: boolean;
  cleanup: () => void;
}

/** Which configuration our CLI starts with: npm start's (dev/event-service.toml), or the embedded defaults. */
export type StartupConfig = 'dev' | 'embedded';

/** Runs `samples` timed starts (after one untimed) and reduces them to a GenResult: p50/p90/max in µs. */
export async function runStartup(ctx: RunContext, samples: number, config: StartupConfig = 'dev'): Promise<GenResult> {
  const launch = await prepare(ctx.target, config);
  try {
    await startOnce(launch); // warm-up: file cache, and our store's first creation
    const got: StartSample[] = [];
    for (let i = 0; i < samples; i++) got.push(await startOnce(launch));
    return summarize(got);
  } finally {
    launch.cleanup();
  }
}

async function prepare(target: TargetName, config: StartupConfig): Promise<Launch> {
  if (target === 'nats-server') {
    return {
      command: 'nats-server',
      args: (port) => ['-a', HOST, '-p', String(port)],
      cwd: os.tmpdir(),
      extraPorts: 0,
      portsPatch: false,
      cleanup: () => {},
    };
  }
  // dev/event-service.toml's relative paths (../certs, ../data) resolve against its directory: the same layout in a
  // directory of our own, so nothing in the repository is touched.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-startup-'));
  mkdirSync(path.join(dir, 'dev'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  if (config === 'embedded') {
    // The client port is in dev/ports.toml (startOnce writes it before each start); nothing else is set.
    const args = () => [SERVICE_ENTRY, '--patch', 'dev/ports.toml'];
    return { command: process.execPath, args, cwd: dir, extraPorts: 0, portsPatch: true, cleanup };
  }
  mkdirSync(path.join(dir, 'data'));
  copyFileSync(DEV_CONFIG, path.join(dir, 'dev', 'event-service.toml'));
  await writeDevPki(path.join(dir, 'certs'));
  return {
    command: process.execPath,
    // The client port is in dev/ports.toml (startOnce writes it with the other listeners' before each start).
    args: () => [SERVICE_ENTRY, '--config', 'dev/event-service.toml', '--patch', 'dev/ports.toml'],
    cwd: dir,
    extraPorts: 3,
    portsPatch: true,
    cleanup,
  };
}

async function startOnce(launch: Launch): Promise<StartSample> {
  const port = await freePort();
  if (launch.portsPatch) await writePorts(launch.cwd, port, launch.extraPorts > 0);
  const t0 = process.hrtime.bigint();
  const child = spawn(launch.command, launch.args(port), { cwd: launch.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  try {
    await firstPong(port, child, () => stderr);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { ms, rssKiB: readRssKiB(child.pid!), cpuS: readCpuSeconds(child.pid!) };
  } finally {
    await stop(child);
  }
}

/** dev/ports.toml: the client port given, and with `others` the other listeners on free ports of their own. */
async function writePorts(dir: string, port: number, others: boolean): Promise<void> {
  const lines = [`[service]\nport = ${port}`];
  if (others) {
    const [ws, leaf, monitor] = [await freePort(), await freePort(), await freePort()];
    lines.push(`[websocket]\nport = ${ws}`, `[leafnodes]\nport = ${leaf}`, `[monitor]\nport = ${monitor}`);
  }
  writeFileSync(path.join(dir, 'dev', 'ports.toml'), lines.join('\n') + '\n');
}

/** Connects until one connection answers CONNECT + PING with PONG; bounded by START_BOUND_MS and the child's life. */
async function firstPong(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_BOUND_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before a PONG: ${stderr().trim()}`);
    }
    if (Date.now() > deadline) throw new Error(`no PONG within ${START_BOUND_MS} ms: ${stderr().trim()}`);
    if (await pingOnce(port, deadline)) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** One try: true once PONG arrives, false when the connection is refused or closes first. */
function pingOnce(port: number, deadline: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, HOST);
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), Math.max(1, deadline - Date.now()));
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n'));
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.includes('PONG\r\n')) done(true);
      else if (buf.includes('-ERR')) done(false);
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}

/** SIGINT (ours: an immediate orderly close, not the lame-duck drain), SIGKILL past the bound. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_BOUND_MS);
  await exited;
  clearTimeout(timer);
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function summarize(samples: StartSample[]): GenResult {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const rss = samples.map((s) => s.rssKiB).sort((a, b) => a - b);
  const cpu = samples.map((s) => s.cpuS).sort((a, b) => a - b);
  return {
    generator: 'startup',
    mode: 'startup',
    window_ns: ms.reduce((a, b) => a + b, 0) * 1e6,
    window_cpu_s: 0,
    cpu_user_s: 0,
    cpu_sys_s: 0,
    sent: samples.length,
    p50_us: quantile(ms, 0.5) * 1000,
    p90_us: quantile(ms, 0.9) * 1000,
    max_us: ms[ms.length - 1]! * 1000,
    rss_full_kib: quantile(rss, 0.5),
    // The server's own CPU from exec to its first PONG (median): start-up work, whichever core it ran on.
    server_cpu_parts: { start: quantile(cpu, 0.5) },
  };
}
