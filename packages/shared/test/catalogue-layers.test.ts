// A catalogue over a base one (a service's over the process-wide catalogue): the base's types live and first, its
// names not to be taken, and an unknown type's refusal listing the known types, cut after a whole name when long.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataSchemaCompiler, EventCatalogue, EventCatalogueError, KNOWN_EVENT_TYPES } from '../src/index.js';

const event = (type: string, data?: unknown) => ({ specversion: '1.0', id: 'i', source: 's', type, data });

test('a layered catalogue reads its base live and first, and refuses the base names', () => {
  const base = new EventCatalogue();
  const own = new EventCatalogue([{ type: 'backupDone', handlers: ['feed'] }], { base });
  assert.deepEqual(own.types(), [...KNOWN_EVENT_TYPES.map((d) => d.type), 'backupDone']);
  assert.deepEqual(own.ownTypes(), ['backupDone']);
  assert.throws(() => own.register({ type: 'scanJobCreated' }), EventCatalogueError);
  const before = own.revision;
  base.register({ type: 'laterAdded' });
  assert.ok(own.has('laterAdded'), 'registered in the base after the layer was made');
  assert.notEqual(own.revision, before);
  assert.equal(base.has('backupDone'), false);
  assert.deepEqual(own.get('backupDone')?.handlers, ['feed']);
});

test('a type with a JSON Schema check validates data and names the field', () => {
  const compiled = new DataSchemaCompiler().compile({
    type: 'object',
    properties: { tags: { type: 'array', items: { type: 'string' } } },
    additionalProperties: false,
  });
  assert.ok(compiled.ok);
  const cat = new EventCatalogue([{ type: 'taggedDone', checkData: compiled.check }]);
  assert.ok(cat.validate(event('taggedDone', { tags: ['a'] })).ok);
  const wrong = cat.validate(event('taggedDone', { tags: ['a', 7] }));
  assert.deepEqual(wrong.ok ? [] : wrong.errors, [{ field: 'data.tags[1]', reason: 'must be string' }]);
  const extra = cat.validate(event('taggedDone', { other: 1 }));
  assert.deepEqual(extra.ok ? [] : extra.errors, [{ field: 'data.other', reason: 'is not allowed here' }]);
  assert.throws(
    () => cat.register({ type: 'bothGiven', checkData: compiled.check, data: {} as never }),
    EventCatalogueError,
  );
});

test('an unknown type is refused with the known types, cut after a whole name with the count left out', () => {
  const small = new EventCatalogue([{ type: 'backupDone' }], { base: new EventCatalogue() });
  const r = small.validate(event('nopeDone'));
  assert.deepEqual(r.ok ? [] : r.errors.map((e) => e.reason), [
    `unknown event type "nopeDone"; known types: ${[...KNOWN_EVENT_TYPES.map((d) => d.type), 'backupDone'].join(', ')}`,
  ]);
  const many = new EventCatalogue(Array.from({ length: 300 }, (_, i) => ({ type: `generated${i}Done` })));
  const text = many.knownTypesText();
  assert.ok(text.length <= 800, `${text.length} characters`);
  const m = /, and (\d+) more$/.exec(text);
  assert.ok(m !== null, text);
  const shown = text
    .replace(/^known types: /, '')
    .replace(/, and \d+ more$/, '')
    .split(', ');
  assert.equal(shown.length + Number(m[1]), 300, 'shown and counted: every type');
  assert.ok(
    shown.every((t) => many.has(t)),
    'no name cut',
  );
  assert.equal(many.knownTypesText(), text, 'made once per revision');
  many.register({ type: 'oneMoreDone' });
  assert.equal(many.knownTypesText(), text.replace(/\d+ more$/, `${Number(m[1]) + 1} more`));
  assert.notEqual(many.knownTypesText(), text);
});
