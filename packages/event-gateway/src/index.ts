// Public entry of the gateway package: configuration, token and certificate admission, permissions.
export * from './config-types.js';
export { formatGatewayConfig, gatewaySchema, loadGatewayConfig, resolveGatewayConfig } from './config.js';
export { parseUpstreamUrl } from './config-decoders.js';
export type { LoadedGatewayConfig, LoadGatewayConfigOptions } from './config.js';
export * from './auth/jwt.js';
export * from './auth/mtls.js';
export {
  JWS_ALGORITHMS,
  loadVerificationKey,
  type KeyLoadResult,
  type KeyProblem,
  type VerificationKey,
} from '@event-broker/shared';
export * from './permissions.js';
export { EventGateway } from './server.js';
export type { GatewayStats } from './stats.js';
export { startGateway } from './start.js';
export { type HealthVerdict } from './health.js';
