// /metrics: the service's figures in Prometheus text format through prom-client. Every value is read from the
// server when scraped (no bookkeeping on the message path); each server has its own Registry, so several servers
// in one process (tests, embedding) never mix their series. Handler and gateway series join as those land.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MonitorSource } from './source.js';

/** Series prefix: the process is the event service, not a nats-server (whose exporter uses gnatsd_). */
const P = 'event_service_';

export class ServiceMetrics {
  readonly registry = new Registry();

  constructor(src: MonitorSource) {
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
    gauge('up', '1 while the service accepts clients, 0 while starting or shutting down.', () => (src.state === 'running' ? 1 : 0));
    // Process figures (memory, CPU, event-loop lag, GC) under the usual process_ and nodejs_ names.
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
