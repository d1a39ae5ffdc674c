// What the monitoring endpoints read from a running server, and the value formats nats-server's monitoring JSON
// uses (Go durations, its uptime style, RFC 3339 times). Kept apart from EventServer so the endpoints are plain
// functions of a snapshot and the gateway can serve the same shapes from its own source later.
import type { CloseReason } from '@event-broker/shared';
import type { Broker } from '@event-broker/shared';
import type { Client } from '@event-broker/shared';
import type { ServiceConfig } from '../config-types.js';
import type { HandlersStatus } from '../handlers/index.js';
import type { LeafnodeListener } from '../leafnode/listener.js';

/** Where the server is in its life: /healthz answers 200 only while `running`; `draining` is SIGTERM's lame duck. */
export type ServerState = 'starting' | 'running' | 'draining' | 'closing' | 'closed';

export interface MonitorSource {
  readonly serverId: string;
  readonly config: ServiceConfig;
  readonly startedAt: Date;
  /** When the configuration in force was loaded (start, then each reload): /varz config_load_time. */
  readonly configLoadedAt: Date;
  /** The bound client port. */
  readonly port: number;
  readonly websocketPort: number | undefined;
  readonly state: ServerState;
  readonly clients: ReadonlyMap<number, Client>;
  readonly totalConnections: number;
  readonly broker: Broker;
  /** Routes beyond nats-server's endpoints (the event feed and dead letters), while the event handlers run. */
  readonly handlers?: MonitorExtension | undefined;
  /** The [leafnodes] listener and its links (the gateway's bridge among them), when configured. */
  readonly leafnodes?: LeafnodeListener | undefined;
  /** The INFO fields every client is greeted with (server_id, version, host, port, auth/tls flags...). */
  serverInfo(): Record<string, unknown>;
}

/**
 * Extra routes on the monitoring listener: answers true when it took the request (any method), false to leave it to
 * the monitoring endpoints.
 */
export interface MonitorExtension {
  serveHttp(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, url: URL): boolean | Promise<boolean>;
  /** The intake and each sink's health, for /handlerz. */
  status(): HandlersStatus;
}

/** One connection as /connz shows it, taken from a live client or kept when it closed. */
export interface ConnSnapshot {
  cid: number;
  type: 'nats' | 'websocket';
  ip: string;
  port: number;
  start: number; // epoch ms
  lastActivity: number; // epoch ms
  stop?: number; // epoch ms, closed connections only
  reason?: CloseReason;
  pendingBytes: number;
  rttMs: number;
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
  name: string;
  lang: string;
  version: string;
  subs: { subject: string; queue: string | undefined; sid: string; msgs: number }[];
}

export function snapshotClient(c: Client, closedAt?: number): ConnSnapshot {
  const snap: ConnSnapshot = {
    cid: c.cid,
    type: c.transport.kind === 'websocket' ? 'websocket' : 'nats',
    ip: c.transport.remoteAddress,
    port: c.transport.remotePort,
    start: c.startedAt,
    lastActivity: c.lastActivity,
    pendingBytes: closedAt === undefined ? c.pendingBytes : 0,
    rttMs: c.rttMs,
    inMsgs: c.stats.inMsgs,
    outMsgs: c.stats.outMsgs,
    inBytes: c.stats.inBytes,
    outBytes: c.stats.outBytes,
    name: c.name,
    lang: c.lang,
    version: c.version,
    subs: [...c.subs.values()].map((s) => ({ subject: s.subject, queue: s.queue, sid: s.sid, msgs: s.delivered })),
  };
  if (closedAt !== undefined) {
    snap.stop = closedAt;
    if (c.closeReason !== undefined) snap.reason = c.closeReason;
  }
  return snap;
}

/** RFC 3339 in UTC, as Go's time.Time marshals (milliseconds: all a JS clock gives). */
export function rfc3339(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** nats-server monitor.go myUptime: whole seconds as `1y2d3h4m5s`, leading zero units left out. */
export function uptime(ms: number): string {
  const tsecs = Math.max(0, Math.floor(ms / 1000));
  const tmins = Math.floor(tsecs / 60);
  const thrs = Math.floor(tmins / 60);
  const tdays = Math.floor(thrs / 24);
  const tyrs = Math.floor(tdays / 365);
  if (tyrs > 0) return `${tyrs}y${tdays % 365}d${thrs % 24}h${tmins % 60}m${tsecs % 60}s`;
  if (tdays > 0) return `${tdays}d${thrs % 24}h${tmins % 60}m${tsecs % 60}s`;
  if (thrs > 0) return `${thrs}h${tmins % 60}m${tsecs % 60}s`;
  if (tmins > 0) return `${tmins}m${tsecs % 60}s`;
  return `${tsecs}s`;
}

/** Go's time.Duration.String() for durations under a minute (the rtt field): `0s`, `850µs`, `3.463ms`, `1.5s`. */
export function goDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const trim = (n: number) => String(Number(n.toFixed(6)));
  if (ms < 0.001) return `${Math.round(ms * 1e6)}ns`;
  if (ms < 1) return `${trim(ms * 1000)}µs`;
  if (ms < 1000) return `${trim(ms)}ms`;
  return `${trim(ms / 1000)}s`;
}

/** Go's time.Duration JSON: integer nanoseconds (varz ping_interval, write_deadline). */
export function nanoseconds(ms: number): number {
  return Math.round(ms * 1e6);
}

/** A bad query parameter: answered 400 with nats-server's message text. */
export class MonitorRequestError extends Error {
  readonly code = 'EMONITOR_BAD_REQUEST';
}

/** nats-server monitor.go decodeInt: absent or empty is 0. */
export function queryInt(q: URLSearchParams, name: string): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return 0;
  if (!/^[+-]?\d+$/.test(raw)) {
    throw new MonitorRequestError(`Error decoding int for '${name}': strconv.Atoi: parsing ${JSON.stringify(raw)}: invalid syntax`);
  }
  return Number.parseInt(raw, 10);
}

/** nats-server decodeBool: Go's strconv.ParseBool spellings; absent or empty is false. */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const raw = q.get(name);
  if (raw === null || raw === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  throw new MonitorRequestError(`Error decoding boolean for '${name}': strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
}

/** nats-server decodeSubs: `detail` or a boolean. */
export function querySubs(q: URLSearchParams): 'none' | 'list' | 'detail' {
  if (q.get('subs') === 'detail') return 'detail';
  return queryBool(q, 'subs') ? 'list' : 'none';
}
