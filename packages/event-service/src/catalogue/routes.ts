// Which sinks an event goes to, by its type in the service's catalogue: a sink's filter matched against the type's
// noun:verb, and a sink left at its default filter also when the type names it in `handlers` (a catalogue file's
// types reach the handlers they name without anyone editing a filter). Running the sinks is handlers/lifecycle.ts's.
import { eventCatalogue, eventKey, matchesFilter, type EventCatalogue } from '@event-broker/shared';

export interface SinkRoute {
  name: string;
  filter: readonly string[];
  /** The sink's filter is its default: a type naming the sink in `handlers` reaches it too. */
  byDefault: boolean;
}

/** A sink's route: its own filter, or (none given) its default one. */
export function sinkRoute(name: string, filter: readonly string[], defaults: readonly string[]): SinkRoute {
  const byDefault = filter.length === 0;
  return { name, filter: byDefault ? defaults : filter, byDefault };
}

/** The names of the sinks that want an event of `type` (catalogue default: the process-wide one). */
export function sinksFor(
  type: string,
  catalogue: EventCatalogue = eventCatalogue,
  routes: readonly SinkRoute[],
): string[] {
  const key = eventKey(type, catalogue);
  const named = catalogue.get(type)?.handlers;
  return routes
    .filter((r) => matchesFilter(key, r.filter) || (r.byDefault && named?.includes(r.name) === true))
    .map((r) => r.name);
}
