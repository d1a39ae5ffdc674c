// What the service's monitoring endpoints read from the running server. The endpoint builders, value formats and
// query parsing are shared's (shared/src/monitor), which the gateway uses too; this is the service's side: its
// configuration, the handlers' routes and status, the leafnode port.
import type { Broker, Client, Router, ServerState } from '@event-broker/shared';
import type { ServiceConfig } from '../config-types.js';
import type { HandlersStatus } from '../handlers/status.js';
import type { LeafnodePort } from '../leafnode/port.js';
import type { LeafRemotes } from '../leafnode/remotes.js';

export {
  goDuration,
  nanoseconds,
  rfc3339,
  uptime,
  MonitorRequestError,
  queryBool,
  queryInt,
  querySubs,
} from '@event-broker/shared';
export type { ServerState } from '@event-broker/shared';

export interface MonitorSource {
  readonly serverId: string;
  readonly config: ServiceConfig;
  readonly startedAt: Date;
  /** When the configuration in force was loaded (start, then each reload): /varz config_load_time. */
  readonly configLoadedAt: Date;
  /** The bound client port. */
  readonly port: number;
  readonly websocketPort: number | undefined;
  /** /healthz answers 200 only while `running`; `draining` is SIGTERM's lame duck. */
  readonly state: ServerState;
  readonly clients: ReadonlyMap<number, Client>;
  readonly totalConnections: number;
  readonly broker: Broker;
  /** Routes beyond nats-server's endpoints (the event feed and dead letters), while the event handlers run. */
  readonly handlers?: MonitorExtension | undefined;
  /** The [leafnodes] port and its links (the gateway's bridge among them), when configured. */
  readonly leafnodes?: LeafnodePort | undefined;
  /** The hubs [[leafnodes.remotes]] names, dialled as a leaf, when configured. */
  readonly leafRemotes?: LeafRemotes | undefined;
  /** The INFO fields every client is greeted with (server_id, version, host, port, auth/tls flags...). */
  serverInfo(): Record<string, unknown>;
}

/** What the handlers add to the monitoring port while they run. */
export interface MonitorExtension {
  /** Routes asked before the monitoring endpoints, for any method (handlers/http-api.ts: the feed, dead letters). */
  readonly httpRoutes: Router;
  /** The intake and each sink's health, for /handlerz (read from the event backend: asynchronous). */
  status(): Promise<HandlersStatus>;
  /** Events held and room reserved as credit, against event_limit (cheap: for /varz); held is 0 while the store cannot be opened. */
  eventLimitUse(): { held: number; reserved: number };
  /** Why a configured part (the store, the sinks' worker) cannot work, for /healthz; undefined when all can. */
  health(): Promise<string | undefined>;
}
