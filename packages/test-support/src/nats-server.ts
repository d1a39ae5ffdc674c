// Debian's nats-server (2.9) as a child process, the one launcher every package's tests and the bench use: a
// config file from lines in a temporary directory, started and waited for on a port, its log kept, reloaded by
// SIGHUP, stopped. Absent, a test is skipped locally and fails under CI (.ci/run installs it).
// NATS_SERVER_DEBUG=1 starts it with -D (`trace`: -DV) and passes its stderr through to ours.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, HOST, waitForPort } from './processes.js';
import type { AfterHook } from './tmp.js';
import { WAIT_MS, until, within } from './wait.js';

/** Its version (`v2.9.10`), or undefined when it is not installed. */
export function natsServerVersion(): string | undefined {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/^nats-server:\s*/, '') : undefined;
}

export function natsServerInstalled(): boolean {
  return natsServerVersion() !== undefined;
}

const ci = () => process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/** Skips the test locally (throws under CI) when nats-server is missing; true when it can run. */
export function requireNatsServer(t: { skip(message?: string): void }): boolean {
  if (natsServerInstalled()) return true;
  if (ci()) throw new Error('nats-server is not installed (apt-get install nats-server; .ci/run installs it)');
  t.skip('nats-server is not installed');
  return false;
}

/** The `skip` option for a suite that needs nats-server: false when it runs, else why not (throws under CI). */
export function natsServerSkip(): string | false {
  if (natsServerInstalled()) return false;
  if (ci()) throw new Error('nats-server is not installed (apt-get install nats-server; .ci/run installs it)');
  return 'nats-server is not installed';
}

/** NATS_SERVER_DEBUG=1 (or true/yes): `-D`; `trace`: `-DV` (every protocol line, on stderr). */
export function natsServerDebugFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const v = (env.NATS_SERVER_DEBUG ?? '').trim().toLowerCase();
  if (v === '' || v === '0' || v === 'false' || v === 'no') return [];
  return v === 'trace' ? ['-DV'] : ['-D'];
}

export interface NatsServerOptions {
  /** The port it is up once it accepts on (its client port, or the leafnode port a test dials). */
  port: number;
  /** Command-line arguments after `-c <config>` (`-a`, `-p`, `-m`). */
  args?: string[];
  /** Bound on the start. */
  startMs?: number;
}

/** A running nats-server; as an Endpoint ({ host, port }) it is its client port, for the raw client. */
export interface NatsServer {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Its log (stderr): the first 64 KiB, then only reload and error lines. */
  log(): string;
  /** Rewrites its config with `lines` and sends SIGHUP; resolves once it logged the reload (bounded by `ms`). */
  reload(lines: readonly string[], ms?: number): Promise<void>;
  /** SIGTERM (SIGKILL after 3 s), or SIGKILL at once; then its directory is removed. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

const RELOADED = 'Reloaded server configuration';
const LOG_HEAD_BYTES = 65_536;
const STOP_MS = 3000;

/** nats-server with `lines` as its whole config (listen lines included); resolves once `opts.port` accepts. */
export async function spawnNatsServer(lines: readonly string[], opts: NatsServerOptions): Promise<NatsServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-server-'));
  const conf = path.join(dir, 'server.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  const debug = natsServerDebugFlags();
  const child = spawn('nats-server', ['-c', conf, ...(opts.args ?? []), ...debug], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const alive = () => spawnError === undefined && child.exitCode === null && child.signalCode === null;
  let log = '';
  let partial = '';
  let reloads = 0;
  child.stderr!.on('data', (d: Buffer) => {
    if (debug.length > 0) process.stderr.write(d);
    const text = d.toString();
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes(RELOADED)) reloads++;
      // Past the head, only what reloads and failures are read for is kept: one line each.
      if (log.length < LOG_HEAD_BYTES || line.includes(RELOADED) || line.includes('[ERR]')) log += `${line}\n`;
    }
  });
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    if (alive()) {
      child.kill(signal);
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
      await exited;
      clearTimeout(kill);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(
      opts.port,
      alive,
      opts.startMs ?? WAIT_MS,
      () => `${spawnError?.message ?? ''}\nconfig:\n${lines.join('\n')}\nlog:\n${log}${partial}`,
    );
  } catch (err) {
    await stop('SIGKILL');
    throw new Error(`nats-server: ${(err as Error).message}`);
  }
  return {
    pid: child.pid!,
    host: HOST,
    port: opts.port,
    alive,
    log: () => log + partial,
    async reload(next, ms = WAIT_MS) {
      const before = reloads;
      fs.writeFileSync(conf, next.join('\n') + '\n');
      child.kill('SIGHUP');
      await until(
        () => reloads !== before || !alive(),
        'nats-server logs the reload',
        ms,
        () => log,
      );
      if (reloads === before) throw new Error(`nats-server exited instead of reloading:\n${log}`);
    },
    stop,
  };
}

/**
 * nats-server for one test, killed in `t.after`: `config` (lines, or one text) as its whole config, up once `port`
 * accepts; without `port`, on a free loopback port whose listen line is put first.
 */
export async function startNatsServer(
  t: AfterHook,
  config: readonly string[] | string,
  port?: number,
): Promise<NatsServer> {
  const lines = typeof config === 'string' ? [config] : config;
  const at = port ?? (await freePort());
  const server = await spawnNatsServer(port === undefined ? [`listen: "${HOST}:${at}"`, ...lines] : lines, {
    port: at,
  });
  t.after(() => server.stop('SIGKILL'));
  return server;
}

export interface NatsLeaf extends NatsServer {
  readonly clientPort: number;
  readonly httpPort: number;
}

export interface NatsLeafOptions {
  /** Reuse these ports (a restart: the leaf's clients reconnect where they were). Default: free ones. */
  ports?: { clientPort: number; httpPort: number };
  /** `user:password@` or `token@` put in the remote URL. */
  userInfo?: string;
  /** Dial over TLS (tls://) trusting `caPath`, presenting cert/key when given. */
  tls?: { caPath: string; cert?: string; key?: string };
  /** More lines of the leaf's own configuration (`max_payload: 4MB`...). */
  config?: string[];
}

/**
 * nats-server as a leaf whose one remote is `hubLeafPort` on 127.0.0.1 (credentials in the URL, as a nats-server
 * leaf remote sends them), with its own client and monitoring ports. Stop it with stop().
 */
export async function startNatsLeaf(hubLeafPort: number, opts: NatsLeafOptions = {}): Promise<NatsLeaf> {
  const clientPort = opts.ports?.clientPort ?? (await freePort());
  const httpPort = opts.ports?.httpPort ?? (await freePort());
  const scheme = opts.tls === undefined ? 'nats' : 'tls';
  const url = `${scheme}://${opts.userInfo ?? ''}${HOST}:${hubLeafPort}`;
  const tlsBlock =
    opts.tls === undefined
      ? ''
      : `, tls: { ${[
          `ca_file: ${JSON.stringify(opts.tls.caPath)}`,
          ...(opts.tls.cert
            ? [`cert_file: ${JSON.stringify(opts.tls.cert)}`, `key_file: ${JSON.stringify(opts.tls.key)}`]
            : []),
        ].join(', ')} }`;
  const server = await spawnNatsServer(
    [
      `listen: "${HOST}:${clientPort}"`,
      `http: "${HOST}:${httpPort}"`,
      'server_name: test-leaf',
      ...(opts.config ?? []),
      `leafnodes { remotes: [ { url: ${JSON.stringify(url)}${tlsBlock} } ] }`,
    ],
    { port: clientPort },
  );
  return { ...server, clientPort, httpPort };
}

/** A nats-server's links as its /leafz lists them (`subs`: with each link's subscriptions_list). */
export async function natsLeafLinks(
  server: { httpPort: number },
  opts: { subs?: boolean } = {},
): Promise<Array<Record<string, unknown>>> {
  const res = await within(
    fetch(`http://${HOST}:${server.httpPort}/leafz${opts.subs ? '?subs=1' : ''}`),
    'nats-server /leafz',
  );
  const body = (await res.json()) as { leafs?: Array<Record<string, unknown>> };
  return body.leafs ?? [];
}
