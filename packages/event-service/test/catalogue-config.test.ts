// `[catalogue] files` read with the configuration (catalogue/load.ts): types with derived or given noun:verb,
// default handlers, a data schema inline or in a .json file, validated by Ajv and naming the data field; and every
// kind of bad file refused as `file:line: key: reason`, all problems of all files at once. The running service's
// use of them (intake, routing, reload) is catalogue-service.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { eventCatalogue, registerEventType } from '@event-broker/shared';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { loadCatalogue, MAX_CATALOGUE_TYPES } from '../src/catalogue/load.js';
import { catalogueFor } from '../src/catalogue/service-catalogue.js';
import { MAX_TYPES_PER_FILE } from '../src/catalogue/types-table.js';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { errorReplyText, MAX_REASON_CHARS } from '../src/handlers/error-reply.js';
import { assertOneProblem, escape, refused } from './helpers/service-config.js';

const HANDLERS = ['feed', 'cfgingest', 'event_feed'];
const event = (type: string, data?: unknown) => ({
  specversion: '1.0',
  id: `${type}-1`,
  source: '/catalogue-config-test',
  type,
  ...(data !== undefined && { data }),
});

test('a catalogue file adds types beside the built-in ones: pairs derived or given, handlers, schemas inline or in a file', (t) => {
  const dir = tmpDir(t);
  write(dir, 'schemas/restore.json', JSON.stringify({ type: 'object', required: ['from'] }));
  write(dir, 'cat/types.toml', [
    '[types.backupCompleted]',
    'description = "a backup finished"',
    'handlers = ["feed", "event_feed"]',
    '[types.backupCompleted.data]',
    'type = "object"',
    'required = ["size"]',
    '[types.backupCompleted.data.properties.size]',
    'type = "integer"',
    'minimum = 0',
    '[types.restore]',
    'noun = "backup"',
    'verb = "restored"',
    'data = "../schemas/restore.json"',
  ]);
  const base = write(dir, 'service.toml', ['[catalogue]', 'files = ["cat/types.toml"]']);
  const { config } = loadServiceConfig({ configPath: base });
  assert.deepEqual(config.catalogue, { files: [path.join(dir, 'cat/types.toml')] }, 'relative to the config file');
  const { catalogue, types, files } = catalogueFor(config);
  assert.deepEqual(types, ['backupCompleted', 'restore']);
  assert.deepEqual(files, [path.join(dir, 'cat/types.toml')]);
  assert.deepEqual(catalogue.types().slice(0, 10), eventCatalogue.types().slice(0, 10), 'the built-in ones first');
  assert.equal(catalogue.key('backupCompleted'), 'backup:completed');
  assert.equal(catalogue.key('restore'), 'backup:restored');
  assert.deepEqual(catalogue.get('backupCompleted')?.handlers, ['feed', 'event_feed']);
  assert.equal(catalogue.get('backupCompleted')?.description, 'a backup finished');
  assert.ok(catalogue.validate(event('backupCompleted', { size: 3 })).ok);
  const bad = catalogue.validate(event('backupCompleted', { size: -1 }));
  assert.deepEqual(bad.ok ? [] : bad.errors, [{ field: 'data.size', reason: 'must be >= 0' }]);
  const missing = catalogue.validate(event('restore', {}));
  assert.deepEqual(missing.ok ? [] : missing.errors, [{ field: 'data.from', reason: 'is required' }]);
  assert.equal(eventCatalogue.has('backupCompleted'), false, 'the process-wide catalogue is left alone');
});

test('types the program registers in the process-wide catalogue are in the service one, even registered later', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'types.toml', ['[types.fileTyped]']);
  const { catalogue } = loadCatalogue([file], { handlers: HANDLERS });
  registerEventType({ type: 'programTypedLater', description: 'registered after the load' });
  assert.ok(catalogue.has('programTypedLater'));
  assert.ok(catalogue.validate(event('programTypedLater')).ok);
  assert.ok(catalogue.validate(event('fileTyped')).ok);
  // A file may not take a name the program has.
  const again = write(dir, 'again.toml', ['[types.programTypedLater]']);
  assertOneProblem(
    refused(() => loadCatalogue([again], { handlers: HANDLERS })),
    again,
    1,
    'types.programTypedLater',
    'ECONFIG_VALUE',
    /registered by the program embedding the service/,
  );
});

test('each kind of bad type is refused at its line, every problem of every file in one error', (t) => {
  const dir = tmpDir(t);
  const a = write(dir, 'a.toml', [
    '[types.scanJobCreated]', // 1: built-in
    '[types.okOne]', // 2
    'colour = "red"', // 3: unknown key
    '[types.badPair]', // 4
    'noun = "two words"', // 5
    '[types.lonely]', // 6: no pair implied, none given
    '[types.wasRouted]', // 7
    'handlers = ["feed", "nosuch"]', // 8
    '[types.schemaBad.data]', // 9
    'type = "object"', // 10
    '[types.schemaBad.data.properties.size]', // 11
    'type = "integr"', // 12
    '[types.typoMade.data]', // 13
    'minimun = 3', // 14
    '[types.dateGiven.data]', // 15
    'const = 2024-01-01T00:00:00Z', // 16
  ]);
  const b = write(dir, 'b.toml', ['[types.okOne]', '[types.viaFile]', 'data = "missing.json"']);
  const err = refused(() => loadCatalogue([a, b], { handlers: HANDLERS }));
  const got = err.problems.map((p) => `${path.basename(p.file)}:${p.line}: ${p.key}: ${p.code}`);
  assert.deepEqual(got, [
    'a.toml:1: types.scanJobCreated: ECONFIG_VALUE',
    'a.toml:3: types.okOne.colour: ECONFIG_UNKNOWN_KEY',
    'a.toml:5: types.badPair.noun: ECONFIG_VALUE',
    'a.toml:6: types.lonely: ECONFIG_MISSING',
    'a.toml:8: types.wasRouted.handlers[1]: ECONFIG_VALUE',
    'a.toml:12: types.schemaBad.data.properties.size.type: ECONFIG_VALUE',
    'a.toml:13: types.typoMade.data: ECONFIG_VALUE',
    'a.toml:16: types.dateGiven.data.const: ECONFIG_TYPE',
    'b.toml:1: types.okOne: ECONFIG_VALUE',
    'b.toml:3: types.viaFile.data: ECONFIG_FILE',
  ]);
  const reason = (key: string) => err.problems.find((p) => p.key === key)!.reason;
  assert.match(reason('types.scanJobCreated'), /built-in type/);
  assert.match(reason('types.okOne.colour'), /known here: noun, verb, description, data, handlers/);
  assert.match(
    reason('types.wasRouted.handlers[1]'),
    /unknown handler "nosuch" \(known: feed, cfgingest, event_feed\)/,
  );
  assert.match(reason('types.schemaBad.data.properties.size.type'), /allowed values/);
  assert.match(reason('types.typoMade.data'), /unknown keyword: "minimun"/);
  assert.match(reason('types.okOne'), new RegExp(`defined already in ${escape(a)}`));
  assert.match(reason('types.viaFile.data'), new RegExp(`${escape(path.join(dir, 'missing.json'))}: .*no such file`));
  assert.ok(err.message.includes(`${a}:12: types.schemaBad.data.properties.size.type: `), err.message);
});

test('a schema file that is not JSON, or not a schema, is named with the catalogue line that names it', (t) => {
  const dir = tmpDir(t);
  write(dir, 'broken.json', '{"type": ');
  write(dir, 'wrong.json', JSON.stringify({ properties: { a: { type: 7 } } }));
  const file = write(dir, 'types.toml', [
    '[types.oneDone]',
    'data = "broken.json"',
    '[types.twoDone]',
    'data = "wrong.json"',
  ]);
  const err = refused(() => loadCatalogue([file], { handlers: HANDLERS }));
  assert.deepEqual(
    err.problems.map((p) => [p.line, p.key]),
    [
      [2, 'types.oneDone.data'],
      [4, 'types.twoDone.data'],
    ],
  );
  assert.match(err.problems[0]!.reason, /broken\.json: not JSON/);
  assert.match(err.problems[1]!.reason, /wrong\.json: \/properties\/a\/type: must be/);
});

test('a catalogue file that is missing, not TOML, or has unknown top-level keys fails the configuration load', (t) => {
  const dir = tmpDir(t);
  const bad = write(dir, 'bad.toml', ['[types.a', 'x = 1']);
  const odd = write(dir, 'odd.toml', ['[typez.a]']);
  const conf = write(dir, 'service.toml', ['[catalogue]', 'files = ["bad.toml", "odd.toml", "none.toml"]']);
  const err = refused(() => loadServiceConfig({ configPath: conf }));
  const got = err.problems.map((p) => [path.basename(p.file), p.line, p.key, p.code]);
  assert.deepEqual(got, [
    ['bad.toml', 2, '', 'ECONFIG_SYNTAX'], // where the parser finds the header unclosed
    ['odd.toml', 1, 'typez', 'ECONFIG_UNKNOWN_KEY'],
    ['none.toml', undefined, '', 'ECONFIG_FILE'],
  ]);
  assert.match(err.problems[1]!.reason, /did you mean "types"/);
  assert.ok(err.message.includes(`${bad}:2:`), err.message);
  assert.ok(err.message.includes(`${odd}:1: typez: `), err.message);
});

test('[catalogue] files must be a list of distinct paths', (t) => {
  const dir = tmpDir(t);
  const one = write(dir, 'one.toml', ['[catalogue]', 'files = "types.toml"']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: one })),
    one,
    2,
    'catalogue.files',
    'ECONFIG_TYPE',
    /must be an array of catalogue file paths/,
  );
  write(dir, 'types.toml', ['[types.someThingDone]']);
  const twice = write(dir, 'twice.toml', ['[catalogue]', `files = ["types.toml", "${path.join(dir, 'types.toml')}"]`]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: twice })),
    twice,
    2,
    'catalogue.files[1]',
    'ECONFIG_VALUE',
    /listed twice/,
  );
  const unknown = write(dir, 'unknown.toml', ['[catalogue]', 'file = ["types.toml"]']);
  const keys = refused(() => loadServiceConfig({ configPath: unknown })).problems.map((p) => p.key);
  assert.ok(keys.includes('catalogue.file'), keys.join(', '));
});

test('an embedding program gives files relative to its cwd; a bad one is refused like a file', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'types.toml', ['[types.embedDone]', 'handlers = ["cfgingest"]']);
  const config = resolveServiceConfig({ catalogue: { files: [file] } });
  assert.deepEqual(catalogueFor(config).types, ['embedDone']);
  const broken = write(dir, 'broken.toml', ['[types.embedBroken]', 'handlers = ["x"]']);
  const err = refused(() => resolveServiceConfig({ catalogue: { files: [broken] } }));
  assert.deepEqual([err.problems[0]!.file, err.problems[0]!.line], [broken, 2]);
});

test('what a file can make a load allocate is bounded: types per file, schema depth', (t) => {
  const dir = tmpDir(t);
  const many = write(
    dir,
    'many.toml',
    Array.from({ length: MAX_TYPES_PER_FILE + 1 }, (_, i) => `[types.t${i}Done]`),
  );
  const err = refused(() => loadCatalogue([many], { handlers: HANDLERS }));
  assert.match(err.problems[0]!.reason, new RegExp(`defines ${MAX_TYPES_PER_FILE + 1} types, over`));
  assert.ok(MAX_CATALOGUE_TYPES >= MAX_TYPES_PER_FILE);
  let deep = '{}';
  for (let i = 0; i < 40; i++) deep = `{ "not" = ${deep} }`;
  const nested = write(dir, 'deep.toml', ['[types.deepDone]', `data = ${deep}`]);
  const deepErr = refused(() => loadCatalogue([nested], { handlers: HANDLERS }));
  assert.match(deepErr.problems[0]!.reason, /nests deeper than 32 levels/);
  assert.equal(deepErr.problems[0]!.line, 2);
});

test("an unknown type's reply carries the known-types list whole up to its bound, within the reply's clip", (t) => {
  const dir = tmpDir(t);
  const lines = Array.from({ length: 400 }, (_, i) => `[types.generatedType${i}Done]`);
  const { catalogue } = loadCatalogue([write(dir, 'many.toml', lines)], { handlers: HANDLERS });
  const r = catalogue.validate(event(`a${'x'.repeat(127)}`));
  assert.ok(!r.ok);
  const body = JSON.parse(errorReplyText({ code: 'EEVENT_INVALID', ...r.errors[0]! }, 1024 * 1024)) as {
    error: { reason: string };
  };
  assert.ok(body.error.reason.length <= MAX_REASON_CHARS);
  assert.equal(body.error.reason, r.errors[0]!.reason, 'not clipped: the list is cut by the catalogue, after a name');
  assert.match(body.error.reason, /, and \d+ more$/);
});

test('a schema a per-event check cannot bound is refused at its key: a pattern RE2 cannot run, an unbounded uniqueItems', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'linear.toml', [
    '[types.codeSet]',
    '[types.codeSet.data.properties.code]',
    'type = "string"',
    'pattern = "^(?!x)[a-z]+$"',
  ]);
  assertOneProblem(
    refused(() => loadCatalogue([file], { handlers: HANDLERS })),
    file,
    4,
    'types.codeSet.data.properties.code.pattern',
    'ECONFIG_VALUE',
    /^"\^\(\?!x\)\[a-z\]\+\$" cannot run on RE2, the linear-time engine patterns use \(no lookaround or backreferences\)/,
  );
  const pairs = write(dir, 'pairs.toml', ['[types.pairSet.data]', 'type = "array"', 'uniqueItems = true']);
  assertOneProblem(
    refused(() => loadCatalogue([pairs], { handlers: HANDLERS })),
    pairs,
    3,
    'types.pairSet.data.uniqueItems',
    'ECONFIG_VALUE',
    /^compares every pair of items that may be objects or arrays: give maxItems \(at most 100\)/,
  );
});
