// The gateway's /metrics series (prom-client through shared MetricSet), read from the running gateway at scrape
// time. With workers, each worker keeps its own set and the primary sums them (cluster-monitor.ts).
import { MetricSet } from '@event-broker/shared';
import type { GatewayMonitorSource } from './monitor-source.js';

/** Series prefix: the process is the event gateway (nats-server's exporter uses gnatsd_). */
export const P = 'event_gateway_';

export function gatewayMetrics(g: GatewayMonitorSource): MetricSet {
  const m = new MetricSet(P);
  const c = g.broker.counters;
  const up = () => g.uplink.counters;
  m.gauge('connections', 'Client connections open now.', () => g.clients.size);
  m.counter('connections_total', 'Client connections accepted since start.', () => g.totalConnections);
  m.gauge(
    'max_connections',
    'The most client connections admitted at once (max_connections).',
    () => g.config.gateway.max_connections,
  );
  m.counter('in_msgs_total', 'Messages published to the gateway (by clients and from the upstream).', () => c.inMsgs);
  m.counter('out_msgs_total', 'Messages delivered to clients and to the upstream.', () => c.outMsgs);
  m.counter('in_bytes_total', 'Payload bytes (headers included) published to the gateway.', () => c.inBytes);
  m.counter('out_bytes_total', 'Payload bytes (headers included) delivered.', () => c.outBytes);
  m.counter('slow_consumers_total', 'Client connections closed as slow consumers.', () => c.slowConsumers);
  m.gauge('subscriptions', 'Client subscriptions alive now.', () => g.broker.listenerCount);
  // Every reason is present from the first scrape (at 0), so rate() has a start.
  m.labelledCounter(
    'auth_failures_total',
    'Clients refused at admission, by reason (certificate or token).',
    ['reason'],
    () => g.authFailures.entries().map(([reason, n]) => [{ reason }, n] as const),
  );
  m.labelledCounter(
    'permission_violations_total',
    "Publishes and subscriptions refused by the token's permissions.",
    ['kind'],
    () => (['publish', 'subscribe'] as const).map((kind) => [{ kind }, g.permissionViolations[kind]] as const),
  );
  m.gauge('upstream_up', '1 while the leafnode link to the event service is up.', () => (g.uplink.up ? 1 : 0));
  m.counter(
    'upstream_reconnects_total',
    'Times the upstream link came up again after having been up.',
    () => up().reconnects,
  );
  m.counter(
    'upstream_failures_total',
    'Upstream dials and handshakes that failed, and links lost.',
    () => up().failures,
  );
  m.gauge(
    'upstream_buffered_msgs',
    'Messages held for the upstream now (link down, or waiting for its interest).',
    () => up().bufferedMsgs,
  );
  m.gauge(
    'upstream_buffered_bytes',
    'Bytes held for the upstream now (bounded by upstream.buffer_bytes).',
    () => up().bufferedBytes,
  );
  m.gauge(
    'upstream_paused_publishers',
    'Client connections whose reading is paused because the upstream buffer is full.',
    () => up().pausedPublishers,
  );
  m.counter('upstream_in_msgs_total', 'Messages received from the upstream.', () => up().inMsgs);
  m.counter('upstream_out_msgs_total', 'Messages sent to the upstream.', () => up().outMsgs);
  m.counter('upstream_in_bytes_total', 'Payload bytes received from the upstream.', () => up().inBytes);
  m.counter('upstream_out_bytes_total', 'Payload bytes sent to the upstream.', () => up().outBytes);
  m.labelledCounter(
    'upstream_dropped_msgs_total',
    'Messages for the upstream discarded: held ones it no longer wanted, held ones when the gateway closed, ones over its max_payload.',
    ['why'],
    () => [
      [{ why: 'no_interest' }, up().droppedNoInterest],
      [{ why: 'closed' }, up().droppedOnClose],
      [{ why: 'too_large' }, up().droppedOversize],
    ],
  );
  m.counter(
    'upstream_in_dropped_msgs_total',
    "Messages from the upstream over what the gateway accepts (its max_payload and the upstream's), read past and dropped.",
    () => up().inOversize,
  );
  // Credit from the event service (event-credit.ts, listener-quota.ts); all 0 upstream of a hub that has none.
  const ev = () => g.eventCredit.stats();
  const lq = () => g.listenerQuota.stats();
  m.gauge(
    'event_credit_active',
    "1 while the upstream answers event credit: clients' plain events are sent on credit.",
    () => (ev().active ? 1 : 0),
  );
  m.gauge(
    'event_credit',
    'Event credit held now: plain events the gateway may send before it asks the service again.',
    () => ev().held,
  );
  m.gauge(
    'event_credit_asks_outstanding',
    "Event credit requests awaiting the service's answer (0 or 1).",
    () => ev().outstanding_asks,
  );
  m.labelledCounter(
    'credit_messages_total',
    'Credit messages exchanged with the service (requests and returns sent, answers received); each also counts in in_msgs and out_msgs.',
    ['kind'],
    () => [
      [{ kind: 'events' }, ev().messages_total],
      [{ kind: 'listeners' }, lq().messages_total],
    ],
  );
  m.gauge(
    'event_credit_held_clients',
    'Clients held before a plain event now, waiting for credit (the service at event_limit).',
    () => ev().clients_held,
  );
  m.counter('event_credit_granted_total', 'Event credit granted by the service.', () => ev().granted_total);
  m.counter('event_credit_spent_total', 'Plain events sent on credit.', () => ev().spent_total);
  m.counter('event_credit_returned_total', 'Event credit given back unused.', () => ev().returned_total);
  m.counter('event_credit_holds_total', 'Times a client was held for want of event credit.', () => ev().holds_total);
  m.gauge(
    'listener_quota_active',
    '1 while the upstream answers listener credit: client subscriptions count toward its listener_limit.',
    () => (lq().active ? 1 : 0),
  );
  m.gauge('listener_quota_granted', 'Listener quota granted by the service for this gateway.', () => lq().granted);
  m.gauge(
    'listener_quota_used',
    'Client subscriptions counted against the quota (each one, not deduplicated).',
    () => lq().used,
  );
  m.gauge(
    'listener_quota_held_subscriptions',
    "Subscriptions held now, waiting for the service's answer.",
    () => lq().subscriptions_held,
  );
  m.counter(
    'listener_quota_holds_total',
    "Times a subscription was held for the service's answer.",
    () => lq().holds_total,
  );
  m.counter(
    'listener_quota_refused_total',
    "Subscriptions refused because the service's listener_limit was reached.",
    () => lq().refused_total,
  );
  m.gauge('up', '1 while the gateway accepts clients, 0 while starting, draining or shutting down.', () =>
    g.state === 'running' ? 1 : 0,
  );
  m.processMetrics();
  return m;
}
