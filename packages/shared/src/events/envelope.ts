// The one envelope every event travels in: a CloudEvents 1.0 structured JSON event (spec: cloudevents/spec
// cloudevents/spec.md and formats/json-format.md) whose extension attributes carry the product's fields. This
// module owns its shape, its JSON Schema and the field-path errors; which types exist is catalogue.ts's concern.
//
// Schema library: TypeBox (@sinclair/typebox). The schema is written once in TypeScript and is at the same time
// (a) the static type `EventEnvelope`, (b) plain JSON Schema that is published as-is (schema/event.schema.json),
// and (c) a compiled validator whose errors carry JSON-pointer paths. Ajv would validate the same schema but needs
// the type written twice (or a codegen step) and pulls ajv-formats for `date-time`; TypeBox has no dependencies.
import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { AUTH_TYPES } from '../server/auth-context.js';
import { MAX_EVENT_DEPTH, memberNestedTooDeep } from './limits.js';

/** CloudEvents 1.0 says producers SHOULD keep an event well under 64 KiB; we enforce the service's max_payload. */
export const CLOUDEVENTS_SPECVERSION = '1.0';

/**
 * A catalogue type is one subject token (`events.<type>`): a letter, then letters, digits or `_`. Tokens never
 * hold `.`, `*`, `>` or whitespace, so any valid type is a valid last token.
 */
export const EVENT_TYPE_PATTERN = '^[A-Za-z][A-Za-z0-9_]{0,127}$';

// RFC 3339 date-time (CloudEvents `time`): JSON Schema's `date-time` format. TypeBox checks formats through a
// process-wide registry; set it only if nobody (an embedding program) registered its own.
const RFC3339 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set('date-time', (v) => RFC3339.test(v) && !Number.isNaN(Date.parse(v)));

const NonEmpty = (description: string, maxLength = 1024) => Type.String({ minLength: 1, maxLength, description });

/** Who or what an event is about: the actor that did it, the object it was done to, the target it was done in. */
export const EntityRefSchema = Type.Object(
  {
    id: NonEmpty('stable identifier of the entity'),
    object_type: NonEmpty('kind of entity, e.g. "user", "node", "profile"', 128),
    display_name: Type.Optional(Type.String({ maxLength: 1024, description: 'human-readable name' })),
  },
  { additionalProperties: false },
);

/** The service that emitted the event (the CloudEvents `source` names it as a URI; this names it for people). */
export const ProducerSchema = Type.Object(
  {
    id: NonEmpty('stable identifier of the producing service instance'),
    name: NonEmpty('producing service name'),
    type: NonEmpty('kind of producer, e.g. "service", "agent"', 128),
  },
  { additionalProperties: false },
);

const ScalarExtension = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);

/**
 * The envelope. The CloudEvents context attributes keep their spec names; the product's fields are extension
 * attributes. CloudEvents 1.0 types extension values as scalars; producer/actor/object/target are carried as JSON
 * objects in the structured JSON format nonetheless (a binary-mode mapping would flatten them), because every
 * consumer of these events reads the JSON form. Further extensions are allowed: scalar values, names of 1-20
 * lowercase letters or digits (spec.md "Attribute Naming Convention").
 */
export const EventEnvelopeSchema = Type.Object(
  {
    specversion: Type.Literal(CLOUDEVENTS_SPECVERSION, { description: 'CloudEvents version; always "1.0"' }),
    id: NonEmpty('unique per source; the idempotency key. Assigned on intake when absent', 256),
    source: NonEmpty('URI-reference of the producing context, e.g. "/services/compliance"', 2048),
    type: Type.String({ pattern: EVENT_TYPE_PATTERN, description: 'a catalogue type, e.g. "scanJobCreated"' }),
    time: Type.Optional(Type.String({ format: 'date-time', description: 'RFC 3339 time of the occurrence' })),
    subject: Type.Optional(NonEmpty('subject of the event in the context of the source', 2048)),
    datacontenttype: Type.Optional(NonEmpty('media type of data; JSON when absent', 256)),
    dataschema: Type.Optional(NonEmpty('URI of the schema data adheres to', 2048)),
    data: Type.Optional(Type.Unknown({ description: 'the event payload' })),
    data_base64: Type.Optional(
      Type.String({ contentEncoding: 'base64', description: 'binary payload (instead of data)' }),
    ),
    producer: Type.Optional(ProducerSchema),
    actor: Type.Optional(EntityRefSchema),
    object: Type.Optional(EntityRefSchema),
    target: Type.Optional(EntityRefSchema),
    verb: Type.Optional(NonEmpty('what the actor did; the type-derived verb when absent', 128)),
    tags: Type.Optional(Type.Array(NonEmpty('tag', 256), { maxItems: 256 })),
    projects: Type.Optional(Type.Array(NonEmpty('project id', 256), { maxItems: 256 })),
    // CloudEvents authcontext (extensions/authcontext.md): who published the event, as the service verified it.
    // Written by the service's intake over whatever the producer sent; how long they are is the authenticators'.
    authtype: Type.Optional(
      Type.Union(
        AUTH_TYPES.map((t) => Type.Literal(t)),
        {
          description:
            'how the publisher was verified (CloudEvents authcontext); set by the service, never taken from the producer',
        },
      ),
    ),
    authid: Type.Optional(
      Type.String({
        description: "the verified principal: a gateway client's token subject, a service user; set by the service",
      }),
    ),
    authclaims: Type.Optional(
      Type.String({
        description: 'further verified facts about the principal, as a JSON object in a string; set by the service',
      }),
    ),
  },
  { additionalProperties: ScalarExtension, $id: 'EventEnvelope' },
);

export type EntityRef = Static<typeof EntityRefSchema>;
export type Producer = Static<typeof ProducerSchema>;
/** A validated event. `type` is a catalogue type; extension attributes beyond the product's fields may follow. */
export type EventEnvelope = Static<typeof EventEnvelopeSchema> & { [extension: string]: unknown };

/** Where the envelope's JSON Schema is published, relative to the shared package root. */
export const EVENT_SCHEMA_FILE = 'schema/event.schema.json';
export const EVENT_SCHEMA_ID = 'urn:event-broker:schema:event-envelope:1';

/** The envelope's JSON Schema (draft-07) as published in schema/event.schema.json; catalogue types not enumerated. */
export function eventJsonSchema(): Record<string, unknown> {
  // Round-trip through JSON drops TypeBox's symbol-keyed metadata; what is left is plain JSON Schema.
  const plain = JSON.parse(JSON.stringify(EventEnvelopeSchema)) as Record<string, unknown>;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: EVENT_SCHEMA_ID,
    title: 'Event envelope (CloudEvents 1.0 structured JSON with product extensions)',
    description:
      'Every event published on events.<type>. "type" must also be a type registered in the catalogue ' +
      '(see @event-broker/shared events/catalogue.ts); extension attribute names are 1-20 lowercase letters or digits.',
    ...Object.fromEntries(Object.entries(plain).filter(([k]) => k !== '$id')),
  };
}

/** One validation problem: the field's path (`producer.id`, `tags[2]`, `` for the whole event) and why. */
export interface EventFieldError {
  field: string;
  reason: string;
}

/** The error reply body an intake sends for a refused event (and what `EventValidationError` carries). */
export class EventValidationError extends Error {
  readonly code = 'EEVENT_INVALID';
  constructor(readonly errors: readonly EventFieldError[]) {
    super(errors.map((e) => (e.field === '' ? e.reason : `${e.field}: ${e.reason}`)).join('; '));
    this.name = 'EventValidationError';
  }
}

/** `/producer/id` → `producer.id`; `/tags/0` → `tags[0]` (JSON pointer escapes undone). */
export function pointerToField(pointer: string): string {
  if (pointer === '' || pointer === '/') return '';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
const KNOWN_MEMBERS = new Set(Object.keys(EventEnvelopeSchema.properties));
const MAX_ERRORS = 10;

// The envelope's own (fixed) schema, compiled with the first event checked, not when the module loads (start-up).
let compiledEnvelope: TypeCheck<typeof EventEnvelopeSchema> | undefined;

/** Compiles a payload schema a catalogue type declares for `data`. */
export function compileDataSchema(schema: TSchema): (data: unknown) => EventFieldError[] {
  const check = TypeCompiler.Compile(schema);
  return (data) => (check.Check(data) ? [] : collect(check.Errors(data), '/data'));
}

function collect(errors: Iterable<{ path: string; message: string }>, prefix = ''): EventFieldError[] {
  const out: EventFieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const field = pointerToField(prefix + e.path);
    // A failed union reports once per member, then once for the union: keep the first reason per field.
    if (seen.has(field)) continue;
    seen.add(field);
    out.push({
      field,
      reason: e.message === 'Expected required property' ? 'is required' : e.message.replace(/^Expected/, 'expected'),
    });
    if (out.length >= MAX_ERRORS) break;
  }
  return out;
}

/** Checks the envelope's shape alone (not catalogue membership), its depth first (limits.ts). Empty when valid. */
export function envelopeErrors(value: unknown): EventFieldError[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ field: '', reason: 'expected a JSON object (a CloudEvents structured event)' }];
  }
  // First, and alone: the schema checks below (and a type's data schema) may recurse into what they check.
  const deep = memberNestedTooDeep(value as Record<string, unknown>);
  if (deep !== undefined) {
    return [{ field: deep, reason: `nests deeper than ${MAX_EVENT_DEPTH} levels (the event itself is level 1)` }];
  }
  const errors: EventFieldError[] = [];
  for (const key of Object.keys(value)) {
    if (!KNOWN_MEMBERS.has(key) && !EXTENSION_NAME.test(key)) {
      errors.push({ field: key, reason: 'unknown attribute: extension names are 1-20 lowercase letters or digits' });
    }
  }
  const v = value as Record<string, unknown>;
  if (v.data !== undefined && v.data_base64 !== undefined) {
    errors.push({ field: 'data_base64', reason: 'data and data_base64 are mutually exclusive' });
  }
  compiledEnvelope ??= TypeCompiler.Compile(EventEnvelopeSchema);
  if (!compiledEnvelope.Check(value)) errors.push(...collect(compiledEnvelope.Errors(value)));
  return errors.slice(0, MAX_ERRORS);
}
