// What a reload (SIGHUP) may change in a running service: the configuration actually put in force is the new one
// with every setting that needs a restart kept at its running value, so the server's `config` always describes
// what it does. Applying it is EventServer.applyConfig's job; logging is the CLI's (nats-server reload.go decides
// the same per option: a few are reloadable, the rest refuse until restart).
import { isSecretName, REDACTED } from '@event-broker/shared';
import type { ServiceConfig } from './config-types.js';

/** One setting that differs between the running and the reloaded configuration. */
export interface ConfigChange {
  /** Dotted key, `service.listener_limit`. */
  key: string;
  /** Running value, secrets redacted; undefined when unset. */
  from: unknown;
  /** Reloaded value, secrets redacted; undefined when unset. */
  to: unknown;
}

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

  const before = flatten(running);
  const wanted = flatten(next);
  const inForce = flatten(config);
  const applied: ConfigChange[] = [];
  const restart: ConfigChange[] = [];
  for (const key of [...new Set([...before.keys(), ...wanted.keys()])].sort()) {
    const from = before.get(key);
    const to = wanted.get(key);
    if (same(from, to)) continue;
    const change = { key, from: redact(key, from), to: redact(key, to) };
    if (same(inForce.get(key), to)) applied.push(change);
    else restart.push(change);
  }
  return { config, applied, restart };
}

function setOrDelete(target: object, key: string, value: unknown): void {
  const t = target as Record<string, unknown>;
  if (value === undefined) delete t[key];
  else t[key] = value;
}

/** Leaves by dotted key; arrays are one leaf (a patch replaces them whole). */
function flatten(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else if (value !== undefined) {
    out.set(prefix, value);
  }
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** A secret's value never reaches a log: the token, sink secrets, and request headers (they carry credentials). */
function redact(key: string, value: unknown): unknown {
  if (value === undefined) return undefined;
  const parts = key.split('.');
  if (parts.some((p) => isSecretName(p) || p === 'secrets' || p === 'headers')) return REDACTED;
  return value;
}
