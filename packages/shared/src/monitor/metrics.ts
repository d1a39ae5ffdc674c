// Prometheus series through prom-client, read from the server at scrape time: no bookkeeping on the message path.
// A counter's value is the server's own running total (prom-client counters only add, so it is reset and set at
// each scrape); labelled series are rebuilt at each scrape, so a label that went away (a closed link) disappears.
// Each MetricSet has its own Registry: several servers in one process (tests, embedding) never mix their series.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export type MetricLabels = Readonly<Record<string, string>>;

export class MetricSet {
  readonly registry = new Registry();

  /** `prefix` starts every series name this set makes (`event_service_`, `event_gateway_`). */
  constructor(private readonly prefix: string) {}

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name: this.prefix + name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A running total the server keeps (a counter in Prometheus' sense: it only grows while the process lives). */
  counter(name: string, help: string, read: () => number): void {
    new Counter({
      name: this.prefix + name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** One gauge per label set `read` yields at scrape time. */
  labelledGauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: () => Iterable<readonly [MetricLabels, number]>,
  ): void {
    new Gauge({
      name: this.prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of read()) this.set(labels, v);
      },
    });
  }

  /** One running total per label set `read` yields at scrape time. */
  labelledCounter(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: () => Iterable<readonly [MetricLabels, number]>,
  ): void {
    new Counter({
      name: this.prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of read()) this.inc(labels, v);
      },
    });
  }

  /** Process figures (memory, CPU, event-loop lag, GC) under the usual process_ and nodejs_ names. */
  processMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }
}
