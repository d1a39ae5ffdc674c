// The limit on an event's depth (events/limits.ts): the iterative walk agrees with a plain recursive measure on
// random values (fast-check, fixed seed), and validation refuses an event nested past MAX_EVENT_DEPTH before anything
// recursive sees it, however deep (a million levels), however wide, even cyclic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_EVENT_DEPTH, memberNestedTooDeep, nestsDeeperThan, validateEvent } from '../src/index.js';

/** The reference: levels of objects and arrays, recursively (only for the small depths generated here). */
function depth(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  let deepest = 0;
  for (const member of Object.values(v)) deepest = Math.max(deepest, depth(member));
  return 1 + deepest;
}

/** A JSON value with one spine of 0-45 levels (arrays and objects mixed) and random JSON beside it at each level. */
const spined: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.array(
      fc.tuple(fc.boolean(), fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }), fc.string({ maxLength: 4 })),
      { maxLength: 45, size: 'max' },
    ),
    fc.jsonValue({ maxDepth: 2 }),
  )
  .map(([levels, leaf]) => {
    let v: unknown = leaf;
    for (const [asArray, siblings, key] of levels) {
      if (asArray) v = [...siblings, v];
      else v = Object.fromEntries([...siblings.map((s, i) => [`s${i}`, s] as const), [`k${key}`, v]]);
    }
    return v;
  });

const SEED = 11;

test('nestsDeeperThan agrees with a recursive depth on random values, for every bound', () => {
  fc.assert(
    fc.property(spined, fc.integer({ min: 0, max: 48 }), (value, max) => {
      assert.equal(nestsDeeperThan(value, max), depth(value) > max);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test('validation refuses exactly the events whose data nests past MAX_EVENT_DEPTH (the event being level 1)', () => {
  fc.assert(
    fc.property(spined, (data) => {
      const r = validateEvent({ specversion: '1.0', id: 'e', source: '/t', type: 'scanJobCreated', data });
      const tooDeep = 1 + depth(data) > MAX_EVENT_DEPTH;
      assert.equal(
        !r.ok && r.errors[0]!.field === 'data' && /nests deeper than 32 levels/.test(r.errors[0]!.reason),
        tooDeep,
      );
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test('a million levels, a cycle and a million siblings: bounded answers, no stack overflow', () => {
  const N = 1_000_000;
  const deep = JSON.parse('['.repeat(N) + ']'.repeat(N)) as unknown;
  assert.equal(nestsDeeperThan(deep, MAX_EVENT_DEPTH), true);
  const r = validateEvent({ specversion: '1.0', id: 'e', source: '/t', type: 'scanJobCreated', data: deep });
  assert.deepEqual(r.ok ? undefined : r.errors, [
    { field: 'data', reason: `nests deeper than ${MAX_EVENT_DEPTH} levels (the event itself is level 1)` },
  ]);

  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.equal(nestsDeeperThan(cyclic, MAX_EVENT_DEPTH), true, 'a cycle counts as too deep');
  assert.equal(memberNestedTooDeep({ specversion: '1.0', data: cyclic }), 'data');

  const wide = Array.from({ length: N }, () => [1]);
  assert.equal(nestsDeeperThan(wide, 2), false);
  assert.equal(nestsDeeperThan(wide, 1), true);
  // At the limit exactly: accepted.
  let atLimit: unknown = 1;
  for (let i = 0; i < MAX_EVENT_DEPTH - 1; i++) atLimit = [atLimit];
  assert.equal(
    validateEvent({ specversion: '1.0', id: 'e', source: '/t', type: 'scanJobCreated', data: atLimit }).ok,
    true,
  );
  assert.equal(
    validateEvent({ specversion: '1.0', id: 'e', source: '/t', type: 'scanJobCreated', data: [atLimit] }).ok,
    false,
  );
});
