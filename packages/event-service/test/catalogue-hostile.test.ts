// Hostile catalogue files and schemas (fast-check and hand-made extremes): a load either gives a catalogue or throws
// one ConfigError naming the file, never another error, a crash or a hang; a schema that cannot check an event
// refuses the event instead of failing the intake.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, DataSchemaCompiler, MAX_LOAD_SUBSCHEMAS, tomlString } from '@event-broker/shared';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { loadCatalogue } from '../src/catalogue/load.js';
import { MAX_CATALOGUE_LOAD_BYTES } from '../src/catalogue/read-file.js';
import { refused } from './helpers/service-config.js';

const HANDLERS = ['feed', 'cfgingest', 'event_feed'];
/**
 * A hang guard, not a speed check: far above what a load takes (a few ms; a 100k-deep nesting some hundred ms idle, a
 * few seconds on the loaded 2-core CI machine), far below the runner's 120 s per file.
 */
const LOAD_MS = 30_000;

/** Loads `files`; the outcome, with every other throw failing the test. */
function outcome(files: string[]): 'loaded' | 'refused' {
  const started = performance.now();
  try {
    loadCatalogue(files, { handlers: HANDLERS });
    return 'loaded';
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    for (const p of err.problems) assert.ok(files.includes(p.file), `${p.file} is one of the files`);
    return 'refused';
  } finally {
    assert.ok(performance.now() - started < LOAD_MS, 'the load was bounded');
  }
}

/** A JSON-ish value as a TOML inline value (TOML has no null: a string instead). */
function toml(v: unknown): string {
  if (v === null || v === undefined) return '"null"';
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'nan';
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(toml).join(', ')}]`;
  return `{ ${Object.entries(v as Record<string, unknown>)
    .map(([k, el]) => `${tomlString(k)} = ${toml(el)}`)
    .join(', ')} }`;
}

const KEYWORDS = ['type', 'properties', 'required', 'items', 'pattern', '$ref', 'enum', 'minimum', 'format', '$schema'];
const schemaArb = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom('object', 'string', 'integer', '#', '#/properties/a', '(', 'date-time', '^a+$'),
    fc.integer(),
    fc.boolean(),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYWORDS), fc.string({ maxLength: 6 })), tie('node'), { maxKeys: 4 }),
  ),
})).node;

test('fast-check: any JSON value as a data schema compiles or is refused, and its check never throws', () => {
  const compiler = new DataSchemaCompiler();
  fc.assert(
    fc.property(schemaArb, fc.jsonValue({ maxDepth: 4 }), (schema, data) => {
      const r = compiler.compile(schema);
      if (r.ok) assert.ok(Array.isArray(r.check(data)));
      else assert.ok(r.problems.length > 0 && r.problems.every((p) => typeof p.reason === 'string'));
    }),
    { numRuns: 300 },
  );
});

test('fast-check: generated catalogue files load or are refused with a ConfigError naming the file', (t) => {
  const dir = tmpDir(t);
  const name = fc.oneof(fc.constantFrom('backupDone', 'scanJobCreated', 'x', 'a_b', '9bad', '__proto__'), fc.string());
  const entry = fc.record(
    {
      noun: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
      verb: fc.string({ maxLength: 8 }),
      description: fc.string(),
      handlers: fc.array(fc.oneof(fc.constantFrom(...HANDLERS), fc.string({ maxLength: 5 })), { maxLength: 3 }),
      data: fc.oneof(schemaArb, fc.constantFrom('missing.json', '', '/etc')),
      other: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  );
  let n = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(name, entry), { maxLength: 4 }), (types) => {
      const lines = types.map(([k, e]) => `types.${tomlString(k)} = ${toml(e)}`);
      const file = write(dir, `gen-${n++}.toml`, lines);
      outcome([file]);
    }),
    { numRuns: 200 },
  );
});

test('fast-check: arbitrary text as a catalogue file is refused or loaded, never a crash', (t) => {
  const dir = tmpDir(t);
  const fragment = fc.constantFrom(
    '[types.aB]',
    '[types.aB.data]',
    'type = "object"',
    '[[types]]',
    'data = {',
    '"',
    '\u0000',
    '\uFEFF',
    ' = ',
    'handlers = [',
    ']',
    '}',
  );
  let n = 0;
  fc.assert(
    fc.property(fc.array(fc.oneof(fragment, fc.string()), { maxLength: 12 }), (parts) => {
      outcome([write(dir, `text-${n++}.toml`, parts.join('\n'))]);
    }),
    { numRuns: 200 },
  );
});

test('extreme nestings (past the TOML parser’s stack) and a self-referring schema are refused, not fatal', (t) => {
  const dir = tmpDir(t);
  const arrays = write(dir, 'arrays.toml', `a = ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
  const tables = write(dir, 'tables.toml', `[types.aB]\ndata = ${'{a='.repeat(50_000)}1${'}'.repeat(50_000)}\n`);
  assert.equal(outcome([arrays]), 'refused');
  assert.equal(outcome([tables]), 'refused');
  // Checking anything with it would never end: refused when it compiles, naming the $ref.
  const selfRef = new DataSchemaCompiler().compile({ $ref: '#' });
  assert.deepEqual(selfRef.ok ? [] : selfRef.problems.map((p) => p.at), [['$ref']]);
  assert.match(selfRef.ok ? '' : selfRef.problems[0]!.reason, /^a schema may not refer to itself/);
});

test('schemas that would take minutes to compile together are refused past the load’s subschema budget, naming the type', (t) => {
  // Each schema is within its own bounds (5,000 values), but compiling MAX_CATALOGUE_TYPES of them would hold the
  // event loop for about an hour: the load stops at MAX_LOAD_SUBSCHEMAS. Empty property schemas compile to nothing,
  // so the test is quick; the count is what is bounded.
  const dir = tmpDir(t);
  const perType = Math.floor(MAX_LOAD_SUBSCHEMAS / 2.5);
  const props = Array.from({ length: perType - 1 }, (_, i) => `p${i} = {}`);
  const lines = ['a', 'b', 'c'].flatMap((n) => [`[types.${n}One.data.properties]`, ...props]);
  const file = write(dir, 'big.toml', lines);
  assert.throws(
    () => loadCatalogue([file], { handlers: HANDLERS }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 1, err.message);
      assert.match(
        err.message,
        new RegExp(
          `^\\s*${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: types\\.cOne\\.data: has ${perType} subschemas, ` +
            `more than the ${MAX_LOAD_SUBSCHEMAS - 2 * perType} left of the ${MAX_LOAD_SUBSCHEMAS} one catalogue load`,
          'm',
        ),
      );
      return true;
    },
  );
  // Two of them fit.
  const two = write(dir, 'two.toml', lines.slice(0, 2 * perType));
  assert.deepEqual(loadCatalogue([two], { handlers: HANDLERS }).types, ['aOne', 'bOne']);
});

test('a FIFO or a device as a catalogue or schema file is refused unopened, not waited on or read without end', (t) => {
  // Both have size 0 to stat: read whole, /dev/zero never ends (memory) and a FIFO waits for a writer (a hang).
  const dir = tmpDir(t);
  const fifo = path.join(dir, 'types.fifo');
  execFileSync('mkfifo', [fifo]);
  const schemaFifo = write(dir, 'schema-fifo.toml', ['[types.aB]', `data = ${tomlString(fifo)}`]);
  const zero = write(dir, 'zero.toml', ['[types.aC]', 'data = "/dev/zero"']);
  const err = refused(() => loadCatalogue([fifo, '/dev/zero', schemaFifo, zero], { handlers: HANDLERS }));
  const lines = err.problems.map((p) => `${p.file}:${p.line ?? ''}: ${p.key}: ${p.reason}`);
  assert.deepEqual(lines, [
    `${fifo}:: : is not a regular file`,
    '/dev/zero:: : is not a regular file',
    `${schemaFifo}:2: types.aB.data: ${fifo}: is not a regular file`,
    `${zero}:2: types.aC.data: /dev/zero: is not a regular file`,
  ]);
});

test('a load reads at most MAX_CATALOGUE_LOAD_BYTES in all, catalogue and schema files together', (t) => {
  // 64 files of 4 MiB each would be minutes of TOML parsing on the event loop; here a 1 MB schema file named by 17
  // types (JSON parses fast, so the test does too) goes past the 16 MiB a load reads.
  const dir = tmpDir(t);
  const schema = write(dir, 'padded.json', `{"type": "object"${' '.repeat(1_000_000 - 18)}}`);
  const size = statSync(schema).size;
  const lines = Array.from({ length: 17 }, (_, i) => `types.t${i}One = { data = "padded.json" }`);
  const file = write(dir, 'many.toml', lines);
  const err = refused(() => loadCatalogue([file], { handlers: HANDLERS }));
  assert.equal(err.problems.length, 1, err.message);
  const p = err.problems[0]!;
  assert.equal(p.key, 'types.t16One.data');
  const left = MAX_CATALOGUE_LOAD_BYTES - statSync(file).size - 16 * size;
  assert.equal(
    p.reason,
    `${schema}: is ${size} bytes, over ${left}, what is left of the ` +
      `${MAX_CATALOGUE_LOAD_BYTES} one catalogue load reads in all`,
  );
  assert.equal(loadCatalogue([write(dir, 'fewer.toml', lines.slice(0, 16))], { handlers: HANDLERS }).types.length, 16);
});
