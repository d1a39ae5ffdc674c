// A data schema's check runs once per event on the event loop: a schema must not be able to make one event's check
// take seconds. `pattern` (and patternProperties) run on RE2 (linear time), and `uniqueItems`, quadratic for
// objects and arrays, is bounded by maxItems unless the items are scalars.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DataSchemaCompiler,
  MAX_LOAD_SUBSCHEMAS,
  MAX_UNFOLDED_SUBSCHEMAS,
  MAX_UNIQUE_ITEMS_COMPARED,
} from '../src/events/data-schema.js';

function check(schema: unknown, data: unknown) {
  const r = new DataSchemaCompiler().compile(schema);
  assert.ok(r.ok, `compiles: ${JSON.stringify(r)}`);
  return r.check(data);
}

function compileOk(schema: unknown) {
  const r = new DataSchemaCompiler().compile(schema);
  assert.ok(r.ok, `compiles: ${JSON.stringify(r)}`);
  return r.check;
}

function refusal(schema: unknown): string {
  const r = new DataSchemaCompiler().compile(schema);
  assert.ok(!r.ok, `refused: ${JSON.stringify(schema)}`);
  return r.problems.map((p) => `${p.at.join('/')}: ${p.reason}`).join('; ');
}

test('pattern: a backtracking pattern on a long string is checked in linear time (RE2), not hung', () => {
  // With JavaScript's RegExp, (a+)+$ on 'a'.repeat(n) + '!' takes 2^n steps: this would never end.
  const errors = check({ type: 'string', pattern: '(a+)+$' }, `${'a'.repeat(100_000)}!`);
  assert.deepEqual(errors, [{ field: 'data', reason: 'must match pattern "(a+)+$"' }]);
  assert.deepEqual(check({ type: 'string', pattern: '(a+)+$' }, 'aaa'), []);
});

test('pattern: lookaround and backreferences (no linear-time match) are refused at load, saying why', () => {
  for (const pattern of ['(?=a)b', '(a)\\1', '(?<!x)y']) {
    assert.match(
      refusal({ type: 'object', properties: { code: { type: 'string', pattern } } }),
      /^properties\/code\/pattern: ".*" cannot run on RE2, .*\(no lookaround or backreferences\)/,
    );
  }
  assert.match(
    refusal({ patternProperties: { '^(?!x)': { type: 'string' } } }),
    /^patternProperties\/\^\(\?!x\): "\^\(\?!x\)" cannot run on RE2/,
  );
});

test('pattern: ECMAScript forms in common use keep their meaning under RE2', () => {
  const cases: [string, string, boolean][] = [
    ['^[a-z]+-\\d{2,4}$', 'abc-2024', true],
    ['^[a-z]+-\\d{2,4}$', 'abc-1', false],
    ['\\u00e9', 'caf\u00e9', true],
    ['^\\p{L}+$', 'h\u00e9llo', true],
    ['^(?<year>\\d{4})-\\d{2}$', '2024-05', true],
    ['a/b', 'xa/by', true],
    ['^abc$', 'abc\n', false],
    ['^.$', '\n', false],
  ];
  for (const [pattern, s, ok] of cases) {
    assert.equal(check({ pattern }, s).length === 0, ok, `${pattern} on ${JSON.stringify(s)}`);
  }
  // patternProperties goes through the same engine.
  const props = { type: 'object', patternProperties: { '^x-': { type: 'integer' } } };
  assert.deepEqual(check(props, { 'x-a': 1, y: 'z' }), []);
  assert.deepEqual(
    check(props, { 'x-a': 'no' }).map((e) => e.field),
    ['data.x-a'],
  );
});

test('uniqueItems: items of objects or arrays need maxItems within the bound; scalar items do not', () => {
  // Ajv compares every pair of items that are not scalars: 20,000 small objects (270 kB) took 13 s of event loop.
  assert.match(refusal({ type: 'array', uniqueItems: true }), /uniqueItems: .*maxItems/);
  assert.match(refusal({ type: 'array', items: { type: 'object' }, uniqueItems: true }), /uniqueItems/);
  assert.match(
    refusal({ type: 'array', uniqueItems: true, maxItems: MAX_UNIQUE_ITEMS_COMPARED + 1 }),
    new RegExp(`at most ${MAX_UNIQUE_ITEMS_COMPARED}`),
  );
  // Nested anywhere a schema may be, it is found: under properties, $defs, items, allOf.
  assert.match(
    refusal({ type: 'object', properties: { tags: { allOf: [{ items: { uniqueItems: true } }] } } }),
    /properties\/tags\/allOf\/0\/items\/uniqueItems: /,
  );
  assert.match(refusal({ $defs: { t: { uniqueItems: true } } }), /\$defs\/t\/uniqueItems: /);
  // Fine: bounded, scalar items (Ajv's linear path), uniqueItems false, and the word as data, not a keyword.
  assert.deepEqual(check({ uniqueItems: true, maxItems: MAX_UNIQUE_ITEMS_COMPARED }, [{ a: 1 }, { a: 2 }]), []);
  const tags = { type: 'array', items: { type: ['string', 'integer'] }, uniqueItems: true };
  assert.equal(check(tags, ['a', 'a']).length, 1);
  assert.deepEqual(
    check(
      tags,
      Array.from({ length: 50_000 }, (_, i) => `t${i}`),
    ),
    [],
  );
  assert.deepEqual(check({ uniqueItems: false }, [{}, {}]), []);
  assert.deepEqual(
    check({ properties: { uniqueItems: true }, enum: [{ uniqueItems: true }] }, { uniqueItems: true }),
    [],
  );
});

test('one compiler (one catalogue load) compiles a bounded number of subschemas in all', () => {
  const compiler = new DataSchemaCompiler({ maxSubschemas: 10 });
  // 1 (the schema) + 3 properties + 1 items = 5 subschemas.
  const schema = { type: 'object', properties: { a: {}, b: { items: true }, c: false } };
  assert.ok(compiler.compile(schema).ok);
  assert.ok(compiler.compile(schema).ok);
  const third = compiler.compile(true);
  assert.deepEqual(third.ok ? [] : third.problems, [
    {
      at: [],
      reason:
        'has 1 subschemas, more than the 0 left of the 10 one catalogue load compiles (each is about 1 ms of ' +
        'compiling on the event loop)',
    },
  ]);
  assert.equal(MAX_LOAD_SUBSCHEMAS, 10_000);
  assert.ok(new DataSchemaCompiler().compile(schema).ok, 'a compiler of its own starts afresh');
});

test('$ref: overlapping branches that unfold exponentially are refused; a schema referring to itself too', () => {
  // anyOf [ref next, ref next] over 20 definitions: 2^20 paths, every one walked for data failing at the bottom
  // (measured before this bound: 22 levels of a recursive form took 87 s for a 60-byte event).
  const defs: Record<string, unknown> = { d20: { type: 'string' } };
  for (let i = 0; i < 20; i++)
    defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
  assert.match(
    refusal({ $defs: defs, $ref: '#/$defs/d0' }),
    new RegExp(`^: has more than ${MAX_UNFOLDED_SUBSCHEMAS} subschemas with its \\$refs followed`),
  );
  const recursive = {
    $defs: {
      a: {
        anyOf: [
          { type: 'array', items: { $ref: '#/$defs/a' } },
          { type: 'array', items: { $ref: '#/$defs/a' } },
        ],
      },
    },
    $ref: '#/$defs/a',
  };
  assert.match(refusal(recursive), /^\$defs\/a\/anyOf\/\d\/items\/\$ref: a schema may not refer to itself/);
  // A tree schema (a node whose children are nodes) is recursion too, and refused the same way.
  const tree = {
    $id: 'https://example.com/tree',
    type: 'object',
    properties: { kids: { items: { $ref: 'https://example.com/tree' } } },
  };
  assert.match(refusal(tree), /^properties\/kids\/items\/\$ref: a schema may not refer to itself/);
  assert.match(refusal({ $dynamicAnchor: 'n', type: 'object' }), /^\$dynamicAnchor: is not supported/);
});

test('$ref: definitions used several times, draft-07 anchors and the top $id resolve; a $ref outside the schema is refused', () => {
  const schema = {
    $id: 'https://example.com/s',
    $defs: { name: { type: 'string', maxLength: 8 }, id: { type: 'integer' } },
    type: 'object',
    properties: {
      first: { $ref: '#/$defs/name' },
      last: { $ref: 'https://example.com/s#/$defs/name' },
      id: { $ref: '#/$defs/id' },
    },
  };
  assert.deepEqual(check(schema, { first: 'ada', last: 'lovelace', id: 1 }), []);
  assert.deepEqual(
    check(schema, { first: 'ada', last: 'lovelace-byron' }).map((e) => e.field),
    ['data.last'],
  );
  assert.deepEqual(
    check(schema, { id: 'x' }).map((e) => e.field),
    ['data.id'],
  );
  const draft07 = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    definitions: { n: { $id: '#num', type: 'number' } },
    items: { $ref: '#num' },
  };
  assert.deepEqual(check(draft07, [1, 2]), []);
  assert.match(refusal({ $ref: 'other.json#/a' }), /^\$ref: "other\.json#\/a" must refer inside its own schema/);
  assert.match(
    refusal({ properties: { a: { $id: 'https://x/y', type: 'string' } } }),
    /^properties\/a\/\$id: is not supported below the top/,
  );
});

test('fast-check: patterns answer as ECMAScript RegExp (u) does, line terminators and Unicode spaces included', () => {
  const patterns = [
    '.',
    '^.+$',
    '^a.c$',
    '[.]',
    '\\.',
    '\\s',
    '^\\s*$',
    '^\\S+$',
    '[\\s,]+',
    '^[^\\s]+$',
    '^[^.\\s]$',
    '^[\\w.-]+@[\\w.-]+$',
    '^\\d{2,3}$',
    '\\\\s',
    '[\\]s]',
    '^(ab|a\\.)+$',
  ];
  const checks = patterns.map((pattern) => ({ pattern, js: new RegExp(pattern, 'u'), check: compileOk({ pattern }) }));
  const alphabet = ['a', 'b', 'c', '.', ',', '@', '-', '1', 's', ']', '\\', 'é', '\u{1d7d8}'];
  const spaces = [' ', '\t', '\n', '\r', '\u000b', '\f', '\u00a0', '\u1680', '\u2000', '\u200a', '\u2028', '\u2029'];
  const more = ['\u202f', '\u205f', '\u3000', '\ufeff', '\u200b', '\u0085', '\u180e'];
  const text = fc.array(fc.constantFrom(...alphabet, ...spaces, ...more), { maxLength: 8 }).map((a) => a.join(''));
  fc.assert(
    fc.property(text, (s) => {
      for (const { pattern, js, check } of checks)
        assert.equal(check(s).length === 0, js.test(s), `${pattern} on ${JSON.stringify(s)}`);
    }),
    { numRuns: 2000 },
  );
  assert.match(refusal({ pattern: '[\\S]' }), /\\S inside a character class has no RE2 form/);
});

test('property names the Object prototype has (constructor, toString) are data like any other', () => {
  // Without Ajv's ownProperties, `required` saw {}.constructor as given and `properties` checked the inherited one.
  assert.deepEqual(
    check({ type: 'object', required: ['constructor', 'toString'] }, {}).map((e) => e.field),
    ['data.constructor'],
  );
  assert.deepEqual(check({ type: 'object', required: ['toString'] }, { toString: 1 }), []);
  assert.deepEqual(check({ type: 'object', properties: { constructor: { type: 'string' } } }, {}), []);
  assert.equal(check({ properties: { constructor: { type: 'string' } } }, { constructor: 1 }).length, 1);
  const own = JSON.parse('{"__proto__": {"a": 1}}') as unknown;
  assert.deepEqual(check({ type: 'object', required: ['__proto__'] }, own), []);
  assert.equal(check({ type: 'object', required: ['__proto__'] }, {}).length, 1);
});
