// /varz: a server's settings and running totals under nats-server's field names and JSON types (monitor.go Varz),
// so nats-top, prometheus-nats-exporter and `nats server` tooling read it unchanged. Sections for features a process
// does not have (cluster, gateway, mqtt, jetstream) are present and empty, as nats-server leaves them; what differs
// between processes (the leaf section, their own limits) comes in the options.
import os from 'node:os';
import type { Broker } from '../server/broker.js';
import type { Client, ClientLimits } from '../server/client.js';
import { nanoseconds, rfc3339, uptime } from './format.js';

export interface VarzSource {
  readonly startedAt: Date;
  /** When the configuration in force was loaded (start, then each reload): config_load_time. */
  readonly configLoadedAt: Date;
  readonly clients: ReadonlyMap<number, Client>;
  readonly totalConnections: number;
  readonly broker: Broker;
  /** The INFO fields every client is greeted with (server_id, version, host, port, auth/tls flags...). */
  serverInfo(): Record<string, unknown>;
}

export interface VarzOptions {
  httpHost: string;
  httpPort: number;
  /** Requests served per endpoint path, this one included (nats-server http_req_stats). */
  httpReqStats: Readonly<Record<string, number>>;
  cpu: CpuSampler;
  limits: ClientLimits;
  maxConnections: number;
  /** Subscriptions as the process counts them. */
  subscriptions: number;
  /** The websocket section (`{}` when off). */
  websocket?: Record<string, unknown>;
  /** The leaf section (`{}` without leafnode remotes), and how many leafnode links are up. */
  leaf?: Record<string, unknown>;
  leafnodes?: number;
  /** Fields beyond nats-server's, appended. */
  extra?: Record<string, unknown>;
}

/**
 * Process CPU use in percent of one core over the time since the previous sample, as nats-server reports `cpu`
 * (it asks ps for the same figure). The first sample covers the time since the process started.
 */
export class CpuSampler {
  private lastUsage = process.cpuUsage();
  private lastAt = performance.now();
  private last = 0;

  constructor() {
    // Start the first window at process start: a freshly started server then reports what booting cost.
    this.lastUsage = { user: 0, system: 0 };
    this.lastAt = performance.now() - process.uptime() * 1000;
  }

  sample(): number {
    const now = performance.now();
    const usage = process.cpuUsage();
    const elapsedUs = (now - this.lastAt) * 1000;
    // Samples closer than 100 ms apart repeat the previous figure: a tiny window makes a noisy percentage.
    if (elapsedUs < 100_000) return this.last;
    const usedUs = usage.user - this.lastUsage.user + (usage.system - this.lastUsage.system);
    this.last = Math.round((usedUs / elapsedUs) * 10000) / 100;
    this.lastUsage = usage;
    this.lastAt = now;
    return this.last;
  }
}

export function varz(src: VarzSource, opts: VarzOptions): Record<string, unknown> {
  const lim = opts.limits;
  const c = src.broker.counters;
  const now = Date.now();
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  return {
    // The same identity and flags the clients' INFO carries (nats-server builds both from one Info).
    ...src.serverInfo(),
    max_connections: opts.maxConnections,
    // Go's time.Duration marshals as integer nanoseconds; auth_timeout and tls_timeout are float seconds.
    ping_interval: nanoseconds(lim.ping_interval),
    ping_max: lim.ping_max,
    http_host: opts.httpHost,
    http_port: opts.httpPort,
    http_base_path: '',
    https_port: 0,
    auth_timeout: lim.auth_timeout / 1000,
    max_control_line: lim.max_control_line,
    max_payload: lim.max_payload,
    max_pending: lim.max_pending,
    cluster: {},
    gateway: {},
    leaf: opts.leaf ?? {},
    mqtt: {},
    websocket: opts.websocket ?? {},
    jetstream: {},
    tls_timeout: 2,
    write_deadline: nanoseconds(lim.write_deadline),
    start: rfc3339(src.startedAt.getTime()),
    now: rfc3339(now),
    uptime: uptime(now - src.startedAt.getTime()),
    mem: process.memoryUsage.rss(),
    cores,
    gomaxprocs: cores,
    cpu: opts.cpu.sample(),
    connections: src.clients.size,
    total_connections: src.totalConnections,
    routes: 0,
    remotes: 0,
    leafnodes: opts.leafnodes ?? 0,
    in_msgs: c.inMsgs,
    out_msgs: c.outMsgs,
    in_bytes: c.inBytes,
    out_bytes: c.outBytes,
    slow_consumers: c.slowConsumers,
    subscriptions: opts.subscriptions,
    http_req_stats: { ...opts.httpReqStats },
    config_load_time: rfc3339(src.configLoadedAt.getTime()),
    ...opts.extra,
  };
}
