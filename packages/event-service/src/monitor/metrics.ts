// /metrics: the service's figures in Prometheus text format through prom-client. Every value is read from the
// server when scraped (no bookkeeping on the message path); each server has its own Registry, so several servers
// in one process (tests, embedding) never mix their series. The handlers' figures are read once per scrape (their
// status() asks the store), the leaf links' from the listener; gateway series join when the gateway lands.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { HandlersStatus } from '../handlers/index.js';
import type { MonitorSource } from './source.js';

/** Series prefix: the process is the event service, not a nats-server (whose exporter uses gnatsd_). */
const P = 'event_service_';

export class ServiceMetrics {
  readonly registry = new Registry();
  /** The handlers' status for the scrape in progress (one store read per scrape, not one per series). */
  private handlers: HandlersStatus | undefined;

  constructor(private readonly src: MonitorSource) {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name: P + name, help, registers, collect() { this.set(read()); } });
    // A counter's value is the server's own running total: set it at scrape time (prom-client counters only add).
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name: P + name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    const c = src.broker.counters;
    gauge('connections', 'Client connections open now.', () => src.clients.size);
    counter('connections_total', 'Client connections accepted since start.', () => src.totalConnections);
    counter('in_msgs_total', 'Messages published to the service.', () => c.inMsgs);
    counter('out_msgs_total', 'Messages delivered to subscribers.', () => c.outMsgs);
    counter('in_bytes_total', 'Payload bytes (headers included) published to the service.', () => c.inBytes);
    counter('out_bytes_total', 'Payload bytes (headers included) delivered to subscribers.', () => c.outBytes);
    counter('slow_consumers_total', 'Connections closed as slow consumers.', () => c.slowConsumers);
    gauge('subscriptions', 'Subscriptions (listeners) alive in the whole service.', () => src.broker.listenerCount);
    gauge('listener_limit', 'The most subscriptions the service admits at once (listener_limit).', () => src.broker.listenerLimit);
    gauge('event_limit', 'The most events held for the handlers at once (event_limit).', () => src.config.service.event_limit);
    gauge('max_connections', 'The most client connections admitted at once (max_connections).', () => src.config.service.max_connections);
    gauge('events_queued', 'Events held for the handlers now (stored, not yet delivered to every sink that wants them); bounded by event_limit.', () => this.handlers?.held ?? 0);

    // Per sink (label sink), present while the handlers run. Counters are this run's; dead letters and the
    // backlog are what the store holds, so they survive a restart.
    const readSinks = () => this.handlers?.sinks ?? [];
    const sinkGauge = (name: string, help: string, read: (s: HandlersStatus['sinks'][number]) => number) =>
      new Gauge({
        name: P + name,
        help,
        labelNames: ['sink'],
        registers,
        collect() {
          this.reset();
          for (const s of readSinks()) this.set({ sink: s.name }, read(s));
        },
      });
    const sinkCounter = (name: string, help: string, read: (s: HandlersStatus['sinks'][number]) => number) =>
      new Counter({
        name: P + name,
        help,
        labelNames: ['sink'],
        registers,
        collect() {
          this.reset();
          for (const s of readSinks()) this.inc({ sink: s.name }, read(s));
        },
      });
    sinkCounter('handler_deliveries_total', 'Events a sink accepted (2xx) since start.', (s) => s.delivered);
    sinkCounter('handler_failures_total', 'Delivery attempts that failed (an error status, a timeout, unreachable) since start.', (s) => s.failed_attempts);
    sinkCounter('handler_retries_total', 'Failed deliveries scheduled for another attempt since start.', (s) => s.retries);
    sinkGauge('handler_dead_letters', 'Deliveries dead-lettered for the sink and held in the store (until replayed).', (s) => s.dead_letters);
    sinkGauge('handler_backlog', 'Deliveries pending for the sink (waiting, in flight or backing off).', (s) => s.backlog);
    sinkGauge('handler_up', '1 while the sink is delivering, 0 once stopped by 410 Gone.', (s) => (s.health === 'stopped' ? 0 : 1));

    // Leafnode links accepted on [leafnodes] (the gateway's bridge among them).
    const links = () => [...(src.leafnodes?.links.values() ?? [])].filter((l) => !l.isClosed);
    gauge('leafnode_links', 'Leafnode links attached and past their CONNECT.', () => links().filter((l) => l.leaf !== undefined).length);
    new Gauge({
      name: P + 'leafnode_link_up',
      help: 'Per leafnode link: 1 once its CONNECT is accepted, 0 while it is still connecting.',
      labelNames: ['lid', 'name'],
      registers,
      collect() {
        this.reset();
        for (const l of links()) this.set({ lid: String(l.cid), name: l.leaf?.name ?? '' }, l.leaf === undefined ? 0 : 1);
      },
    });
    gauge('up', '1 while the service accepts clients, 0 while starting or shutting down.', () => (src.state === 'running' ? 1 : 0));
    // Process figures (memory, CPU, event-loop lag, GC) under the usual process_ and nodejs_ names.
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async text(): Promise<string> {
    this.handlers = this.src.handlers?.status();
    try {
      return await this.registry.metrics();
    } finally {
      this.handlers = undefined;
    }
  }
}
