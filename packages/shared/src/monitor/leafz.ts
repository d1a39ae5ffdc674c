// /leafz in nats-server's shape (monitor.go Leafz, LeafzInfo) for both ends of a leafnode link: a hub lists the
// leaves attached to its leafnode port (LeafLink, is_spoke false), a leaf lists its remote, the hub it dialled (Uplink,
// is_spoke true), as a nats-server leaf lists its remotes. Every link is in the global account.
import type { LeafLink } from '../leafnode/link.js';
import type { Uplink } from '../leafnode/uplink.js';
import { goDuration, rfc3339 } from './format.js';
import { queryBool } from './query.js';

/** nats-server monitor.go LeafInfo (name and is_spoke are 2.10's; 2.9 readers ignore them). */
export interface LeafzInfo {
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
  /**
   * Ours, hub side, with `?auth=1` (as /connz gives `authorized_user`): how the leaf authenticated (`none`, `tls`:
   * any certificate of the CA, `certificate`: a listed one, `password`, `token`) and as whom (a user name or
   * certificate identity; never a secret).
   */
  auth_method?: string;
  authorized_user?: string;
}

export interface Leafz {
  server_id: string;
  now: string;
  leafnodes: number;
  leafs: LeafzInfo[];
}

export interface LeafzSource {
  readonly serverId: string;
  /** The links to list; `subs` asks for each one's subscriptions_list, `auth` for how each authenticated. */
  leafs(subs: boolean, auth: boolean): LeafzInfo[];
}

/** `?subs=1` adds each link's subscriptions_list, `?auth=1` how it authenticated (nats-server decodeBool spellings). */
export function leafz(src: LeafzSource, q: URLSearchParams): Leafz {
  const leafs = src.leafs(queryBool(q, 'subs'), queryBool(q, 'auth'));
  return { server_id: src.serverId, now: rfc3339(Date.now()), leafnodes: leafs.length, leafs };
}

/**
 * A leaf attached to our leafnode port. nats-server lists a link once its CONNECT has bound it to an account: one still
 * in its handshake (or closed) gives undefined.
 */
export function leafInfoOfLink(l: LeafLink, subs: boolean, auth = false): LeafzInfo | undefined {
  if (l.leaf === undefined || l.isClosed) return undefined;
  return withSubs(
    {
      name: l.leaf.name,
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
      ...(auth && l.identity !== undefined && { auth_method: l.identity.method }),
      ...(auth && l.identity?.user !== undefined && { authorized_user: l.identity.user }),
    },
    l.subs.values(),
    subs,
  );
}

/**
 * The hub our uplink dialled, while the link is up (a nats-server leaf lists its remote once connected). ip and
 * port are the dialled URL's; subscriptions are the hub's interest as it announced it to us.
 */
export function leafInfoOfUplink(u: Uplink, subs: boolean): LeafzInfo | undefined {
  const hub = u.hub;
  if (!u.up || hub === undefined) return undefined;
  const at = hostPort(hub.url);
  return withSubs(
    {
      name: hub.serverName,
      is_spoke: true,
      account: '$G',
      ip: at.host,
      port: at.port,
      // A nats-server leaf prints "0s" for its remote until a PING is answered (never omitted there).
      rtt: goDuration(u.rttMs),
      in_msgs: u.stats.inMsgs,
      out_msgs: u.stats.outMsgs,
      in_bytes: u.stats.inBytes,
      out_bytes: u.stats.outBytes,
      subscriptions: u.subs.size,
    },
    u.subs.values(),
    subs,
  );
}

function withSubs(info: LeafzInfo, list: Iterable<{ subject: string }>, subs: boolean): LeafzInfo {
  if (subs) info.subscriptions_list = [...list].map((s) => s.subject).sort();
  return info;
}

/** `tls://127.0.0.1:7422` → host and port (an IPv6 host keeps no brackets, as Go prints a net.IP). */
function hostPort(url: string): { host: string; port: number } {
  try {
    const u = new URL(url);
    return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port) };
  } catch {
    return { host: '', port: 0 };
  }
}
