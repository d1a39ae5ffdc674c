// What the monitoring port (monitor.ts) and the /metrics series (monitor-metrics.ts) read from a running gateway:
// apart from both so neither imports the other.
import type { Broker, Client, ClientLimits, Logger, ServerState } from '@event-broker/shared';
import type { AuthFailureCounts } from './auth-failures.js';
import type { GatewayConfig } from './config-types.js';
import type { EventCredit, GatewayUplink } from './event-credit.js';
import type { HealthProbe } from './health.js';
import type { ListenerQuota } from './listener-quota.js';
import type { GatewayStats } from './stats.js';

/** What the monitoring port reads from the running gateway (server.ts EventGateway), every field on use. */
export interface GatewayMonitorSource {
  readonly serverId: string;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly startedAt: Date;
  readonly configLoadedAt: Date;
  /** The bound client port and WebSocket port. */
  readonly port: number;
  readonly websocketPort: number | undefined;
  readonly state: ServerState;
  readonly clients: ReadonlyMap<number, Client>;
  readonly totalConnections: number;
  readonly broker: Broker;
  /** The limits clients are kept to (max_payload lowered to the upstream's: upstream-link.ts ClientLimitsInForce). */
  readonly limits: ClientLimits;
  readonly uplink: GatewayUplink;
  readonly health: HealthProbe;
  readonly eventCredit: EventCredit;
  readonly listenerQuota: ListenerQuota;
  readonly authFailures: AuthFailureCounts;
  readonly permissionViolations: { readonly publish: number; readonly subscribe: number };
  serverInfo(): Record<string, unknown>;
  stats(): GatewayStats;
}
