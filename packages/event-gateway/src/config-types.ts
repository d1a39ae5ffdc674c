// The gateway's configuration types, by name: the TOML file's shape (sections and key names as written), every
// default filled in, values normalised (durations in ms, sizes in bytes, paths absolute, URLs with their port).
// Derived from the schema (config.ts), where each setting's doc lives (an editor shows it on these types too).
import type { GatewayConfig } from './config.js';

export type { GatewayConfig, GatewayConfigInput } from './config.js';
export type { JwsAlgorithm } from '@event-broker/shared';
export type { LogFormat, LogLevel, LogSection } from '@event-broker/shared';

export type GatewaySection = GatewayConfig['gateway'];
export type WebsocketSection = NonNullable<GatewayConfig['websocket']>;
export type TlsSection = GatewayConfig['tls'];
export type AuthSection = GatewayConfig['auth'];
export type UpstreamSection = GatewayConfig['upstream'];
export type MonitorSection = NonNullable<GatewayConfig['monitor']>;
