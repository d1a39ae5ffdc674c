// The event service's configuration types, by name: the TOML file's shape (sections and key names as written) with
// every default filled in and values normalised (durations in ms, sizes in bytes, paths absolute). Derived from the
// schema (config.ts), where each setting's doc lives (an editor shows it on these types too); only the values of
// hand-decoded settings are written out (config-values.ts), because their decoders, not the schema, produce them.
import type { ServiceConfig } from './config.js';

export type { ServiceConfig, ServiceConfigInputWithUnits } from './config.js';
export type * from './config-values.js';
export type { LogFormat, LogLevel, LogSection } from '@event-broker/shared';

export type ServiceSection = ServiceConfig['service'];
export type TlsSection = NonNullable<ServiceConfig['tls']>;
export type WebsocketSection = NonNullable<ServiceConfig['websocket']>;
export type MonitorSection = NonNullable<ServiceConfig['monitor']>;
export type StoreSection = NonNullable<ServiceConfig['store']>;
export type LeafnodesSection = NonNullable<ServiceConfig['leafnodes']>;
export type LeafnodesAuthorization = NonNullable<LeafnodesSection['authorization']>;
export type LeafnodesTlsSection = NonNullable<LeafnodesSection['tls']>;
export type HandlersSection = NonNullable<ServiceConfig['handlers']>;
export type FeedSection = NonNullable<ServiceConfig['feed']>;

/**
 * What an embedding program passes: any subset, validated and completed like a TOML file. Written from the resolved
 * type (shared ConfigInput says why): a sink's input spelling ("host:port", `secret`) is not named here.
 */
export type ServiceConfigInput = {
  [K in keyof ServiceConfig]?: Partial<NonNullable<ServiceConfig[K]>>;
};
