// /handlerz: ours, not nats-server's — the event handlers' health (events held against event_limit, each sink's
// backlog, last error and dead letters) and the leafnode links (the gateway's bridge among them), in one small
// JSON the status page polls. What the handlers report is handlers/lifecycle.ts's status(); this module only frames it.
import type { HandlersStatus } from '../handlers/status.js';
import { rfc3339, type MonitorSource } from './source.js';

export interface LeafLinkStatus {
  lid: number;
  /** The leaf's server name from its CONNECT; empty until it has sent one. */
  name: string;
  server_id: string;
  ip: string;
  port: number;
  since: string;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  subscriptions: number;
}

export interface Handlerz {
  server_id: string;
  now: string;
  /** Null when the service runs without [store] or [handlers]. */
  handlers: HandlersStatus | null;
  event_limit: number;
  /** Null when [leafnodes] is not configured. */
  leafnodes: {
    host: string;
    port: number;
    /** Links admitted since start. */
    total_links: number;
    /** Sockets accepted and not yet admitted now; and those turned away because max_unauthenticated were waiting. */
    unauthenticated: number;
    refused_unauthenticated: number;
    /** bcrypt checks of leaf credentials queued or running now: each occupies one of max_unauthenticated. */
    bcrypt_waiting: number;
    /** Admitted links, open now: a socket not yet admitted counts in `unauthenticated`, never here. */
    links: LeafLinkStatus[];
  } | null;
}

export async function handlerz(src: MonitorSource): Promise<Handlerz> {
  const leaf = src.leafnodes;
  const conf = src.config.leafnodes;
  return {
    server_id: src.serverId,
    now: rfc3339(Date.now()),
    handlers: (await src.handlers?.status()) ?? null,
    event_limit: src.config.service.event_limit,
    leafnodes:
      leaf === undefined || conf === undefined
        ? null
        : {
            host: conf.host,
            port: leaf.port,
            total_links: leaf.totalLinks,
            unauthenticated: leaf.unauthenticatedCount,
            refused_unauthenticated: leaf.refusedUnauthenticated,
            bcrypt_waiting: leaf.bcryptWaiting,
            links: leaf.admittedLinks.map((l) => ({
              lid: l.cid,
              name: l.leaf?.name ?? '',
              server_id: l.leaf?.serverId ?? '',
              ip: l.transport.remoteAddress,
              port: l.transport.remotePort,
              since: rfc3339(l.startedAt),
              in_msgs: l.stats.inMsgs,
              out_msgs: l.stats.outMsgs,
              in_bytes: l.stats.inBytes,
              out_bytes: l.stats.outBytes,
              subscriptions: l.subs.size,
            })),
          },
  };
}
