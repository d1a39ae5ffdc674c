// A command (the event service's or the gateway's CLI) as a child process: start it with real files, read its JSON
// log lines, wait for one, signal it. Every wait is bounded; a child still running when its test ends is killed.
import { spawn, type ChildProcess } from 'node:child_process';
import type { AfterHook } from './tmp.js';
import { until, within } from './wait.js';

/** Generous: a child on a loaded two-core machine takes a while to start Node and bind. */
export const CHILD_MS = 15_000;

export interface Run {
  /** For messages: `event-service`, `event-gateway`. */
  readonly name: string;
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;
}

export interface SpawnOptions {
  /** For messages; default the script's file name. */
  name?: string;
  cwd?: string;
  /** Lowers its descriptor limit (`ulimit -n` in a shell that then execs node). */
  maxOpenFiles?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs `node script ...args`; a child still running when the test ends is killed. */
export function spawnCli(t: AfterHook, script: string, args: readonly string[], opts: SpawnOptions = {}): Run {
  const common = {
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd && { cwd: opts.cwd }),
    ...(opts.env && { env: opts.env }),
  };
  const child =
    opts.maxOpenFiles === undefined
      ? spawn(process.execPath, [script, ...args], common)
      : spawn(
          '/bin/sh',
          ['-c', `ulimit -n ${opts.maxOpenFiles} && exec "$0" "$@"`, process.execPath, script, ...args],
          common,
        );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal as NodeJS.Signals)));
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { name: opts.name ?? script.split('/').pop()!, child, stdout: () => out, stderr: () => err, exited };
}

/** Waits for the child's exit, bounded; resolves with its code and output. */
export async function exitOf(
  run: Run,
  ms = CHILD_MS,
): Promise<{ code: number | NodeJS.Signals; stdout: string; stderr: string }> {
  const code = await within(run.exited, `${run.name} exits`, ms);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** JSON log lines (pino's) on stdout, parsed; lines that are not JSON objects are skipped. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line still being written: the next poll sees it whole
    }
  }
  return out;
}

/**
 * Waits for the `n`th log line (1-based) with message `msg` (and every field in `fields`), bounded; fails early
 * with the output if the child exits first.
 */
export async function logLine(
  run: Run,
  msg: string,
  opts: { n?: number; fields?: Record<string, unknown>; ms?: number } = {},
): Promise<Record<string, unknown>> {
  const n = opts.n ?? 1;
  let found: Record<string, unknown> | undefined;
  await until(
    () => {
      const hits = jsonLines(run.stdout()).filter(
        (l) =>
          l.msg === msg &&
          Object.entries(opts.fields ?? {}).every(([k, v]) => JSON.stringify(l[k]) === JSON.stringify(v)),
      );
      found = hits[n - 1];
      return found !== undefined || run.child.exitCode !== null;
    },
    `log line ${JSON.stringify(msg)} #${n}`,
    opts.ms ?? CHILD_MS,
    () => `stdout: ${run.stdout().slice(-4000)} stderr: ${run.stderr()}`,
  );
  if (found === undefined)
    throw new Error(`${run.name} exited before logging ${JSON.stringify(msg)}: ${run.stderr()}\n${run.stdout()}`);
  return found;
}

/**
 * Sends `sig` once the child handles signals (its `ready` line): before that, Node's default action for SIGHUP
 * ends the process.
 */
export async function signal(run: Run, sig: NodeJS.Signals): Promise<void> {
  await logLine(run, 'ready');
  run.child.kill(sig);
}
