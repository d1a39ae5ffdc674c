// The seam where the handlers meet a backend other than the one machine's SQLite file: `[store] backend =
// "jetstream"` (jetstream/backend.ts opens the stream; backend-sink.ts pumps each sink from its durable consumer).
// lifecycle.ts chooses the backend by configuration and calls these; both are replaceable through HandlersDeps.
import type { NatsConnection } from 'nats';
import type { Logger } from '@event-broker/shared';
import type { ServiceConfig } from '../config-types.js';
import type { BackendKind, EventBackend } from './event-backend.js';
import type { SinkSettings } from './sink-pool.js';
import type { SinkPump } from './sink-runner.js';
import { BackendSink, sinkQueueOptions } from './backend-sink.js';
import { openJetStreamBackend } from './jetstream/backend.js';
import type { HubInfo } from './jetstream/connection.js';
import { jetStreamStoreConfig } from './jetstream/store-config.js';

/** What opening a backend is given. */
export interface BackendOpenDeps {
  config: () => ServiceConfig;
  logger: Logger;
  /** A connection to the service's own broker (internal-port.ts), whose leaf remotes reach JetStream. */
  connect?: () => Promise<NatsConnection>;
  /** What the leaf remotes learned of the hub (its JetStream domain); absent: nothing known. */
  hub?: HubInfo;
}

/** What a sink's pump is given beside its settings. */
export interface SinkPumpDeps {
  backend: EventBackend;
  logger: Logger;
  /** Deliveries resolved (delivered or dead-lettered): the intake may resume paused publishers. */
  onResolved: () => void;
}

export type OpenBackend = (deps: BackendOpenDeps) => Promise<EventBackend>;
export type CreateSinkPump = (settings: SinkSettings, deps: SinkPumpDeps) => SinkPump;

/** `[store] backend`, "sqlite" when unset. */
export function backendKind(config: ServiceConfig): BackendKind {
  return config.store?.backend ?? 'sqlite';
}

/** Opens the configured network backend; rejects with why it cannot be used. */
export const openRemoteBackend: OpenBackend = async (deps) => {
  const config = deps.config();
  const kind = backendKind(config);
  if (kind !== 'jetstream' || deps.connect === undefined)
    throw new Error(`store.backend: "${kind}" is not available in this build`);
  return openJetStreamBackend({
    nc: deps.connect,
    config: jetStreamStoreConfig(config.store),
    hubDomain: () => deps.hub?.hubDomain(),
    hubJetStream: () => deps.hub?.hubJetStream(),
    ...(deps.hub?.remotesUp && { remotesUp: () => deps.hub!.remotesUp!() }),
    ...(deps.hub?.remotesDown && { remotesDown: () => deps.hub!.remotesDown!() }),
    logger: deps.logger,
  });
};

/** A sink delivering from the backend's queue on the main thread. */
export const createSinkPump: CreateSinkPump = (settings, deps) =>
  new BackendSink(deps.backend.sinkQueue(settings.name, sinkQueueOptions(settings)), {
    ...settings,
    logger: deps.logger,
    onResolved: deps.onResolved,
  });
