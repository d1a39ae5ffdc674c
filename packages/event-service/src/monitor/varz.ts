// The service's /varz: shared's nats-server-shaped builder (shared/src/monitor/varz.ts) with the service's limits,
// its websocket section, and the service-wide limits operators watch beyond nats-server's fields.
import { varz, type CpuSampler } from '@event-broker/shared';
import type { MonitorSource } from './source.js';

export interface ServiceVarzOptions {
  httpHost: string;
  httpPort: number;
  httpReqStats: Readonly<Record<string, number>>;
  cpu: CpuSampler;
}

export function serviceVarz(src: MonitorSource, opts: ServiceVarzOptions): Record<string, unknown> {
  const svc = src.config.service;
  const ws = src.config.websocket;
  return varz(src, {
    ...opts,
    limits: svc,
    maxConnections: svc.max_connections,
    subscriptions: src.broker.listenerCount,
    // nats-server counts leaf connections once their CONNECT is accepted (leafnode.go addLeafNodeConnection).
    // Solicited ones (our remotes) count once up, as nats-server's do.
    leafnodes: (src.leafnodes?.admittedLinks.length ?? 0) + (src.leafRemotes?.uplinks.filter((u) => u.up).length ?? 0),
    websocket:
      ws === undefined
        ? {}
        : { host: ws.host, port: src.websocketPort ?? ws.port, no_tls: ws.no_tls || src.config.tls === undefined },
    extra: {
      listener_limit: src.broker.listenerLimit,
      // Part of `subscriptions` (the listeners): room granted to gateways for their clients' subscriptions.
      listener_credit: src.broker.listenerCreditGranted,
      // Not listeners: the service's own (intake, event feed, responders), and leaf links' interest (counted by
      // credit).
      system_subscriptions: src.broker.systemSubscriptions,
      leaf_subscriptions: src.broker.remoteSubscriptions,
      event_limit: svc.event_limit,
      events_held: src.handlers?.eventLimitUse().held ?? 0,
      events_reserved: src.handlers?.eventLimitUse().reserved ?? 0,
    },
  });
}
