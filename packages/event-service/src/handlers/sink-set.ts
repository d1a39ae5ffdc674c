// The configured sinks as a set: the three [handlers] and the named [sinks.NAME], each started on the runner the
// life cycle gives (lifecycle.ts: SQLite's worker or the backend pumps), routed (routing.ts), and added, removed or
// replaced by a reload. What runs them and what they report is the runner's; this module keeps which are configured.
import type { EventCatalogue, EventEnvelope, Logger } from '@event-broker/shared';
import type { HandlerSink, ServiceConfig } from '../config-types.js';
import { SinkRouting } from './routing.js';
import { HANDLER_DEFAULT_FILTERS } from './sink-config.js';
import type { SinkRunner } from './sink-runner.js';
import { httpSinkOptions } from './sinks/options.js';

/** The settings a sink set is made from: a configuration's [handlers] and [sinks]. */
export type SinkSections = Pick<ServiceConfig, 'handlers' | 'sinks'>;

export interface SinkSetDeps {
  /** Whether the backend is open: without it the sinks wait (startDeferred). */
  backendOpen: () => boolean;
  /** Whether the runner was made yet (startDeferred starts the sinks only once). */
  hasRunner: () => boolean;
  /** The runner, made on first use. */
  runner: () => SinkRunner;
  logger: Logger;
  /** The catalogue in force (routing.ts); default the process-wide one. */
  catalogue?: () => EventCatalogue;
}

/** Every configured sink by name, the handlers first (in HANDLER_DEFAULT_FILTERS order), then the named ones. */
export function configuredSinks(config: SinkSections): Map<string, HandlerSink> {
  const out = new Map<string, HandlerSink>();
  const handlers = config.handlers ?? {};
  for (const name of Object.keys(HANDLER_DEFAULT_FILTERS) as (keyof typeof HANDLER_DEFAULT_FILTERS)[]) {
    const conf = handlers[name];
    if (conf !== undefined) out.set(name, conf);
  }
  for (const [name, conf] of Object.entries(config.sinks ?? {})) out.set(name, conf);
  return out;
}

export class SinkSet {
  private readonly routing: SinkRouting;
  /** Each running sink's configuration, to tell what a reload changed. */
  private readonly running = new Map<string, HandlerSink>();

  constructor(private readonly deps: SinkSetDeps) {
    this.routing = new SinkRouting(deps.catalogue);
  }

  /** The intake's question: which sinks `event` goes to. */
  sinksFor(event: EventEnvelope): string[] {
    return this.routing.sinksFor(event);
  }

  /** At the handlers' start: every configured sink. */
  start(config: SinkSections): void {
    for (const [name, conf] of configuredSinks(config)) this.add(name, conf);
  }

  /** Adds a sink; its runner starts it, and it delivers what the store already has pending for it. */
  private add(name: string, conf: HandlerSink): void {
    this.routing.set(name, conf);
    this.running.set(name, conf);
    // Without a store (one a reload could not open) the sinks wait for it: startDeferred.
    if (this.deps.backendOpen()) this.deps.runner().add({ name, ...httpSinkOptions(conf) });
  }

  /** The store opened after failing to: the sinks configured meanwhile start now. */
  startDeferred(): void {
    if (this.deps.hasRunner() || !this.deps.backendOpen()) return;
    for (const [name, conf] of this.running) this.deps.runner().add({ name, ...httpSinkOptions(conf) });
  }

  private remove(name: string): void {
    if (this.deps.hasRunner()) this.deps.runner().remove(name);
    this.routing.delete(name);
    this.running.delete(name);
  }

  /**
   * A reload's [handlers] and [sinks] (server.applyConfig): a removed sink stops (its pending deliveries stay in the
   * store and go out if it is configured again), a new one starts and delivers what the store has pending for it, a
   * changed one (any of its settings: url, filter, match, headers, secrets, batching, pacing, ...) is replaced: the
   * old one closed (an attempt in flight is aborted and stays pending), a new one started that retries it with the
   * new settings. Events routed before the reload keep the sinks they were routed to; the new filters apply to
   * events received from now on.
   */
  apply(config: SinkSections): { added: string[]; removed: string[]; replaced: string[] } {
    const out = { added: [] as string[], removed: [] as string[], replaced: [] as string[] };
    const next = configuredSinks(config);
    for (const name of new Set([...this.running.keys(), ...next.keys()])) {
      const was = this.running.get(name);
      const conf = next.get(name);
      if (was !== undefined && conf !== undefined && JSON.stringify(was) === JSON.stringify(conf)) continue;
      if (was !== undefined) this.remove(name);
      if (conf !== undefined) this.add(name, conf);
      (was === undefined ? out.added : conf === undefined ? out.removed : out.replaced).push(name);
    }
    if (out.added.length + out.removed.length + out.replaced.length > 0)
      this.deps.logger.info(out, 'handler sinks reloaded');
    return out;
  }
}
