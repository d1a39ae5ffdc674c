// Running the event service inside a Node program: `startEventService` starts the service and returns the
// embedding program's handle: its publish/subscribe/request are an in-process connection (embedded-conn.ts), the
// rest reads the running server. Closing the handle closes the service.
import { createLogger, type Logger } from '@event-broker/shared';
import type { EventService } from './api.js';
import { resolveServiceConfig, type ServiceConfigInputWithUnits } from './config.js';
import { EmbeddedConn } from './embedded-conn.js';
import { EventServer } from './server.js';

export { EventServiceError } from './embedded-conn.js';

/** Starts the event service (network listeners included) and returns the in-process handle. */
export async function startEventService(input: ServiceConfigInputWithUnits = {}): Promise<EventService> {
  const config = resolveServiceConfig(input);
  const logger = createLogger({ format: config.log.format, level: config.log.level, name: 'event-service' });
  const server = new EventServer(config, logger);
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
