// Prometheus series through prom-client, read from the server at scrape time: no bookkeeping on the message path.
// A counter's value is the server's own running total (prom-client counters only add, so it is reset and set at
// each scrape); labelled series are rebuilt at each scrape, so a label that went away (a closed link) disappears.
// Each MetricSet has its own Registry: several servers in one process (tests, embedding) never mix their series.
// prom-client is loaded at the first scrape, not at start-up (issue 16 item 5): until then a set only records what
// it will define.
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';

type PromClient = typeof import('prom-client');
const require = createRequire(import.meta.url);

export type MetricLabels = Readonly<Record<string, string>>;

export class MetricSet {
  private built: Registry | undefined;
  private readonly defs: ((pc: PromClient, registry: Registry) => void)[] = [];

  /** `prefix` starts every series name this set makes (`event_service_`, `event_gateway_`). */
  constructor(private readonly prefix: string) {}

  /** The set's registry, made (and prom-client loaded) on first use with every series defined so far. */
  get registry(): Registry {
    if (this.built === undefined) {
      const pc = require('prom-client') as PromClient;
      this.built = new pc.Registry();
      for (const def of this.defs) def(pc, this.built);
    }
    return this.built;
  }

  /** Defines a series now if the registry exists, else when it is made. */
  private define(def: (pc: PromClient, registry: Registry) => void): void {
    if (this.built !== undefined) def(require('prom-client') as PromClient, this.built);
    else this.defs.push(def);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  gauge(name: string, help: string, read: () => number): void {
    const full = this.prefix + name;
    this.define((pc, registry) => {
      new pc.Gauge({
        name: full,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    });
  }

  /** A running total the server keeps (a counter in Prometheus' sense: it only grows while the process lives). */
  counter(name: string, help: string, read: () => number): void {
    const full = this.prefix + name;
    this.define((pc, registry) => {
      new pc.Counter({
        name: full,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    });
  }

  /** One gauge per label set `read` yields at scrape time. */
  labelledGauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: () => Iterable<readonly [MetricLabels, number]>,
  ): void {
    const full = this.prefix + name;
    this.define((pc, registry) => {
      new pc.Gauge({
        name: full,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          for (const [labels, v] of read()) this.set(labels, v);
        },
      });
    });
  }

  /** One running total per label set `read` yields at scrape time. */
  labelledCounter(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: () => Iterable<readonly [MetricLabels, number]>,
  ): void {
    const full = this.prefix + name;
    this.define((pc, registry) => {
      new pc.Counter({
        name: full,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          for (const [labels, v] of read()) this.inc(labels, v);
        },
      });
    });
  }

  /** Process figures (memory, CPU, event-loop lag, GC) under the usual process_ and nodejs_ names. */
  processMetrics(): void {
    this.define((pc, registry) => pc.collectDefaultMetrics({ register: registry }));
  }
}
