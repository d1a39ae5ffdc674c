// /leafz: the leaf links attached to our [leafnodes] listener in nats-server's shape (monitor.go Leafz, LeafInfo),
// so tools reading a hub's /leafz read ours. Every leaf is in the global account, and a link accepted here is never
// a spoke (is_spoke is true on the side that dialled). The links themselves are leafnode/'s.
import type { LeafLink } from '@event-broker/shared';
import { goDuration, queryBool, rfc3339, type MonitorSource } from './source.js';

/** nats-server monitor.go LeafInfo. */
export interface LeafInfo {
  name: string;
  is_spoke: boolean;
  account: string;
  ip: string;
  port: number;
  rtt?: string;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  subscriptions: number;
  subscriptions_list?: string[];
}

export interface Leafz {
  server_id: string;
  now: string;
  leafnodes: number;
  leafs: LeafInfo[];
}

/** `?subs=1` adds each link's subscriptions_list (nats-server decodeBool spellings). */
export function leafz(src: MonitorSource, q: URLSearchParams): Leafz {
  const subs = queryBool(q, 'subs');
  // nats-server lists a link once its CONNECT has bound it to an account; one still in its handshake is left out.
  const links = [...(src.leafnodes?.links.values() ?? [])].filter((l) => l.leaf !== undefined && !l.isClosed);
  return {
    server_id: src.serverId,
    now: rfc3339(Date.now()),
    leafnodes: links.length,
    leafs: links.map((l) => leafInfo(l, subs)),
  };
}

function leafInfo(l: LeafLink, subs: boolean): LeafInfo {
  const info: LeafInfo = {
    name: l.leaf?.name ?? '',
    is_spoke: false,
    account: '$G',
    ip: l.transport.remoteAddress,
    port: l.transport.remotePort,
    // omitempty in nats-server: absent until a PING has been answered.
    ...(l.rttMs > 0 && { rtt: goDuration(l.rttMs) }),
    in_msgs: l.stats.inMsgs,
    out_msgs: l.stats.outMsgs,
    in_bytes: l.stats.inBytes,
    out_bytes: l.stats.outBytes,
    subscriptions: l.subs.size,
  };
  if (subs) info.subscriptions_list = [...l.subs.values()].map((s) => s.subject).sort();
  return info;
}
