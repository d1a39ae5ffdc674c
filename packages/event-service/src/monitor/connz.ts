// /connz: one entry per client connection, open or recently closed, with nats-server's query parameters (sort,
// limit, offset, subs, state, cid) and field names (monitor.go Connz/ConnInfo, monitor_sort_opts.go). Closed
// connections are kept in a bounded ring the server feeds as clients go.
import type { Client } from '@event-broker/shared';
import {
  MonitorRequestError,
  goDuration,
  queryInt,
  querySubs,
  rfc3339,
  snapshotClient,
  uptime,
  type ConnSnapshot,
  type MonitorSource,
} from './source.js';

/** nats-server DefaultConnListSize. */
export const CONNZ_DEFAULT_LIMIT = 1024;
/** nats-server DefaultMaxClosedClients: how many closed connections /connz?state=closed remembers. */
export const MAX_CLOSED_CLIENTS = 10_000;

/** Recently closed connections, oldest dropped first. */
export class ClosedConnections {
  private readonly ring: ConnSnapshot[] = [];
  private next = 0;

  constructor(private readonly max = MAX_CLOSED_CLIENTS) {}

  record(client: Client): void {
    const snap = snapshotClient(client, Date.now());
    if (this.ring.length < this.max) this.ring.push(snap);
    else this.ring[this.next] = snap;
    this.next = (this.next + 1) % this.max;
  }

  list(): ConnSnapshot[] {
    return [...this.ring];
  }
}

type SortKey = (a: ConnSnapshot, b: ConnSnapshot, now: number) => number;

// Directions as nats-server's monitor_sort_opts.go: cid and start ascending, reason by text, everything else
// largest first. Ties keep cid order (the list is sorted by cid before).
const desc = (f: (c: ConnSnapshot, now: number) => number): SortKey => (a, b, now) => f(b, now) - f(a, now);
const SORTS: Record<string, SortKey> = {
  cid: (a, b) => a.cid - b.cid,
  start: (a, b) => a.start - b.start,
  subs: desc((c) => c.subs.length),
  pending: desc((c) => c.pendingBytes),
  msgs_to: desc((c) => c.outMsgs),
  msgs_from: desc((c) => c.inMsgs),
  bytes_to: desc((c) => c.outBytes),
  bytes_from: desc((c) => c.inBytes),
  last: desc((c) => c.lastActivity),
  idle: desc((c, now) => now - c.lastActivity),
  uptime: desc((c, now) => (c.stop ?? now) - c.start),
  stop: desc((c) => c.stop ?? 0),
  reason: (a, b) => (a.reason ?? '').localeCompare(b.reason ?? ''),
  // nats-server 2.10's addition (2.9 refuses it).
  rtt: desc((c) => c.rttMs),
};

export function connz(src: MonitorSource, q: URLSearchParams, closed: ClosedConnections | undefined): Record<string, unknown> {
  const sortName = q.get('sort') || 'cid';
  const sort = SORTS[sortName];
  if (sort === undefined) throw new MonitorRequestError(`invalid sorting option: ${sortName}`);
  const state = q.get('state') || 'open';
  if (state !== 'open' && state !== 'closed' && state !== 'any') {
    throw new MonitorRequestError(`invalid connection state: ${state}`);
  }
  if ((sortName === 'stop' || sortName === 'reason') && state === 'open') {
    throw new MonitorRequestError(`sort by ${sortName} only valid on closed connections`);
  }
  const subs = querySubs(q);
  let offset = queryInt(q, 'offset');
  let limit = queryInt(q, 'limit');
  const cid = queryInt(q, 'cid');
  if (offset < 0) offset = 0;
  if (limit <= 0) limit = CONNZ_DEFAULT_LIMIT;

  const now = Date.now();
  let conns: ConnSnapshot[] = [];
  if (state !== 'closed') for (const c of src.clients.values()) conns.push(snapshotClient(c));
  if (state !== 'open' && closed !== undefined) conns.push(...closed.list());
  if (cid > 0) {
    // A single connection asked for by id: paging does not apply (nats-server monitor.go Connz).
    conns = conns.filter((c) => c.cid === cid);
    offset = 0;
  }
  conns.sort((a, b) => a.cid - b.cid);
  if (sortName !== 'cid') conns.sort((a, b) => sort(a, b, now));
  const total = conns.length;
  const page = conns.slice(offset, offset + limit);
  return {
    server_id: src.serverId,
    now: rfc3339(now),
    num_connections: page.length,
    total,
    offset,
    limit,
    connections: page.map((c) => connInfo(c, now, subs)),
  };
}

function connInfo(c: ConnSnapshot, now: number, subs: 'none' | 'list' | 'detail'): Record<string, unknown> {
  const end = c.stop ?? now;
  const info: Record<string, unknown> = {
    cid: c.cid,
    kind: 'Client',
    type: c.type,
    ip: c.ip,
    port: c.port,
    start: rfc3339(c.start),
    last_activity: rfc3339(c.lastActivity),
  };
  if (c.stop !== undefined) {
    info.stop = rfc3339(c.stop);
    info.reason = c.reason ?? '';
  }
  Object.assign(info, {
    // Measured on the server's periodic PING; "0s" until the first one is answered.
    rtt: goDuration(c.rttMs),
    uptime: uptime(end - c.start),
    idle: uptime(end - c.lastActivity),
    pending_bytes: c.pendingBytes,
    in_msgs: c.inMsgs,
    out_msgs: c.outMsgs,
    in_bytes: c.inBytes,
    out_bytes: c.outBytes,
    subscriptions: c.subs.length,
  });
  // nats-server leaves empty name/lang/version out (omitempty).
  if (c.name) info.name = c.name;
  if (c.lang) info.lang = c.lang;
  if (c.version) info.version = c.version;
  if (subs === 'list' && c.subs.length > 0) info.subscriptions_list = c.subs.map((s) => s.subject);
  if (subs === 'detail' && c.subs.length > 0) {
    info.subscriptions_list_detail = c.subs.map((s) => ({
      subject: s.subject,
      ...(s.queue !== undefined && { qgroup: s.queue }),
      sid: s.sid,
      msgs: s.msgs,
      cid: c.cid,
    }));
  }
  return info;
}
