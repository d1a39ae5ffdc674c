// The event-service command as a child process (`node dist/src/cli.js`), on test-support's runner: the CLI's path
// and name bound, and the hostile-input tests' target.
import { fileURLToPath } from 'node:url';
import { logLine, spawnCli, exitOf, type Run, type SpawnOptions } from '@event-broker/test-support/child';
import { tmpDir, write, type AfterHook } from '@event-broker/test-support/tmp';

/** The compiled CLI (dist/test/helpers/cli.js → dist/src/cli.js). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/**
 * Starts the CLI; a child still running when the test ends is killed. `maxOpenFiles` lowers its descriptor limit
 * (`ulimit -n` in a shell that then execs node), to show what a flood of connections can and cannot take.
 */
export function cli(t: AfterHook, args: string[], cwd?: string, opts: Omit<SpawnOptions, 'cwd' | 'name'> = {}): Run {
  return spawnCli(t, CLI, args, { name: 'event-service', ...(cwd !== undefined && { cwd }), ...opts });
}

/** Runs the CLI to completion, bounded. */
export async function runToExit(
  t: AfterHook,
  args: string[],
  ms?: number,
): Promise<{ code: number | NodeJS.Signals; stdout: string; stderr: string }> {
  return exitOf(cli(t, args), ms);
}

/** Starts the CLI with `args` and waits for its client port (from the 'listening for client connections' line). */
export async function startCli(t: AfterHook, args: string[]): Promise<{ run: Run; port: number }> {
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
  t: AfterHook,
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
