// The catalogue a service runs with: loaded when its configuration is (configEntry's check, so a bad file refuses a
// start with exit 2 and a reload with every problem logged, like any configuration problem), kept with that
// configuration object until the server takes it, so each load's files are read and compiled once.
import type { Logger } from '@event-broker/shared';
import { HANDLER_DEFAULT_FILTERS } from '../handlers/sink-config.js';
import { loadCatalogue, type LoadedCatalogue } from './load.js';

const loaded = new WeakMap<object, LoadedCatalogue>();

/** What of the service's configuration the catalogue reads (config.ts's schema imports this module: no cycle back). */
export interface CatalogueConfig {
  catalogue?: { files: readonly string[] };
  /** [sinks.NAME]: a type's `handlers` may name these too. */
  sinks?: Readonly<Record<string, unknown>>;
}

/** The sink names a type's `handlers` may name: the three handlers and the configuration's named sinks. */
export function catalogueHandlerNames(config: CatalogueConfig): string[] {
  return [...Object.keys(HANDLER_DEFAULT_FILTERS), ...Object.keys(config.sinks ?? {})];
}

function load(config: CatalogueConfig): LoadedCatalogue {
  return loadCatalogue(config.catalogue?.files ?? [], { handlers: catalogueHandlerNames(config) });
}

/** configEntry's check: loads the configuration's catalogue (throws ConfigError naming file:line) and keeps it. */
export function checkCatalogue(config: CatalogueConfig): void {
  loaded.set(config, load(config));
}

/**
 * The catalogue loaded with `config` (by loadServiceConfig or resolveServiceConfig), or loaded now for a
 * configuration made otherwise. Throws ConfigError as checkCatalogue does.
 */
export function catalogueFor(config: CatalogueConfig): LoadedCatalogue {
  return loaded.get(config) ?? load(config);
}

/** A log line names at most this many types (the count says how many there are). */
const LOGGED_TYPES = 100;
const clipList = (names: readonly string[]): string[] =>
  names.length <= LOGGED_TYPES
    ? [...names]
    : [...names.slice(0, LOGGED_TYPES), `... and ${names.length - LOGGED_TYPES} more`];

/** Which types are in force: at start, and after a reload (`was`: the catalogue it replaces) what it added and removed. */
export function logCatalogue(logger: Logger, now: LoadedCatalogue, was?: LoadedCatalogue): void {
  const fields = { types: now.catalogue.types().length, files: now.files, file_types: clipList(now.types) };
  if (was === undefined) {
    logger.info(fields, 'event catalogue loaded');
    return;
  }
  const before = new Set(was.types);
  const after = new Set(now.types);
  const added = now.types.filter((t) => !before.has(t));
  const removed = was.types.filter((t) => !after.has(t));
  logger.info({ ...fields, added: clipList(added), removed: clipList(removed) }, 'event catalogue reloaded');
}
