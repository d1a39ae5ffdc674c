// /metrics: the service's figures in Prometheus text format (shared's MetricSet over prom-client: read from the
// server when scraped, one Registry per server). The handlers' figures are read once per scrape (their status()
// asks the store), the leaf links' from the leafnode port.
import { MetricSet } from '@event-broker/shared';
import type { HandlersStatus } from '../handlers/status.js';
import type { MonitorSource } from './source.js';

/** Series prefix: the process is the event service, not a nats-server (whose exporter uses gnatsd_). */
const P = 'event_service_';

type SinkStatus = HandlersStatus['sinks'][number];

export class ServiceMetrics {
  private readonly set = new MetricSet(P);
  /** The handlers' status for the scrape in progress (one store read per scrape, not one per series). */
  private handlers: HandlersStatus | undefined;

  constructor(private readonly src: MonitorSource) {
    const m = this.set;
    const c = src.broker.counters;
    m.gauge('connections', 'Client connections open now.', () => src.clients.size);
    m.counter('connections_total', 'Client connections accepted since start.', () => src.totalConnections);
    m.counter('in_msgs_total', 'Messages published to the service.', () => c.inMsgs);
    m.counter('out_msgs_total', 'Messages delivered to subscribers.', () => c.outMsgs);
    m.counter('in_bytes_total', 'Payload bytes (headers included) published to the service.', () => c.inBytes);
    m.counter('out_bytes_total', 'Payload bytes (headers included) delivered to subscribers.', () => c.outBytes);
    m.counter('slow_consumers_total', 'Connections closed as slow consumers.', () => c.slowConsumers);
    m.gauge(
      'subscriptions',
      "Listeners: users' subscriptions, with the listener credit granted to gateways for theirs; bounded by listener_limit.",
      () => src.broker.listenerCount,
    );
    m.gauge(
      'listener_credit',
      "Listener credit granted to gateways for their clients' subscriptions (part of subscriptions).",
      () => src.broker.listenerCreditGranted,
    );
    m.gauge(
      'system_subscriptions',
      "The service's own subscriptions (intake, feed, responders): not listeners, never counted toward listener_limit.",
      () => src.broker.systemSubscriptions,
    );
    m.gauge(
      'listener_limit',
      'The most subscriptions the service admits at once (listener_limit).',
      () => src.broker.listenerLimit,
    );
    m.gauge(
      'event_limit',
      'The most events held for the handlers at once (event_limit).',
      () => src.config.service.event_limit,
    );
    m.gauge(
      'max_connections',
      'The most client connections admitted at once (max_connections).',
      () => src.config.service.max_connections,
    );
    m.gauge(
      'events_queued',
      'Events held for the handlers now (stored, not yet delivered to every sink that wants them); bounded by event_limit.',
      () => this.handlers?.held ?? 0,
    );
    m.gauge(
      'events_reserved',
      'Room under event_limit granted to gateways as credit and not yet used; events_queued + events_reserved never pass event_limit.',
      () => this.handlers?.reserved ?? 0,
    );

    // The intake (this run's): events stored, repeated ids, refusals by reason, and the group commits.
    const intake = () => this.handlers?.intake;
    m.counter(
      'events_accepted_total',
      'Events stored since start (acknowledged to requests), duplicates not counted.',
      () => intake()?.accepted ?? 0,
    );
    m.counter(
      'events_duplicates_total',
      'Events whose id was already stored: acknowledged as duplicates, not stored again.',
      () => intake()?.duplicates ?? 0,
    );
    m.labelledCounter(
      'events_refused_total',
      'Events refused: invalid (the reply names the field), event_limit (requests at the limit), store (a commit failed).',
      ['reason'],
      () => {
        const i = intake();
        return i === undefined
          ? []
          : ([
              [{ reason: 'invalid' }, i.invalid],
              [{ reason: 'event_limit' }, i.refused_at_limit],
              [{ reason: 'store' }, i.store_failures],
            ] as const);
      },
    );
    m.gauge(
      'paused_publishers',
      'Plain publishers held at event_limit (stopped before a message, their reads paused) until the handlers free room.',
      () => intake()?.paused_publishers ?? 0,
    );
    m.counter('store_commits_total', 'Group commits of the intake settled since start.', () => intake()?.commits ?? 0);
    m.counter(
      'store_commit_seconds_total',
      'Time the group commits took, from sending to answer; over store_commits_total, the mean latency.',
      () => intake()?.commit_seconds ?? 0,
    );

    // Per sink (label sink), present while the handlers run. Counters are this run's; dead letters and the
    // backlog are read from the store, so they survive a restart.
    const perSink = (read: (s: SinkStatus) => number) => () =>
      (this.handlers?.sinks ?? []).map((s) => [{ sink: s.name }, read(s)] as const);
    m.labelledCounter(
      'handler_deliveries_total',
      'Events a sink accepted (2xx) since start.',
      ['sink'],
      perSink((s) => s.delivered),
    );
    m.labelledCounter(
      'handler_failures_total',
      'Delivery attempts that failed (an error status, a timeout, unreachable) since start.',
      ['sink'],
      perSink((s) => s.failed_attempts),
    );
    m.labelledCounter(
      'handler_retries_total',
      'Failed deliveries scheduled for another attempt since start.',
      ['sink'],
      perSink((s) => s.retries),
    );
    m.labelledGauge(
      'handler_dead_letters',
      'Deliveries dead-lettered for the sink and held in the store (until replayed).',
      ['sink'],
      perSink((s) => s.dead_letters),
    );
    m.labelledGauge(
      'handler_backlog',
      'Deliveries pending for the sink (waiting, in flight or backing off).',
      ['sink'],
      perSink((s) => s.backlog),
    );
    m.labelledGauge(
      'handler_up',
      '1 while the sink is delivering, 0 once stopped by 410 Gone.',
      ['sink'],
      perSink((s) => (s.health === 'stopped' ? 0 : 1)),
    );

    // Leafnode links on [leafnodes] (the gateway's bridge among them): admitted ones only, so a flood of sockets
    // that never authenticate shows as such, not as links. Which links they are is /leafz's and /handlerz's.
    m.gauge(
      'leafnode_links',
      'Leafnode links admitted (their CONNECT accepted) and open.',
      () => src.leafnodes?.admittedLinks.length ?? 0,
    );
    m.gauge(
      'leafnode_unauthenticated',
      'Connections on the leafnode port not yet admitted (TLS handshake or CONNECT pending); at most max_unauthenticated.',
      () => src.leafnodes?.unauthenticatedCount ?? 0,
    );
    m.counter(
      'leafnode_oversize_dropped_total',
      'Messages from leaves over max_payload, read past and dropped (the link stays up).',
      () => src.leafnodes?.droppedOversize ?? 0,
    );
    m.counter(
      'leafnode_refused_total',
      'LS+, LS- and LMSG from leaves whose subject, reply or queue is not UTF-8, dropped (the link stays up).',
      () => src.leafnodes?.refusedOperations ?? 0,
    );
    m.gauge('up', '1 while the service accepts clients, 0 while starting or shutting down.', () =>
      src.state === 'running' ? 1 : 0,
    );
    m.processMetrics();
  }

  get contentType(): string {
    return this.set.contentType;
  }

  async text(): Promise<string> {
    this.handlers = await this.src.handlers?.status();
    try {
      return await this.set.text();
    } finally {
      this.handlers = undefined;
    }
  }
}
