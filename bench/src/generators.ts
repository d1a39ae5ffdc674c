// Picks the load generator for the whole invocation (one generator drives both servers) and runs it as a child
// process: native/loadgen.c (compiled with -lnats when `cc` and nats.h are there) with its raw-socket client,
// else node-loadgen.ts. `--generator libnats` runs the same binary with the libnats client instead.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorLine } from './stderr.js';
import { genArgs, type GenSpec } from './load-spec.js';
import type { GenResult } from './gen-result.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BENCH_DIR = path.resolve(HERE, '..', '..');
const SOURCE = path.join(BENCH_DIR, 'native', 'loadgen.c');
const BINARY = path.join(BENCH_DIR, 'bin', 'loadgen');
const HEADERS = ['/usr/include/nats/nats.h', '/usr/include/nats.h', '/usr/local/include/nats/nats.h'];
// Beyond the scenario's own cap and drain: a generator still running after this is stuck, not slow.
const HARD_MARGIN_MS = 40_000;

export type GeneratorChoice = 'native' | 'libnats' | 'node';

export interface Generator {
  /** c-raw, c-libnats or node-raw, as the results print it. */
  readonly name: string;
  /** Where it came from, for the header (library version, why the fallback). */
  readonly description: string;
  run(spec: GenSpec, port: number, hooks?: RunHooks): Promise<GenResult>;
}

export interface RunHooks {
  /** `conns` mode: called at each ready phase; the generator waits until it resolves. */
  onReady?(phase: string): Promise<void>;
  /** Called when the measured window starts and ends (server CPU is read over the same span). */
  onWindow?(phase: 'start' | 'end'): void;
}

interface Built {
  ok: boolean;
  reason: string;
}

function buildNative(): Built {
  const cc = process.env['CC'] ?? 'cc';
  if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) {
    return { ok: false, reason: `no C compiler (${cc})` };
  }
  if (!HEADERS.some((h) => existsSync(h))) {
    return { ok: false, reason: 'nats.h not found (apt-get install libnats-dev)' };
  }
  const fresh = existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs;
  if (!fresh) {
    mkdirSync(path.dirname(BINARY), { recursive: true });
    const tmp = `${BINARY}.${process.pid}`;
    const r = spawnSync(cc, ['-O2', '-Wall', '-o', tmp, SOURCE, '-lnats', '-lpthread'], { encoding: 'utf8' });
    if (r.status !== 0) {
      return { ok: false, reason: `cc failed: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}` };
    }
    renameSync(tmp, BINARY);
  }
  return { ok: true, reason: '' };
}

function nativeVersion(): string | undefined {
  const r = spawnSync(BINARY, ['version'], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout) as { libnats: string }).libnats;
  } catch {
    return undefined;
  }
}

/** The generator for this invocation: `prefer` forces one; otherwise native when it builds and runs. */
export function pickGenerator(prefer?: GeneratorChoice): Generator {
  let why = 'forced with --generator node';
  if (prefer !== 'node') {
    const built = buildNative();
    const version = built.ok ? nativeVersion() : undefined;
    if (version && prefer === 'libnats') {
      const what = `bench/bin/loadgen client=libnats (native/loadgen.c, cc -O2, libnats ${version})`;
      return childGenerator('c-libnats', what, BINARY, [], ['client=libnats']);
    }
    if (version) {
      const what =
        'bench/bin/loadgen (native/loadgen.c, cc -O2): raw sockets, prebuilt PUB frames, MSG-counting readers';
      return childGenerator('c-raw', what, BINARY, [], ['client=raw']);
    }
    why = built.ok ? 'bench/bin/loadgen does not run (libnats.so missing?)' : built.reason;
    if (prefer) throw new Error(`native generator unavailable: ${why}`);
  }
  const what = `bench/src/node-loadgen.ts (raw sockets, one thread; native unavailable: ${why})`;
  return childGenerator('node-raw', what, process.execPath, [path.join(HERE, 'node-loadgen.js')]);
}

function childGenerator(name: string, description: string, cmd: string, prefix: string[], suffix: string[] = []) {
  const g: Generator = {
    name,
    description,
    run: (spec, port, hooks) => runChild(cmd, [...prefix, ...genArgs(spec, port), ...suffix], spec, hooks),
  };
  return g;
}

function runChild(cmd: string, args: string[], spec: GenSpec, hooks: RunHooks = {}): Promise<GenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let last: GenResult | undefined;
    let pending = '';
    const limit = (spec.capMs ?? 5000) * 2 + HARD_MARGIN_MS;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`generator still running after ${limit} ms; killed`));
    }, limit);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    child.stdin.on('error', () => {}); // the generator may exit before reading its stdin
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (msg['event'] === 'window') hooks.onWindow?.(msg['phase'] as 'start' | 'end');
        else if (msg['event'] === 'ready') {
          const go = () => child.stdin.write('\n');
          (hooks.onReady ? hooks.onReady(String(msg['phase'])) : Promise.resolve()).then(go, (err: unknown) => {
            child.kill('SIGKILL');
            reject(err instanceof Error ? err : new Error(String(err)));
          });
        } else last = msg as unknown as GenResult;
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (last?.error) reject(new Error(last.error));
      else if (last && code === 0) resolve(last);
      else reject(new Error(`${path.basename(args[0] ?? cmd)} exited with ${code}: ${errorLine(stderr)}`));
    });
  });
}

/** The in-process scenario's child (inproc.ts): no generator, our service embedded. */
export function runInproc(spec: GenSpec): Promise<GenResult> {
  return runChild(process.execPath, [path.join(HERE, 'inproc.js'), JSON.stringify(spec)], spec);
}
