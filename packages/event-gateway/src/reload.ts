// What a reload (SIGHUP, `config patch`) may change in a running gateway. The configuration put in force is the
// new one with every restart-only setting kept at its running value, so the gateway's `config` always describes what
// it does: the token rules, limits, lame-duck timing, log level and the TLS certificate for new handshakes reload;
// bound listeners, the upstream link, the data directory and the log stream wait for a restart. Applying it is
// EventGateway.applyConfig's job; comparing and redacting are shared's.
import { configChanges, setOrDelete, type ConfigChange } from '@event-broker/shared';
import type { GatewayConfig } from './config-types.js';

export interface GatewayReloadPlan {
  /** What to put in force: `next` with the restart-only settings at their running values. */
  config: GatewayConfig;
  /** Changes taking effect now. */
  applied: ConfigChange[];
  /** Changes that take effect only after a restart. */
  restart: ConfigChange[];
}

/** Sections owned by something started once: the WebSocket and monitoring listeners, the upstream link. */
const RESTART_SECTIONS = ['websocket', 'monitor', 'upstream'] as const;

export function planGatewayReload(running: GatewayConfig, next: GatewayConfig): GatewayReloadPlan {
  const config: GatewayConfig = {
    ...next,
    // The client listener is bound to these.
    gateway: { ...next.gateway, host: running.gateway.host, port: running.gateway.port },
    // requestCert is fixed when the TLS server is made; certificates, key, CA and min_version reload.
    tls: { ...next.tls, verify: running.tls.verify },
    // pino's stream is chosen at start; the level changes live.
    log: { ...next.log, format: running.log.format },
  };
  // The uplink's CONNECT named the gateway once; the pid file and stored patches stay where they were found.
  setOrDelete(config.gateway, 'server_name', running.gateway.server_name);
  setOrDelete(config.gateway, 'data_dir', running.gateway.data_dir);
  for (const section of RESTART_SECTIONS) setOrDelete(config, section, running[section]);
  return { config, ...configChanges(running, next, { inForce: config }) };
}
