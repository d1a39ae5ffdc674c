// A real nats-server 2.9 cluster for one test: n nodes (3 by default) routed to each other on loopback, each with
// its own client, leafnode and monitoring port (port -1, read back from its log) and, with JetStream, its own store
// directory. Nodes can be killed and restarted in place (same ports, same store), which is what the cluster tests of
// issue 13 need; single servers stay with nats-server.ts. Each node has a watchdog (a shell reading our pipe) that
// SIGKILLs it when this process dies without running t.after (the runner's timeout, a crash).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect, type ConnectionOptions, RetentionPolicy, StorageType } from 'nats';
import { natsServerDebugFlags } from './nats-server.js';
import { freePort, HOST } from './processes.js';
import type { AfterHook } from './tmp.js';
import { pace, until, WAIT_MS, within } from './wait.js';

/**
 * The user and password leaf remotes must present on every node's leafnode listener. nats-server 2.9 has no `token`
 * in `leafnodes { authorization }` (a config error), and its top-level `authorization { token }` does not guard the
 * leafnode port (a leaf with a wrong token is accepted): a token-checking hub is not something 2.9 can be.
 */
export interface LeafAuthorization {
  user: string;
  password: string;
}

export interface NatsClusterOptions {
  /** How many nodes; default 3. One is a standalone server (no cluster block: a JetStream cluster of one never elects). */
  nodes?: number;
  /** The cluster's name; default `test-cluster`. */
  name?: string;
  /** JetStream on every node, each with its own store directory; `domain` names the cluster's JetStream domain. */
  jetstream?: boolean | { domain?: string };
  /** `default_js_domain` on every node: account name → domain (`{ $G: '' }` lets leaves reach `$JS.API`). */
  defaultJsDomain?: Record<string, string>;
  /** A leafnode listener on every node (default true), with this authorization when given. */
  leafnodes?: boolean | { authorization?: LeafAuthorization; config?: string[] };
  /** More top-level lines for every node's config (accounts, operator mode, limits), or per node by index. */
  config?: string[] | ((index: number) => string[]);
  /** Bound on each node's start; default WAIT_MS. */
  startMs?: number;
}

/** One node; its ports are fixed after the first start, so a restart comes back where it was. */
export interface NatsClusterNode {
  readonly index: number;
  /** `server_name`: `n1`, `n2`... */
  readonly name: string;
  readonly clientPort: number;
  /** 0 for a single node (no cluster). */
  readonly clusterPort: number;
  /** 0 when the cluster has no leafnode listeners. */
  readonly leafPort: number;
  readonly httpPort: number;
  /** `nats://127.0.0.1:<clientPort>`. */
  readonly url: string;
  /** `nats://127.0.0.1:<leafPort>` (empty without leafnode listeners). */
  readonly leafUrl: string;
  /** Its JetStream store directory (undefined without JetStream). */
  readonly storeDir: string | undefined;
  pid(): number;
  alive(): boolean;
  /** Its log (stderr) since its last start: the first 64 KiB, then only warnings and errors. */
  log(): string;
}

export interface JetStreamProbeOptions {
  ms?: number;
  connection?: ConnectionOptions;
  domain?: string;
}

export interface NatsCluster {
  readonly name: string;
  readonly nodes: readonly NatsClusterNode[];
  /** Client URLs of every node (or of the live ones), for `servers` in a client's options. */
  urls(opts?: { live?: boolean }): string[];
  /** Leafnode URLs of every node, for a leaf's remote `urls`. */
  leafUrls(): string[];
  /** Signals node `i` (SIGKILL by default, SIGTERM once escalates after 3 s) and resolves once it exited. */
  kill(i: number, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts node `i` again, after kill(i): same config, ports and store directory. */
  restart(i: number): Promise<void>;
  /** Resolves once every live node has a route to every other live node (bounded). */
  waitForRoutes(ms?: number): Promise<void>;
  /**
   * Resolves once JetStream answers and a stream with min(3, nodes) replicas can be created and deleted, that is a
   * meta leader is elected and enough peers are current (bounded; default 30 s). Meant for every node up: fewer
   * replicas with a node down would not do (an R2 stream placed on a node just killed stalls without quorum, seen
   * here for 40 s). `connection` adds client options (credentials) to the probe's connection; `domain` probes
   * through `$JS.<domain>.API`.
   */
  waitForJetStream(opts?: JetStreamProbeOptions): Promise<void>;
  /** Kills every node and removes the cluster's directory (also done in t.after). */
  stop(): Promise<void>;
}

const LOG_HEAD_BYTES = 65_536;
const STOP_MS = 3000;
const JETSTREAM_MS = 30_000;
/** Each JetStream probe's own bound: a probe stuck on a node being elected is retried, not waited out. */
const PROBE_MS = 5000;
/** Between JetStream probes: elections take hundreds of milliseconds. */
const PROBE_EVERY_MS = 250;

/**
 * Waits for EOF on stdin (our pipe: it closes when this process dies), SIGKILLs the node ($1), waits (bounded) for
 * init to reap it, then removes its directory ($2) and the cluster's ($3) once empty.
 */
const WATCHDOG = [
  'read _ignored',
  'kill -9 "$1" 2>/dev/null',
  'i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done',
  'rm -rf "$2"; rmdir "$3" 2>/dev/null',
].join('; ');

const LISTEN = {
  client: /Listening for client connections on [^:]+:(\d+)/,
  cluster: /Listening for route connections on [^:]+:(\d+)/,
  leaf: /Listening for leafnode connections on [^:]+:(\d+)/,
  http: /Starting http monitor on [^:]+:(\d+)/,
} as const;
type Listener = keyof typeof LISTEN;

interface Ports {
  client: number;
  cluster: number;
  leaf: number;
  http: number;
}

class ClusterNode implements NatsClusterNode {
  readonly name: string;
  readonly storeDir: string | undefined;
  private child: ChildProcess | undefined;
  private watchdog: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private logText = '';
  private partial = '';
  private spawnError: Error | undefined;

  constructor(
    readonly index: number,
    private readonly dir: string,
    readonly ports: Ports,
    private readonly render: (node: ClusterNode) => string[],
    jetstream: boolean,
  ) {
    this.name = `n${index + 1}`;
    this.storeDir = jetstream ? path.join(dir, 'store') : undefined;
    fs.mkdirSync(dir, { recursive: true });
  }

  get clientPort() {
    return this.ports.client;
  }
  get clusterPort() {
    return this.ports.cluster;
  }
  get leafPort() {
    return this.ports.leaf;
  }
  get httpPort() {
    return this.ports.http;
  }
  get url() {
    return `nats://${HOST}:${this.ports.client}`;
  }
  get leafUrl() {
    return this.ports.leaf === 0 ? '' : `nats://${HOST}:${this.ports.leaf}`;
  }
  pid() {
    return this.child?.pid ?? 0;
  }
  alive() {
    const c = this.child;
    return c !== undefined && this.spawnError === undefined && c.exitCode === null && c.signalCode === null;
  }
  log() {
    return this.logText + this.partial;
  }

  /** Spawns it and resolves once it listens on every port it should, learning the ports it picked. */
  async start(wanted: readonly Listener[], ms: number): Promise<void> {
    if (this.alive()) throw new Error(`nats-cluster: ${this.name} is already running`);
    const conf = path.join(this.dir, 'server.conf');
    fs.writeFileSync(conf, this.render(this).join('\n') + '\n');
    this.logText = '';
    this.partial = '';
    this.spawnError = undefined;
    const debug = natsServerDebugFlags();
    const child = spawn('nats-server', ['-c', conf, ...debug], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.once('error', (err) => (this.spawnError = err));
    this.exited = new Promise<void>((r) => child.once('exit', () => r()));
    this.guard(child);
    child.stderr!.on('data', (d: Buffer) => {
      if (debug.length > 0) process.stderr.write(d);
      const lines = (this.partial + d.toString()).split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) this.read(line);
    });
    const missing = () => wanted.filter((w) => this.ports[w] <= 0 || !LISTEN[w].test(this.logText));
    try {
      await until(
        () => missing().length === 0 || !this.alive(),
        `nats-server ${this.name} listens (${wanted.join(', ')})`,
        ms,
        () => `still missing: ${missing().join(', ')}\nlog:\n${this.log()}`,
      );
    } catch (err) {
      await this.kill('SIGKILL');
      throw err;
    }
    if (!this.alive()) {
      const why = (this.spawnError as Error | undefined)?.message ?? 'it exited'; // set by the 'error' event
      throw new Error(`nats-server ${this.name} did not start: ${why}\nlog:\n${this.log()}`);
    }
  }

  private read(line: string): void {
    for (const [key, re] of Object.entries(LISTEN) as Array<[Listener, RegExp]>) {
      const m = re.exec(line);
      if (m) this.ports[key] = Number(m[1]);
    }
    if (this.logText.length < LOG_HEAD_BYTES || line.includes('[ERR]') || line.includes('[WRN]'))
      this.logText += `${line}\n`;
  }

  /**
   * A shell (WATCHDOG) that SIGKILLs the node once its stdin (our pipe) closes: when this process dies, however it dies. Killed
   * itself when the node exits first, so it never signals a pid the system has handed to someone else.
   */
  private guard(child: ChildProcess): void {
    if (child.pid === undefined) return;
    const watchdog = spawn(
      '/bin/sh',
      ['-c', WATCHDOG, 'nats-watchdog', `${child.pid}`, this.dir, path.dirname(this.dir)],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    watchdog.on('error', () => undefined);
    watchdog.unref();
    (watchdog.stdin as net.Socket).unref();
    this.watchdog = watchdog;
    child.once('exit', () => watchdog.kill('SIGKILL'));
  }

  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child !== undefined && this.alive()) {
      child.kill(signal);
      const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
      await this.exited;
      clearTimeout(escalate);
    }
    await this.exited;
    if (this.watchdog?.exitCode === null) this.watchdog.kill('SIGKILL');
  }
}

/** `n` distinct free loopback ports, held together while picked so no two are the same. */
async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  for (let tries = 0; out.size < n && tries < n * 10; tries++) out.add(await freePort());
  if (out.size < n) throw new Error(`nats-cluster: could not find ${n} distinct free ports`);
  return [...out];
}

function leafBlock(opts: NatsClusterOptions['leafnodes'], port: number): string[] {
  if (opts === false) return [];
  const o = typeof opts === 'object' ? opts : {};
  const auth = o.authorization;
  const authLine =
    auth === undefined
      ? []
      : [`  authorization { user: ${JSON.stringify(auth.user)}, password: ${JSON.stringify(auth.password)} }`];
  return [
    'leafnodes {',
    `  listen: "${HOST}:${port > 0 ? port : -1}"`,
    ...authLine,
    ...(o.config ?? []).map((l) => `  ${l}`),
    '}',
  ];
}

/** Starts the cluster; every node is killed and every directory removed in `t.after`. */
export async function startNatsCluster(t: AfterHook, opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  const count = opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1) throw new Error(`nats-cluster: nodes must be ≥ 1, got ${count}`);
  const name = opts.name ?? 'test-cluster';
  const js = opts.jetstream === undefined || opts.jetstream === false ? undefined : opts.jetstream;
  const domain = typeof js === 'object' ? js.domain : undefined;
  const leaves = opts.leafnodes !== false;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-cluster-'));
  // Routes need every node's cluster port up front (JetStream refuses a clustered node without configured routes),
  // so those are picked free; the others are -1 and read back from each node's log.
  const clusterPorts = count === 1 ? [0] : await freePorts(count);
  const routes = clusterPorts.map((p) => JSON.stringify(`nats-route://${HOST}:${p}`)).join(', ');
  const extra = (i: number) => (typeof opts.config === 'function' ? opts.config(i) : (opts.config ?? []));
  const render = (node: ClusterNode): string[] => [
    `server_name: ${node.name}`,
    `listen: "${HOST}:${node.ports.client > 0 ? node.ports.client : -1}"`,
    `http: "${HOST}:${node.ports.http > 0 ? node.ports.http : -1}"`,
    ...(count === 1
      ? []
      : [`cluster { name: ${JSON.stringify(name)}, listen: "${HOST}:${node.ports.cluster}", routes: [ ${routes} ] }`]),
    ...leafBlock(opts.leafnodes, node.ports.leaf),
    ...(node.storeDir === undefined
      ? []
      : [
          `jetstream { store_dir: ${JSON.stringify(node.storeDir)}${domain === undefined ? '' : `, domain: ${JSON.stringify(domain)}`} }`,
        ]),
    ...(opts.defaultJsDomain === undefined ? [] : [`default_js_domain: ${JSON.stringify(opts.defaultJsDomain)}`]),
    ...extra(node.index),
  ];
  const nodes = clusterPorts.map(
    (cluster, i) =>
      new ClusterNode(i, path.join(root, `n${i + 1}`), { client: -1, cluster, leaf: -1, http: -1 }, render, !!js),
  );
  const wanted: Listener[] = [
    'client',
    'http',
    ...(count > 1 ? (['cluster'] as const) : []),
    ...(leaves ? (['leaf'] as const) : []),
  ];
  for (const n of nodes) if (!leaves) n.ports.leaf = 0;
  const startMs = opts.startMs ?? WAIT_MS;
  let stopped = false;
  const stop = async () => {
    stopped = true;
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    fs.rmSync(root, { recursive: true, force: true });
  };
  t.after(stop);
  const started = await Promise.allSettled(nodes.map((n) => n.start(wanted, startMs)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }

  const nodeAt = (i: number): ClusterNode => {
    const n = nodes[i];
    if (n === undefined) throw new Error(`nats-cluster: no node ${i} (0..${count - 1})`);
    return n;
  };
  const live = () => nodes.filter((n) => n.alive());

  return {
    name,
    nodes,
    urls: (o = {}) => (o.live ? live() : nodes).map((n) => n.url),
    leafUrls: () => nodes.map((n) => n.leafUrl),
    kill: (i, signal = 'SIGKILL') => nodeAt(i).kill(signal),
    async restart(i) {
      if (stopped) throw new Error('nats-cluster: restart after stop');
      await nodeAt(i).start(wanted, startMs);
    },
    async waitForRoutes(ms = WAIT_MS) {
      let last = '';
      await until(
        async () => {
          const up = live();
          const counts = await Promise.all(up.map((n) => routeCount(n)));
          last = up.map((n, k) => `${n.name}: ${counts[k]}`).join(', ');
          return counts.every((c) => c >= up.length - 1);
        },
        'every live node routes to every other',
        ms,
        () => last,
      );
    },
    waitForJetStream: (o = {}) => waitForJetStream(live, Math.min(3, count), o),
    stop,
  };
}

async function routeCount(node: ClusterNode): Promise<number> {
  try {
    const res = await within(fetch(`http://${HOST}:${node.httpPort}/routez`), `${node.name} /routez`, 2000);
    const body = (await res.json()) as { num_routes?: number };
    return body.num_routes ?? 0;
  } catch {
    return -1;
  }
}

async function waitForJetStream(
  live: () => ClusterNode[],
  replicas: number,
  opts: JetStreamProbeOptions,
): Promise<void> {
  const ms = opts.ms ?? JETSTREAM_MS;
  const end = Date.now() + ms;
  let last: string;
  for (let attempt = 1; ; attempt++) {
    try {
      await within(probe(live(), replicas, attempt, opts), 'JetStream probe', PROBE_MS);
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > end) throw new Error(`nats-cluster: JetStream not ready after ${ms} ms: ${last}`);
    await pace(PROBE_EVERY_MS);
  }
}

/** Account info, then an R`replicas` stream created and deleted: the meta leader is there and peers are current. */
async function probe(
  nodes: ClusterNode[],
  replicas: number,
  attempt: number,
  opts: JetStreamProbeOptions,
): Promise<void> {
  if (nodes.length === 0) throw new Error('no live node');
  const nc = await connect({
    ...opts.connection,
    servers: nodes.map((n) => n.url),
    reconnect: false,
    timeout: PROBE_MS,
  });
  try {
    const jsm = await nc.jetstreamManager({
      timeout: PROBE_MS,
      ...(opts.domain !== undefined && { domain: opts.domain }),
    });
    await jsm.getAccountInfo();
    const name = `nats_cluster_probe_${process.pid}_${attempt}`;
    await jsm.streams.add({
      name,
      subjects: [`nats_cluster_probe.${process.pid}.${attempt}`],
      num_replicas: replicas,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
    });
    await jsm.streams.delete(name);
  } finally {
    await nc.close().catch(() => undefined);
  }
}
