// How a scenario turns what a run yields (GenResult, gen-result.ts) into figures, checks and notes (Scenario, Metric).
// The scenario definitions are in scenarios-*.ts; report.ts prints the figures.
import type { Generator } from './generators.js';
import type { GenSpec, Limits } from './load-spec.js';
import type { TargetName } from './servers.js';
import type { GenResult } from './gen-result.js';

export type { GenResult } from './gen-result.js';

export interface Metric {
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** How a value prints (the unit is a column of its own). */
  format: (v: number) => string;
  value: (r: GenResult) => number;
  /** A figure only this server has (a JS heap): the other column shows —. Never the first metric. */
  only?: 'ours' | 'nats-server';
}

export interface Scenario {
  /** The --scenario key. */
  name: string;
  /**
   * Generator scenarios drive a server over loopback; `inproc` runs our embedded API in a child process; `events`
   * drives our durable event intake and a sink (events.ts), ours only: nats-server has no equivalent; `soak`
   * cycles through the other generator loads for a while, then idles, sampling heap and RSS (soak.ts); `gateway`
   * publishes over TLS into one server and subscribes on another behind it (gateway.ts: ours, event-gateway →
   * event service; nats-server, leaf → hub); `leaf` publishes into a nats-server hub and subscribes on its leaf
   * (leaf.ts: ours, the service dialling the hub; nats-server, a nats-server leaf); `events-jetstream` is `events` on
   * the JetStream backend of a three-node cluster (events-jetstream.ts), ours only; `events-http` is the intake fed
   * over HTTP (events-http.ts), ours only.
   */
  kind: 'generator' | 'inproc' | 'events' | 'events-jetstream' | 'events-http' | 'soak' | 'gateway' | 'leaf' | 'custom';
  spec: (quick: boolean) => GenSpec;
  metrics: Metric[];
  /** Whether a result is acceptable (a lost message in 1→1 is a failure, not a slow figure). */
  check?: (r: GenResult) => string | undefined;
  /** Notes worth printing under the table (losses where nats semantics allow none, capped runs). */
  notes?: (r: GenResult) => string[];
  limits?: Partial<Limits>;
  /** Options only our service has (e.g. `listener_limit`), merged into its [service] section. */
  ours?: Record<string, unknown>;
  /** For `inproc`: the scenario whose nats-server figure it is compared with. */
  comparedWith?: string;
  /** Not run by default; `--scenario <name>` or `--all` runs it. */
  optIn?: boolean;
  /** kind `custom`: the scenario starts its own servers and measures itself (startup.ts, admission.ts...). */
  run?: (ctx: RunContext) => Promise<GenResult>;
  /** Ours alone (nats-server has nothing like it): no nats-server cell, no ratio. */
  oursOnly?: boolean;
}

/** What main.ts hands a `custom` scenario's run for one cell. */
export interface RunContext {
  spec: GenSpec;
  target: TargetName;
  generator: Generator;
  /** DEFAULT_LIMITS with the scenario's own over them. */
  limits: Limits;
  quick: boolean;
  /** Report the server's CPU seconds over the measured window (the CPU-per-message column). */
  onServerCpu: (seconds: number) => void;
}
