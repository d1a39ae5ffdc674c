// What a reload (SIGHUP) may change in a running service: the configuration actually put in force is the new one
// with every setting that needs a restart kept at its running value, so the server's `config` always describes
// what it does. Applying it is EventServer.applyConfig's job; logging is the CLI's (nats-server reload.go decides
// the same per option: a few are reloadable, the rest refuse until restart).
import { configChanges, setOrDelete, type ConfigChange } from '@event-broker/shared';
import type { ServiceConfig } from './config-types.js';

export type { ConfigChange };

export interface ReloadPlan {
  /** What to put in force: `next` with the restart-only settings at their running values. */
  config: ServiceConfig;
  /** Changes taking effect now. */
  applied: ConfigChange[];
  /** Changes that take effect only after a restart (listeners bound, stores opened, the log stream). */
  restart: ConfigChange[];
}

/**
 * Sections owned by something started once: a bound listener (websocket, monitor, leafnodes), the opened store.
 * [handlers] reloads (EventHandlers.applySinks adds, removes and replaces sinks) and [feed] is read fresh.
 */
const RESTART_SECTIONS = ['websocket', 'monitor', 'leafnodes', 'store'] as const;
/** Sections put in force as reloaded. */
const LIVE_SECTIONS = ['service', 'log', 'tls', 'handlers', 'feed'] as const;

/** Splits the difference between `running` and `next` into what applies now and what waits for a restart. */
export function planReload(running: ServiceConfig, next: ServiceConfig): ReloadPlan {
  const config: ServiceConfig = {
    ...next,
    // The client listener is bound to these.
    service: { ...next.service, host: running.service.host, port: running.service.port },
    // pino's stream is chosen at start; the level changes live.
    log: { ...next.log, format: running.log.format },
  };
  // The pid file and persisted patches stay where the service found them at start.
  setOrDelete(config.service, 'data_dir', running.service.data_dir);
  // Certificates, key and CA reload (setSecureContext); turning TLS on or off, or client verification, does not:
  // INFO's tls_required and the tls.Server's requestCert are fixed for the listener's life.
  if ((running.tls === undefined) !== (next.tls === undefined)) setOrDelete(config, 'tls', running.tls);
  else if (running.tls !== undefined && next.tls !== undefined) config.tls = { ...next.tls, verify: running.tls.verify };
  const cfg = config as unknown as Record<string, unknown>;
  const run = running as unknown as Record<string, unknown>;
  for (const section of RESTART_SECTIONS) setOrDelete(cfg, section, run[section]);
  // Sections this module does not know (added later) restart too, until someone decides they reload.
  for (const section of Object.keys(next)) {
    if (!(LIVE_SECTIONS as readonly string[]).includes(section) && !(RESTART_SECTIONS as readonly string[]).includes(section)) {
      setOrDelete(cfg, section, run[section]);
    }
  }
  // Comparing and redacting are shared's (shared/src/config/changes.ts).
  return { config, ...configChanges(running, next, { inForce: config }) };
}
