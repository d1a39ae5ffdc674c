// The seam where the handlers meet a backend other than the one machine's SQLite file: `[store] backend =
// "jetstream"` (jetstream/backend.ts opens the stream; backend-sink.ts pumps each sink from its durable consumer).
// lifecycle.ts chooses the backend by configuration and calls these; both are replaceable through HandlersDeps.
import type { Logger } from '@event-broker/shared';
import type { ServiceConfig } from '../config-types.js';
import type { BackendKind, EventBackend } from './event-backend.js';
import type { SinkSettings } from './sink-pool.js';
import type { SinkPump } from './sink-runner.js';

/** What opening a backend is given. */
export interface BackendOpenDeps {
  config: () => ServiceConfig;
  logger: Logger;
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
  // Read through a cast until the key is in the [store] schema (config.ts).
  return (config.store as { backend?: BackendKind } | undefined)?.backend ?? 'sqlite';
}

/** Opens the configured network backend; rejects with why it cannot be used. */
export const openRemoteBackend: OpenBackend = async (deps) => {
  const kind = backendKind(deps.config());
  throw new Error(`store.backend: "${kind}" is not available in this build`);
};

/** A sink delivering from the backend's queue on the main thread. */
export const createSinkPump: CreateSinkPump = (settings) => {
  throw new Error(`sink ${settings.name}: no sink pump for this backend in this build`);
};
