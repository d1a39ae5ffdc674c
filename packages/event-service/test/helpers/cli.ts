// The event-service command as a child process (`node dist/src/cli.js`): start it with real files, read its JSON
// log lines, wait for one, signal it. Every wait is bounded; a child still running when its test ends is killed.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { until, within } from './bounded.js';

/** The compiled CLI (dist/test/helpers/cli.js → dist/src/cli.js). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
/** Generous: a child on a loaded two-core CI machine takes a while to start Node and bind. */
export const EXIT_MS = 10_000;

export interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;
}

/**
 * Starts the CLI; a child still running when the test ends is killed. `maxOpenFiles` lowers its descriptor limit
 * (`ulimit -n` in a shell that then execs node), to show what a flood of connections can and cannot take.
 */
export function cli(t: TestContext, args: string[], cwd?: string, opts: { maxOpenFiles?: number } = {}): Run {
  const child =
    opts.maxOpenFiles === undefined
      ? spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd && { cwd }) })
      : spawn('/bin/sh', ['-c', `ulimit -n ${opts.maxOpenFiles} && exec "$0" "$@"`, process.execPath, CLI, ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
          ...(cwd && { cwd }),
        });
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
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs the CLI to completion, bounded. */
export async function runToExit(
  t: TestContext,
  args: string[],
  ms = EXIT_MS,
): Promise<{ code: number | NodeJS.Signals; stdout: string; stderr: string }> {
  const run = cli(t, args);
  const code = await within(run.exited, `event-service ${args.join(' ')} exits`, ms);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

export function tmpDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-service-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function write(dir: string, name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** pino's JSON lines on stdout, parsed; lines that are not JSON objects are skipped. */
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
        (l) => l.msg === msg && Object.entries(opts.fields ?? {}).every(([k, v]) => JSON.stringify(l[k]) === JSON.stringify(v)),
      );
      found = hits[n - 1];
      return found !== undefined || run.child.exitCode !== null;
    },
    `log line ${JSON.stringify(msg)} #${n}`,
    opts.ms ?? EXIT_MS,
    () => `stdout: ${run.stdout()} stderr: ${run.stderr()}`,
  );
  if (found === undefined) throw new Error(`event-service exited before logging ${JSON.stringify(msg)}: ${run.stderr()}\n${run.stdout()}`);
  return found;
}

/** Starts the CLI with `args` and waits for its client port (from the 'listening for client connections' line). */
export async function startCli(t: TestContext, args: string[]): Promise<{ run: Run; port: number }> {
  const run = cli(t, args);
  const line = await logLine(run, 'listening for client connections');
  return { run, port: line.port as number };
}

/**
 * The hostile-input tests' target: the CLI on 127.0.0.1 with `token` on its client port and a [leafnodes] port (no
 * authorization: loopback only), JSON logs. `service` adds [service] lines (smaller limits, a longer auth_timeout).
 * Resolves once both ports listen.
 */
export async function startTokenAndLeafService(
  t: TestContext,
  token: string,
  opts: { service?: string[] } = {},
): Promise<{ run: Run; port: number; leafPort: number }> {
  const host = '127.0.0.1';
  const conf = write(tmpDir(t), 'service.toml', [
    '[service]',
    `host = "${host}"`,
    'port = 0',
    `token = ${JSON.stringify(token)}`,
    ...(opts.service ?? []),
    '[leafnodes]',
    `host = "${host}"`,
    'port = 0',
    '[log]',
    'format = "json"',
  ]);
  const { run, port } = await startCli(t, ['--config', conf]);
  const leafPort = (await logLine(run, 'listening for leafnode connections')).port as number;
  return { run, port, leafPort };
}

/**
 * Sends `signal` to the child (SIGHUP to reload, SIGTERM for the lame duck) once it handles signals (its `ready`
 * line): before that, Node's default action for SIGHUP ends the process.
 */
export async function signal(run: Run, sig: NodeJS.Signals): Promise<void> {
  await logLine(run, 'ready');
  run.child.kill(sig);
}
