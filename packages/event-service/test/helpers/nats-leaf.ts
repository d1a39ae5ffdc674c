// Debian's nats-server 2.9 as a leaf of our service: a child process dialling our [leafnodes] port with the remote
// URL and TLS it is given (credentials in the URL, as a nats-server leaf remote sends them), with its own client
// and monitoring ports. Every wait is bounded; stop() ends the child and removes its directory.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '@event-broker/shared/testing/processes';
import { within } from './bounded.js';

const START_MS = 10_000;

export interface NatsLeaf {
  readonly clientPort: number;
  readonly httpPort: number;
  /** What nats-server wrote to stderr so far (its log), bounded. */
  log(): string;
  stop(): Promise<void>;
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

/** Starts nats-server as a leaf whose one remote is our leafnode port on 127.0.0.1. */
export async function startNatsLeaf(hubLeafPort: number, opts: NatsLeafOptions = {}): Promise<NatsLeaf> {
  const clientPort = opts.ports?.clientPort ?? (await freePort());
  const httpPort = opts.ports?.httpPort ?? (await freePort());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nats-leaf-'));
  const conf = path.join(dir, 'leaf.conf');
  const scheme = opts.tls === undefined ? 'nats' : 'tls';
  const url = `${scheme}://${opts.userInfo ?? ''}127.0.0.1:${hubLeafPort}`;
  const tlsBlock =
    opts.tls === undefined
      ? ''
      : `, tls: { ${[
          `ca_file: ${JSON.stringify(opts.tls.caPath)}`,
          ...(opts.tls.cert ? [`cert_file: ${JSON.stringify(opts.tls.cert)}`, `key_file: ${JSON.stringify(opts.tls.key)}`] : []),
        ].join(', ')} }`;
  writeFileSync(
    conf,
    [
      `listen: "127.0.0.1:${clientPort}"`,
      `http: "127.0.0.1:${httpPort}"`,
      'server_name: test-leaf',
      ...(opts.config ?? []),
      `leafnodes { remotes: [ { url: ${JSON.stringify(url)}${tlsBlock} } ] }`,
    ].join(
      '\n',
    ) + '\n',
  );
  const child = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 65_536) stderr += d.toString();
  });
  try {
    await waitForPort(clientPort, () => child.exitCode === null && child.signalCode === null, START_MS);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  return {
    clientPort,
    httpPort,
    log: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(kill);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The leaf's links as its /leafz lists them. */
export async function natsLeafLinks(leaf: NatsLeaf): Promise<Array<Record<string, unknown>>> {
  const res = await within(fetch(`http://127.0.0.1:${leaf.httpPort}/leafz`), 'leaf /leafz');
  const body = (await res.json()) as { leafs?: Array<Record<string, unknown>> };
  return body.leafs ?? [];
}
