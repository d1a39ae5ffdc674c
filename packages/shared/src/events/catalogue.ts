// The event catalogue: which event types exist, the noun:verb pair each stands for (what sink filters such as
// "scanJob:*" match), and an optional schema for each type's `data`. The envelope's shape is envelope.ts's;
// routing events to handlers is the event service's.
import { randomUUID } from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import {
  compileDataSchema,
  envelopeErrors,
  EVENT_TYPE_PATTERN,
  type EventEnvelope,
  type EventFieldError,
} from './envelope.js';

/** What a type means in filters: `scanJobCreated` is `{ noun: 'scanJob', verb: 'created' }`. */
export interface NounVerb {
  noun: string;
  verb: string;
}

export interface EventTypeDefinition {
  type: string;
  /** Overrides the derived pair (required when the name has no camelCase or snake_case split). */
  noun?: string;
  verb?: string;
  description?: string;
  /** Schema `data` must satisfy (TypeBox, i.e. JSON Schema); without it `data` is any JSON. */
  data?: TSchema;
  /** Sinks (handler names) that receive this type when their own filter is left at its default. */
  handlers?: readonly string[];
}

export interface EventTypeEntry extends NounVerb {
  readonly type: string;
  readonly description: string;
  readonly checkData?: (data: unknown) => EventFieldError[];
  /** Sinks (handler names) that receive this type when their own filter is left at its default. */
  readonly handlers?: readonly string[];
}

export class EventCatalogueError extends Error {
  readonly code = 'EEVENT_TYPE';
  constructor(message: string) {
    super(message);
    this.name = 'EventCatalogueError';
  }
}

const TYPE_RE = new RegExp(EVENT_TYPE_PATTERN);
const PAIR_PART = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * The noun:verb pair a type name implies, or undefined when it implies none.
 * - camelCase: the last capitalised word is the verb, lower-cased: `scanJobCreated` → scanJob:created,
 *   `profileUpdate` → profile:update, `nodeTerminated` → node:terminated.
 * - snake_case: the last `_` segment is the verb: `compliance_ingest` → compliance:ingest (`a_b_c` → a_b:c is
 *   refused instead: nouns and verbs are single words so filters stay unambiguous).
 * - one lower-case word (`cfgingest`): none; its registration must name the pair.
 */
export function deriveNounVerb(type: string): NounVerb | undefined {
  if (!TYPE_RE.test(type)) return undefined;
  if (type.includes('_')) {
    const parts = type.split('_');
    if (parts.length !== 2 || !PAIR_PART.test(parts[0]!) || !PAIR_PART.test(parts[1]!)) return undefined;
    return { noun: parts[0]!, verb: parts[1]!.toLowerCase() };
  }
  const m = /^([a-z][A-Za-z0-9]*?)([A-Z][a-z0-9]*)$/.exec(type);
  if (m === null) return undefined;
  return { noun: m[1]!, verb: m[2]!.charAt(0).toLowerCase() + m[2]!.slice(1) };
}

/** The product's known types. `cfgingest` and `event_feed` name their pair: neither name says what happened. */
export const KNOWN_EVENT_TYPES: readonly EventTypeDefinition[] = [
  { type: 'compliance_ingest', description: 'compliance scan results for the feed service' },
  { type: 'cfgingest', noun: 'cfg', verb: 'ingest', description: 'client-run data for config ingest' },
  { type: 'event_feed', noun: 'event', verb: 'feed', description: 'a generic entry for the event feed' },
  { type: 'scanJobCreated', description: 'a scan job was created' },
  { type: 'scanJobUpdated', description: 'a scan job was updated' },
  { type: 'scanJobDeleted', description: 'a scan job was deleted' },
  { type: 'profileCreated', description: 'a compliance profile was created' },
  { type: 'profileUpdate', description: 'a compliance profile was updated' },
  { type: 'profileDeleted', description: 'a compliance profile was deleted' },
  { type: 'nodeTerminated', description: 'a managed node was terminated' },
  {
    type: 'k8s_audit',
    noun: 'k8s',
    verb: 'audit',
    description: 'a Kubernetes API server audit event (POST /k8s/audit)',
  },
];

export type EventValidation = { ok: true; event: EventEnvelope } | { ok: false; errors: EventFieldError[] };

export interface ValidateEventOptions {
  /** Give an event without `id` a fresh one (a UUID) instead of refusing it. */
  assignId?: boolean;
}

/** A set of event types. `eventCatalogue` is the process's; tests and embedders may make their own. */
export class EventCatalogue {
  private readonly entries = new Map<string, EventTypeEntry>();

  constructor(definitions: readonly EventTypeDefinition[] = KNOWN_EVENT_TYPES) {
    for (const d of definitions) this.register(d);
  }

  /** Adds a type. Throws EventCatalogueError for a bad name, a missing pair, or a type already registered. */
  register(def: EventTypeDefinition): EventTypeEntry {
    if (!TYPE_RE.test(def.type)) {
      throw new EventCatalogueError(
        `event type ${JSON.stringify(def.type)} must match ${EVENT_TYPE_PATTERN} (one subject token)`,
      );
    }
    if (this.entries.has(def.type)) throw new EventCatalogueError(`event type ${def.type} is already registered`);
    const derived = deriveNounVerb(def.type);
    const noun = def.noun ?? derived?.noun;
    const verb = def.verb ?? derived?.verb;
    if (noun === undefined || verb === undefined) {
      throw new EventCatalogueError(`event type ${def.type} implies no noun:verb pair; give noun and verb`);
    }
    for (const [what, part] of [
      ['noun', noun],
      ['verb', verb],
    ] as const) {
      if (!PAIR_PART.test(part))
        throw new EventCatalogueError(
          `event type ${def.type}: ${what} ${JSON.stringify(part)} must be one word (letters, digits)`,
        );
    }
    const entry: EventTypeEntry = {
      type: def.type,
      noun,
      verb,
      description: def.description ?? '',
      ...(def.data !== undefined && { checkData: compileDataSchema(def.data) }),
      ...(def.handlers !== undefined && { handlers: [...def.handlers] }),
    };
    this.entries.set(def.type, entry);
    return entry;
  }

  get(type: string): EventTypeEntry | undefined {
    return this.entries.get(type);
  }
  has(type: string): boolean {
    return this.entries.has(type);
  }
  types(): string[] {
    return [...this.entries.keys()];
  }

  /** `scanJob:created` for a known type. */
  key(type: string): string | undefined {
    const e = this.entries.get(type);
    return e === undefined ? undefined : `${e.noun}:${e.verb}`;
  }

  /**
   * Validates a parsed JSON value as an event of this catalogue: the envelope, a known type, that type's data.
   * Errors name the field (`producer.id`, `tags[1]`, `type`). The returned event is the input object itself
   * (with `id` added when assigned), not a copy.
   */
  validate(value: unknown, opts: ValidateEventOptions = {}): EventValidation {
    if (opts.assignId && typeof value === 'object' && value !== null && !Array.isArray(value) && !('id' in value)) {
      (value as Record<string, unknown>).id = randomUUID();
    }
    const errors = envelopeErrors(value);
    if (errors.length > 0) return { ok: false, errors };
    const event = value as EventEnvelope;
    const entry = this.entries.get(event.type);
    if (entry === undefined) {
      return { ok: false, errors: [{ field: 'type', reason: `unknown event type ${JSON.stringify(event.type)}` }] };
    }
    if (entry.checkData !== undefined) {
      const dataErrors = entry.checkData(event.data);
      if (dataErrors.length > 0) return { ok: false, errors: dataErrors };
    }
    return { ok: true, event };
  }
}

/** The process-wide catalogue, holding the known types and whatever `registerEventType` adds. */
export const eventCatalogue = new EventCatalogue();

/** Registers a type in the process-wide catalogue (throws EventCatalogueError when it cannot). */
export function registerEventType(def: EventTypeDefinition): EventTypeEntry {
  return eventCatalogue.register(def);
}

/** Validates against the process-wide catalogue. */
export function validateEvent(value: unknown, opts?: ValidateEventOptions): EventValidation {
  return eventCatalogue.validate(value, opts);
}

/**
 * The noun:verb of an event, from its type alone (`scanJob:created`): the envelope's own `verb` describes the act
 * for people and does not change which filters match, so a producer cannot steer an event past a sink's filter.
 */
export function eventKey(type: string, catalogue: EventCatalogue = eventCatalogue): string {
  const pair = catalogue.get(type) ?? deriveNounVerb(type) ?? { noun: type, verb: '' };
  return `${pair.noun}:${pair.verb}`;
}

/**
 * Flipt-style filter match: each pattern is `noun:verb` where either side may be `*`; an empty list matches all.
 * `matchesFilter('scanJob:created', ['scanJob:*'])` is true.
 */
export function matchesFilter(key: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  const i = key.indexOf(':');
  const noun = key.slice(0, i);
  const verb = key.slice(i + 1);
  for (const p of patterns) {
    const j = p.indexOf(':');
    if (j < 0) continue;
    const pn = p.slice(0, j);
    const pv = p.slice(j + 1);
    if ((pn === '*' || pn === noun) && (pv === '*' || pv === verb)) return true;
  }
  return false;
}
