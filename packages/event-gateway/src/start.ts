// Running a gateway from code (tests, tools, an embedding program): configuration in, a listening gateway out.
import { createLogger } from '@event-broker/shared';
import { resolveGatewayConfig } from './config.js';
import type { GatewayConfigInput } from './config-types.js';
import { EventGateway } from './server.js';

/** Validates `input` like a TOML file (throws ConfigError), starts listening and dialling upstream. */
export async function startGateway(input: GatewayConfigInput): Promise<EventGateway> {
  const config = resolveGatewayConfig(input);
  const logger = createLogger({ format: config.log.format, level: config.log.level, name: 'event-gateway' });
  const gateway = new EventGateway(config, logger);
  try {
    await gateway.listen();
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return gateway;
}
