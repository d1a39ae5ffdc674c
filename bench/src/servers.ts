// The two servers under test, each a child process of its own (so its RSS and CPU time can be read from /proc),
// started fresh per scenario with the same limits, on loopback. The gateway scenario (gateway.ts) starts two of
// each side: nats-server hub and leaf from extra config lines, our service with [leafnodes] and the gateway's CLI.
// Ports, /proc readings and the nats-server launcher are test-support's, which the tests use too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNatsServer } from '@event-broker/test-support/nats-server';
import { freePort, HOST, readRssKiB, waitForPort } from '@event-broker/test-support/processes';
import { errorLine } from './stderr.js';
import type { Limits } from './load-spec.js';

export type TargetName = 'ours' | 'nats-server';

/** process.memoryUsage() of our service after a forced GC (run-service.ts answers a `heap` line on stdin). */
export interface HeapSample {
  heap_used: number;
  heap_total: number;
  external: number;
  array_buffers: number;
  rss: number;
  /** false: the service ran without --expose-gc and the figures include garbage. */
  gc: boolean;
  /** Bytes used per V8 heap space (old_space, code_space, ...). */
  spaces: Record<string, number>;
  /** Bytes of bytecode and machine code with their metadata (v8.getHeapCodeStatistics), included in heap_used. */
  compiled: number;
}

export interface RunningServer {
  readonly target: TargetName;
  readonly pid: number;
  readonly port: number;
  /** Ours with a [leafnodes] section: the port the service bound for leafnode links. */
  readonly leafnodePort?: number;
  /** VmRSS of the server process, KiB. */
  rssKiB(): number;
  /** User + system CPU time of the server process so far, seconds. */
  cpuSeconds(): number;
  /** Ours only (nats-server has no JS heap): the heap after a forced GC. */
  heap?(): Promise<HeapSample>;
  /** Ours only: writes a heap snapshot (after a forced GC) to `file`. */
  snapshot?(file: string): Promise<void>;
  stop(): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
// A heap sample waits for the service's event loop and a full GC; under load that can take a while.
const HEAP_TIMEOUT_MS = 10_000;

// --expose-gc only makes `gc` callable (for heap samples); it changes nothing else. --cpu-prof is added by
// `--cpu-prof <dir>` (main.ts), so a profile of the service comes from the very run it explains.
// BENCH_SERVICE_NODE_FLAGS (space-separated) adds node/V8 flags to every service and gateway child, for experiments
// such as `--max-semi-space-size=32` or `--single-threaded-gc`; V8 flags are refused in NODE_OPTIONS.
const EXTRA_FLAGS = (process.env['BENCH_SERVICE_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
let serviceFlags: string[] = ['--expose-gc', ...EXTRA_FLAGS];

/** Writes a V8 CPU profile of every service child into `dir` (on its exit), or stops doing so (undefined). */
export function profileServiceInto(dir: string | undefined): void {
  const prof = dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  serviceFlags = ['--expose-gc', ...EXTRA_FLAGS, ...prof];
}

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number.parseInt(r.stdout ?? '', 10);
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may contain spaces): utime is 14th, stime 15th overall.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond();
}

/** Resolves once `child` listens on `port`; rejects with its last output if it exits first. */
function waitListening(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const alive = () => child.exitCode === null && child.signalCode === null;
  return waitForPort(
    port,
    alive,
    START_TIMEOUT_MS,
    () => `exited with ${child.exitCode}: ${output().trim().slice(-500)}`,
  );
}

function collect(child: ChildProcess): () => string {
  let buf = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    buf = (buf + d).slice(-4000);
  });
  return () => buf;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function handle(
  target: TargetName,
  child: { readonly pid?: number | undefined },
  port: number,
  extra: {
    cleanup?: () => void;
    heap?: () => Promise<HeapSample>;
    snapshot?: (file: string) => Promise<void>;
    leafnodePort?: number;
    stopSignal?: NodeJS.Signals;
    /** How to stop it, when not by a signal to `child`. */
    stop?: () => Promise<void>;
  } = {},
): RunningServer {
  const pid = child.pid!;
  return {
    target,
    pid,
    port,
    ...(extra.leafnodePort !== undefined ? { leafnodePort: extra.leafnodePort } : {}),
    rssKiB: () => readRssKiB(pid),
    cpuSeconds: () => readCpuSeconds(pid),
    ...(extra.heap ? { heap: extra.heap } : {}),
    ...(extra.snapshot ? { snapshot: extra.snapshot } : {}),
    async stop() {
      if (extra.stop) await extra.stop();
      else await stopChild(child as ChildProcess, extra.stopSignal);
      extra.cleanup?.();
    },
  };
}

/** nats-server with a config file carrying the limits (and `conf`: more lines); `-a`/`-p` on the command line. */
export async function startNatsServer(limits: Limits, conf: string[] = []): Promise<RunningServer> {
  const port = await freePort();
  const lines = [
    `max_payload: ${limits.maxPayloadBytes}`,
    `max_connections: ${limits.maxConnections}`,
    `max_pending: ${limits.maxPendingBytes}`,
    `write_deadline: "${limits.writeDeadlineMs}ms"`,
    ...conf,
  ];
  try {
    const server = await spawnNatsServer(lines, {
      port,
      args: ['-a', HOST, '-p', String(port)],
      startMs: START_TIMEOUT_MS,
    });
    return handle('nats-server', server, port, { stop: () => server.stop() });
  } catch (err) {
    throw new Error(`nats-server did not start: ${(err as Error).message}`);
  }
}

/** Our event service in a child of its own (run-service.ts), port 0, silent logs; it prints the port it bound. */
export async function startOurs(
  limits: Limits,
  extra: Record<string, unknown> = {},
  sections: Record<string, unknown> = {},
): Promise<RunningServer> {
  const service = {
    max_payload: limits.maxPayloadBytes,
    max_connections: limits.maxConnections,
    max_pending: limits.maxPendingBytes,
    write_deadline: limits.writeDeadlineMs,
    ...extra,
  };
  const child = spawn(
    process.execPath,
    [...serviceFlags, path.join(HERE, 'run-service.js'), JSON.stringify({ ...sections, service })],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stdin!.on('error', () => {}); // a request written as the child exits
  const stderr = collect(child);
  // stdout is JSON lines: the port line first, then one line per heap request, in order.
  const lines: Array<(line: string) => void> = [];
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      lines.shift()?.(line);
    }
  });
  let port: number;
  let leafnodePort: number | undefined;
  try {
    ({ port, leafnodePort } = await new Promise<{ port: number; leafnodePort?: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no port line after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      lines.push((line) => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as { port: number; leafnodePort?: number });
        } catch {
          reject(new Error(`unexpected first line: ${line}`));
        }
      });
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        // Give stderr a turn to arrive before quoting it.
        setImmediate(() => reject(new Error(`exited with ${code}: ${errorLine(stderr())}`)));
      });
    }));
  } catch (err) {
    await stopChild(child);
    throw new Error(`event service did not start: ${(err as Error).message}`);
  }
  /** Sends `cmd` and parses the answer line; one at a time is not needed, answers come in order. */
  const ask = <T>(cmd: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${cmd} after ${timeoutMs} ms`)), timeoutMs);
      lines.push((line) => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as T);
        } catch {
          reject(new Error(`unexpected answer to ${cmd}: ${line}`));
        }
      });
      child.stdin!.write(`${cmd}\n`);
    });
  const heap = () => ask<HeapSample>('heap', HEAP_TIMEOUT_MS);
  // A snapshot of a ~10 MiB heap takes about a second; a bigger one longer.
  const snapshot = async (file: string) => {
    await ask<{ snapshot: string }>(`snapshot ${file}`, 60_000);
  };
  return handle('ours', child, port, { heap, snapshot, ...(leafnodePort !== undefined ? { leafnodePort } : {}) });
}

const GATEWAY_CLI = path.resolve(HERE, '..', '..', '..', 'packages', 'event-gateway', 'bin', 'event-gateway.mjs');
let gatewayProfiles = 0;

/**
 * The event gateway's own CLI (packages/event-gateway, built by `pnpm build`) with `configFile`, which must bind
 * `port`. Under `--cpu-prof` it is profiled like the service, as event-gateway.<n>.cpuprofile. Stopped with SIGINT:
 * an immediate orderly close (SIGTERM would be a lame-duck drain of up to 25 s); SIGINT still exits normally, so
 * the profile is written.
 */
export async function startGatewayCli(configFile: string, port: number): Promise<RunningServer> {
  const prof = serviceFlags.includes('--cpu-prof')
    ? [`--cpu-prof-name=event-gateway.${process.pid}.${++gatewayProfiles}.cpuprofile`]
    : [];
  const child = spawn(process.execPath, [...serviceFlags, ...prof, GATEWAY_CLI, '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Logs (level error) go to stdout: kept with stderr for the error message.
  let buf = '';
  const keep = (d: string) => (buf = (buf + d).slice(-4000));
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    await waitListening(port, child, () => buf);
  } catch (err) {
    await stopChild(child, 'SIGINT');
    throw new Error(`event gateway did not start: ${(err as Error).message}`);
  }
  return handle('ours', child, port, { stopSignal: 'SIGINT' });
}

/** `ours` holds settings only our service has (merged into its [service] section). */
export function startTarget(
  target: TargetName,
  opts: { limits: Limits; ours?: Record<string, unknown> },
): Promise<RunningServer> {
  return target === 'nats-server' ? startNatsServer(opts.limits) : startOurs(opts.limits, opts.ours);
}
