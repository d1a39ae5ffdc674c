// Which sinks an event goes to, decided once per event at intake (before its commit, so the delivery records are
// written with it): a sink's filter includes (empty: its default set) minus its exclusions (`!noun:verb`), and every
// `match` list it has. A sink whose includes are left at their default also receives the types whose catalogue
// entry names it (EventTypeEntry.handlers). Filters are compiled once per sink, when it is set.
import { eventCatalogue, eventKey, type EventCatalogue, type EventEnvelope } from '@event-broker/shared';
import type { HandlerSink, SinkMatch } from '../config-values.js';
import { HANDLER_DEFAULT_FILTERS } from './sink-config.js';

/** `noun:verb`, `*` for any; a compiled pattern is the pair with undefined for `*`. */
type Pattern = readonly [noun: string | undefined, verb: string | undefined];

interface Route {
  readonly name: string;
  readonly includes: readonly Pattern[];
  readonly excludes: readonly Pattern[];
  /** The includes are the default set: the catalogue's per-type handlers lists add to them. */
  readonly byDefault: boolean;
  readonly match: SinkMatch | undefined;
}

/** A named sink's default: every event. */
const NAMED_DEFAULT = ['*:*'] as const;

/** The filter a sink whose own leaves includes empty starts from: its handler's set, or every event. */
export function defaultFilter(name: string): readonly string[] {
  return Object.hasOwn(HANDLER_DEFAULT_FILTERS, name)
    ? HANDLER_DEFAULT_FILTERS[name as keyof typeof HANDLER_DEFAULT_FILTERS]
    : NAMED_DEFAULT;
}

function compile(pattern: string): Pattern {
  const i = pattern.indexOf(':');
  const noun = pattern.slice(0, i);
  const verb = pattern.slice(i + 1);
  return [noun === '*' ? undefined : noun, verb === '*' ? undefined : verb];
}

function matchesAny(noun: string, verb: string, patterns: readonly Pattern[]): boolean {
  for (const [n, v] of patterns) if ((n === undefined || n === noun) && (v === undefined || v === verb)) return true;
  return false;
}

/** Every present list must hold the event's value (tags and projects: share one with the event's). */
function matchesAttributes(event: EventEnvelope, m: SinkMatch): boolean {
  if (m.producer !== undefined && !m.producer.includes(event.producer?.id ?? '')) return false;
  // The verified authid: the intake stamped it over whatever the producer sent (authcontext.ts) before routing.
  if (m.authid !== undefined && (typeof event.authid !== 'string' || !m.authid.includes(event.authid))) return false;
  if (m.tags !== undefined && !(event.tags ?? []).some((t) => m.tags!.includes(t))) return false;
  if (m.projects !== undefined && !(event.projects ?? []).some((p) => m.projects!.includes(p))) return false;
  return true;
}

/** Compiles a sink's routing from its configuration. */
export function compileRoute(name: string, conf: Pick<HandlerSink, 'filter' | 'match'>): Route {
  const includes = conf.filter.filter((f) => !f.startsWith('!'));
  const excludes = conf.filter.filter((f) => f.startsWith('!')).map((f) => compile(f.slice(1)));
  const byDefault = includes.length === 0;
  return {
    name,
    includes: (byDefault ? defaultFilter(name) : includes).map(compile),
    excludes,
    byDefault,
    match: conf.match,
  };
}

/** Whether `event` goes to the sink `route` describes, `key` being its noun:verb and `listed` its catalogue list. */
function routes(route: Route, event: EventEnvelope, noun: string, verb: string, listed: readonly string[] | undefined) {
  const included =
    matchesAny(noun, verb, route.includes) || (route.byDefault && listed !== undefined && listed.includes(route.name));
  if (!included || matchesAny(noun, verb, route.excludes)) return false;
  return route.match === undefined || matchesAttributes(event, route.match);
}

/** The running sinks' routes; `sinksFor` is the intake's question. */
export class SinkRouting {
  private readonly byName = new Map<string, Route>();

  /** `catalogue`: the catalogue in force, read per event (default the process-wide one). */
  constructor(private readonly catalogue: () => EventCatalogue = () => eventCatalogue) {}

  set(name: string, conf: Pick<HandlerSink, 'filter' | 'match'>): void {
    this.byName.set(name, compileRoute(name, conf));
  }

  delete(name: string): void {
    this.byName.delete(name);
  }

  /** The sinks `event` goes to, in the order they were set. */
  sinksFor(event: EventEnvelope): string[] {
    if (this.byName.size === 0) return [];
    const catalogue = this.catalogue();
    const key = eventKey(event.type, catalogue);
    const i = key.indexOf(':');
    const noun = key.slice(0, i);
    const verb = key.slice(i + 1);
    const listed = catalogue.get(event.type)?.handlers;
    const out: string[] = [];
    for (const route of this.byName.values()) if (routes(route, event, noun, verb, listed)) out.push(route.name);
    return out;
  }
}
