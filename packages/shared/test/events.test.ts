// The event catalogue and envelope: CloudEvents 1.0 structured events with the product's fields, noun:verb pairs,
// validation errors that name the field, registration, and the published JSON Schema kept current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import {
  AUTH_TYPES,
  deriveNounVerb,
  EVENT_SCHEMA_FILE,
  EventCatalogue,
  EventCatalogueError,
  EventValidationError,
  eventCatalogue,
  eventJsonSchema,
  eventKey,
  KNOWN_EVENT_TYPES,
  matchesFilter,
  pointerToField,
  registerEventType,
  validateEvent,
} from '../src/index.js';

const good = () => ({
  specversion: '1.0',
  id: 'evt-1',
  source: '/services/compliance',
  type: 'scanJobCreated',
  time: '2024-05-01T12:00:00.123Z',
  datacontenttype: 'application/json',
  data: { job: 42 },
  producer: { id: 'svc-1', name: 'compliance', type: 'service' },
  actor: { id: 'u1', object_type: 'user', display_name: 'Ada' },
  object: { id: 'j42', object_type: 'scanJob' },
  target: { id: 'n7', object_type: 'node' },
  verb: 'create',
  tags: ['nightly'],
  projects: ['p1', 'p2'],
});

function fieldsOf(value: unknown, catalogue = eventCatalogue): string[] {
  const r = catalogue.validate(value);
  assert.equal(r.ok, false, 'expected the event to be refused');
  return r.ok ? [] : r.errors.map((e) => e.field);
}

test('noun:verb is derived from camelCase and snake_case types', () => {
  assert.deepEqual(deriveNounVerb('scanJobCreated'), { noun: 'scanJob', verb: 'created' });
  assert.deepEqual(deriveNounVerb('profileUpdate'), { noun: 'profile', verb: 'update' });
  assert.deepEqual(deriveNounVerb('nodeTerminated'), { noun: 'node', verb: 'terminated' });
  assert.deepEqual(deriveNounVerb('compliance_ingest'), { noun: 'compliance', verb: 'ingest' });
  assert.equal(deriveNounVerb('cfgingest'), undefined, 'one word implies no pair');
  assert.equal(deriveNounVerb('a_b_c'), undefined, 'nouns and verbs are single words');
  assert.equal(deriveNounVerb('bad.type'), undefined);
});

test('every known type is registered with its pair', () => {
  const keys = Object.fromEntries(KNOWN_EVENT_TYPES.map((d) => [d.type, eventKey(d.type)]));
  assert.deepEqual(keys, {
    compliance_ingest: 'compliance:ingest',
    cfgingest: 'cfg:ingest',
    event_feed: 'event:feed',
    scanJobCreated: 'scanJob:created',
    scanJobUpdated: 'scanJob:updated',
    scanJobDeleted: 'scanJob:deleted',
    profileCreated: 'profile:created',
    profileUpdate: 'profile:update',
    profileDeleted: 'profile:deleted',
    nodeTerminated: 'node:terminated',
    k8s_audit: 'k8s:audit',
  });
});

test('a full CloudEvents event with the product fields is accepted as is', () => {
  const e = good();
  const r = validateEvent(e);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.equal(r.event, e);
});

test('a minimal event needs specversion, id, source and type', () => {
  assert.ok(validateEvent({ specversion: '1.0', id: 'x', source: 's', type: 'nodeTerminated' }).ok);
  assert.deepEqual(fieldsOf({ type: 'nodeTerminated' }).sort(), ['id', 'source', 'specversion']);
});

test('a missing id is assigned only when asked', () => {
  const e: Record<string, unknown> = { specversion: '1.0', source: 's', type: 'cfgingest' };
  assert.deepEqual(fieldsOf({ ...e }), ['id']);
  const r = validateEvent(e, { assignId: true });
  assert.ok(r.ok);
  assert.match(String(r.event.id), /^[0-9a-f-]{36}$/);
});

test('errors name the field path inside nested product fields and arrays', () => {
  assert.deepEqual(fieldsOf({ ...good(), producer: { id: 'p', name: 'n' } }), ['producer.type']);
  assert.deepEqual(fieldsOf({ ...good(), actor: { id: 1, object_type: 'user' } }), ['actor.id']);
  assert.deepEqual(fieldsOf({ ...good(), tags: ['ok', 7] }), ['tags[1]']);
  assert.deepEqual(fieldsOf({ ...good(), projects: 'p1' }), ['projects']);
  assert.deepEqual(fieldsOf({ ...good(), specversion: '0.3' }), ['specversion']);
  assert.deepEqual(fieldsOf({ ...good(), time: 'yesterday' }), ['time']);
  assert.deepEqual(fieldsOf({ ...good(), object: { id: 'o', object_type: 'x', extra: 1 } }), ['object.extra']);
});

test('an unknown type is refused by the catalogue, a malformed one by the envelope', () => {
  const r = validateEvent({ ...good(), type: 'noSuchThing' });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors, [{ field: 'type', reason: 'unknown event type "noSuchThing"' }]);
  assert.deepEqual(fieldsOf({ ...good(), type: 'events.x' }), ['type']);
});

test('extension attributes must be lowercase alphanumeric scalars; data and data_base64 exclude each other', () => {
  assert.ok(validateEvent({ ...good(), traceparent: '00-abc', priority: 3, urgent: true }).ok);
  assert.deepEqual(fieldsOf({ ...good(), Region: 'eu' }), ['Region']);
  assert.deepEqual(fieldsOf({ ...good(), region: { nested: true } }), ['region']);
  assert.deepEqual(fieldsOf({ ...good(), data_base64: 'AAAA' }), ['data_base64']);
});

test('a non-object is refused with the whole event as the field', () => {
  for (const v of [null, [], 'x', 3]) {
    const r = validateEvent(v);
    assert.ok(!r.ok);
    assert.equal(r.errors[0]!.field, '');
  }
});

test('registered types are validated, with their own data schema', () => {
  const cat = new EventCatalogue();
  const entry = cat.register({ type: 'reportGenerated', data: Type.Object({ pages: Type.Integer({ minimum: 1 }) }) });
  assert.equal(`${entry.noun}:${entry.verb}`, 'report:generated');
  const base = { specversion: '1.0', id: 'r1', source: 's', type: 'reportGenerated' };
  assert.ok(cat.validate({ ...base, data: { pages: 3 } }).ok);
  assert.deepEqual(fieldsOf({ ...base, data: { pages: 0 } }, cat), ['data.pages']);
  assert.deepEqual(fieldsOf({ ...base, data: {} }, cat), ['data.pages']);
  assert.equal(eventCatalogue.has('reportGenerated'), false, 'a separate catalogue leaves the process one alone');
});

test('registration refuses duplicates, bad names and types with no pair', () => {
  const cat = new EventCatalogue();
  assert.throws(() => cat.register({ type: 'scanJobCreated' }), EventCatalogueError);
  assert.throws(() => cat.register({ type: 'has.dot' }), /one subject token/);
  assert.throws(() => cat.register({ type: 'audit' }), /give noun and verb/);
  assert.equal(cat.register({ type: 'audit', noun: 'audit', verb: 'record' }).verb, 'record');
  assert.throws(() => cat.register({ type: 'other', noun: 'a:b', verb: 'x' }), /one word/);
});

test('registerEventType adds to the process-wide catalogue', () => {
  registerEventType({ type: 'widgetShipped', description: 'test type' });
  assert.ok(validateEvent({ specversion: '1.0', id: 'w', source: 's', type: 'widgetShipped' }).ok);
  assert.equal(eventKey('widgetShipped'), 'widget:shipped');
});

test('Flipt-style filters match noun:verb with wildcards', () => {
  assert.ok(matchesFilter('scanJob:created', ['scanJob:*']));
  assert.ok(matchesFilter('profile:deleted', ['scanJob:*', '*:deleted']));
  assert.ok(!matchesFilter('profile:update', ['scanJob:*', '*:deleted']));
  assert.ok(matchesFilter('node:terminated', ['*:*']));
  assert.ok(matchesFilter('node:terminated', []), 'no filter means everything');
});

test('JSON pointers become dotted field paths', () => {
  assert.equal(pointerToField('/producer/id'), 'producer.id');
  assert.equal(pointerToField('/tags/0'), 'tags[0]');
  assert.equal(pointerToField('/data/a~1b/2/c'), 'data.a/b[2].c');
  assert.equal(pointerToField(''), '');
});

test('EventValidationError lists the fields in its message', () => {
  const err = new EventValidationError([{ field: 'producer.id', reason: 'expected string' }]);
  assert.equal(err.code, 'EEVENT_INVALID');
  assert.equal(err.message, 'producer.id: expected string');
});

test("the authcontext attributes are known and typed: authtype one of the extension's values, authid and authclaims strings", () => {
  for (const authtype of AUTH_TYPES)
    assert.equal(validateEvent({ ...good(), authtype, authid: 'alice', authclaims: '{"iss":"x"}' }).ok, true, authtype);
  const refused = (extra: Record<string, unknown>) => {
    const r = validateEvent({ ...good(), ...extra });
    return r.ok ? undefined : r.errors[0]!.field;
  };
  assert.equal(refused({ authtype: 'root' }), 'authtype');
  assert.equal(refused({ authid: 7 }), 'authid');
  assert.equal(refused({ authclaims: { iss: 'x' } }), 'authclaims');
  const schema = eventJsonSchema() as { properties: Record<string, { description?: string }> };
  for (const k of ['authtype', 'authid', 'authclaims'])
    assert.match(schema.properties[k]?.description ?? '', /set by the service/, k);
});

test('the published JSON Schema is current (UPDATE_SCHEMA=1 rewrites it)', () => {
  // dist/test/events.test.js → package root
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const file = path.join(root, EVENT_SCHEMA_FILE);
  const text = `${JSON.stringify(eventJsonSchema(), null, 2)}\n`;
  if (process.env.UPDATE_SCHEMA === '1') fs.writeFileSync(file, text);
  assert.ok(fs.existsSync(file), `${EVENT_SCHEMA_FILE} is missing: run the test with UPDATE_SCHEMA=1`);
  assert.equal(fs.readFileSync(file, 'utf8'), text, `${EVENT_SCHEMA_FILE} is stale: run the test with UPDATE_SCHEMA=1`);
  const schema = JSON.parse(text) as { properties: Record<string, unknown>; required: string[] };
  assert.deepEqual([...schema.required].sort(), ['id', 'source', 'specversion', 'type']);
  for (const k of ['producer', 'actor', 'object', 'target', 'verb', 'tags', 'projects'])
    assert.ok(k in schema.properties, k);
});
