// Running the event service inside a Node program: `startEventService` starts the service and returns the
// embedding program's handle: its publish/subscribe/request are an in-process connection (embedded-conn.ts), the
// rest reads the running server. Closing the handle closes the service.
import { createLogger, type Logger } from '@event-broker/shared';
import type { EventService, InProcessEventService } from './api.js';
import { resolveServiceConfig, type ServiceConfigInputWithUnits } from './config.js';
import { EmbeddedConn } from './embedded-conn.js';
import { EventServer } from './server.js';

export { EventServiceError } from './embedded-conn.js';

/**
 * Starts the event service and returns the in-process handle. With `{ clientPort: false }` no TCP port is opened
 * (the in-process-only service): the broker is reached through the handle, and through [websocket] and [leafnodes]
 * only when they are configured.
 */
export function startEventService(
  input: ServiceConfigInputWithUnits,
  opts: { clientPort: false },
): Promise<InProcessEventService>;
// Last, so ReturnType<typeof startEventService> is the usual handle's.
export function startEventService(input?: ServiceConfigInputWithUnits): Promise<EventService>;
export async function startEventService(
  input: ServiceConfigInputWithUnits = {},
  opts?: { clientPort: false },
): Promise<EventService> {
  const config = resolveServiceConfig(input);
  const logger = createLogger({ format: config.log.format, level: config.log.level, name: 'event-service' });
  const server = new EventServer(config, logger, { clientPort: opts?.clientPort !== false });
  await server.listen();
  return embed(server, logger);
}

/** The embedding program's handle over a running server (the CLI uses the server directly). */
export function embed(server: EventServer, logger: Logger): EventService {
  const conn = new EmbeddedConn(server.broker, { limits: () => server.config.service, logger });
  let closing: Promise<void> | undefined;
  return {
    get port() {
      return server.port;
    },
    get host() {
      return server.config.service.host;
    },
    get websocketPort() {
      return server.websocketPort;
    },
    get monitorPort() {
      return server.monitorPort;
    },
    get leafnodePort() {
      return server.leafnodePort;
    },
    serverId: server.serverId,
    get config() {
      return server.config;
    },
    stats: () => server.stats(),
    remotes: () => server.remotes(),
    publish: (subject, data, opts) => conn.publish(subject, data, opts),
    subscribe: (subject, opts) => conn.subscribe(subject, opts),
    request: (subject, data, opts) => conn.request(subject, data, opts),
    close() {
      closing ??= (async () => {
        conn.close();
        await server.close();
      })();
      return closing;
    },
  };
}
