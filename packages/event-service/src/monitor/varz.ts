// /varz: the server's settings and running totals under nats-server's field names and JSON types (monitor.go
// Varz), so nats-top, prometheus-nats-exporter and `nats server` tooling read it unchanged. Sections for features
// we do not have (cluster, gateway, leaf, mqtt, jetstream) are present and empty, as nats-server leaves them.
import os from 'node:os';
import { nanoseconds, rfc3339, uptime, type MonitorSource } from './source.js';

export interface VarzOptions {
  httpHost: string;
  httpPort: number;
  /** Requests served per endpoint path, this one included (nats-server http_req_stats). */
  httpReqStats: Readonly<Record<string, number>>;
  cpu: CpuSampler;
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

export function varz(src: MonitorSource, opts: VarzOptions): Record<string, unknown> {
  const svc = src.config.service;
  const c = src.broker.counters;
  const now = Date.now();
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const ws = src.config.websocket;
  return {
    // The same identity and flags the clients' INFO carries (nats-server builds both from one Info).
    ...src.serverInfo(),
    max_connections: svc.max_connections,
    // Go's time.Duration marshals as integer nanoseconds; auth_timeout and tls_timeout are float seconds.
    ping_interval: nanoseconds(svc.ping_interval),
    ping_max: svc.ping_max,
    http_host: opts.httpHost,
    http_port: opts.httpPort,
    http_base_path: '',
    https_port: 0,
    auth_timeout: svc.auth_timeout / 1000,
    max_control_line: svc.max_control_line,
    max_payload: svc.max_payload,
    max_pending: svc.max_pending,
    cluster: {},
    gateway: {},
    leaf: {},
    mqtt: {},
    websocket: ws === undefined ? {} : { host: ws.host, port: src.websocketPort ?? ws.port, no_tls: ws.no_tls || src.config.tls === undefined },
    jetstream: {},
    tls_timeout: 2,
    write_deadline: nanoseconds(svc.write_deadline),
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
    leafnodes: 0,
    in_msgs: c.inMsgs,
    out_msgs: c.outMsgs,
    in_bytes: c.inBytes,
    out_bytes: c.outBytes,
    slow_consumers: c.slowConsumers,
    subscriptions: src.broker.listenerCount,
    http_req_stats: { ...opts.httpReqStats },
    config_load_time: rfc3339(src.configLoadedAt.getTime()),
    // Ours, beyond nats-server's fields: the service-wide limits operators watch.
    listener_limit: src.broker.listenerLimit,
    event_limit: svc.event_limit,
  };
}
