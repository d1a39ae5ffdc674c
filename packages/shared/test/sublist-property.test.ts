// Sublist.match against a brute-force matcher: random subscriptions and published subjects over a small token
// alphabet (so wildcards and literals collide often), with inserts, removals and matches interleaved, with a
// roomy cache, a tiny one that evicts constantly, and none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Sublist, subjectMatches, type SublistEntry, type SublistResult } from '../src/subjects/index.js';

class Sub implements SublistEntry {
  constructor(
    readonly id: number,
    readonly subject: string,
    readonly queue: string | undefined,
  ) {}
}

/** The reference rule, written as plainly as possible: split and compare token by token. */
function bruteMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  if (s.some((t) => t.length === 0)) return false;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

function canonical(r: SublistResult<Sub>): { psubs: number[]; qsubs: Record<string, number[]> } {
  const qsubs: Record<string, number[]> = {};
  for (const group of r.qsubs) {
    assert.ok(group.length > 0, 'queue groups are never empty');
    const name = group[0]!.queue!;
    assert.equal(qsubs[name], undefined, `queue ${name} appears once`);
    assert.ok(group.every((s) => s.queue === name));
    qsubs[name] = group.map((s) => s.id).sort((a, b) => a - b);
  }
  return { psubs: r.psubs.map((s) => s.id).sort((a, b) => a - b), qsubs };
}

function expected(subs: Iterable<Sub>, subject: string): ReturnType<typeof canonical> {
  const psubs: number[] = [];
  const qsubs: Record<string, number[]> = {};
  for (const s of subs) {
    if (!bruteMatches(s.subject, subject)) continue;
    if (s.queue === undefined) psubs.push(s.id);
    else (qsubs[s.queue] ??= []).push(s.id);
  }
  psubs.sort((a, b) => a - b);
  for (const k of Object.keys(qsubs)) qsubs[k]!.sort((a, b) => a - b);
  return { psubs, qsubs };
}

function freeze(r: SublistResult<Sub>): void {
  Object.freeze(r.psubs);
  for (const q of r.qsubs) Object.freeze(q);
  Object.freeze(r.qsubs);
}

const literalToken = fc.constantFrom('a', 'b', 'c', 'fo*o', 'x>');
const patternToken = fc.oneof({ weight: 5, arbitrary: literalToken }, { weight: 2, arbitrary: fc.constant('*') });
const patternArb = fc
  .tuple(fc.array(patternToken, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([toks, fwc]) => (fwc ? [...toks.slice(0, 3), '>'] : toks).join('.'));
// Published subjects: mostly literal, sometimes with a literal `*`/`>` token or an empty token.
const publishArb = fc.oneof(
  { weight: 8, arbitrary: fc.array(literalToken, { minLength: 1, maxLength: 5 }).map((t) => t.join('.')) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constantFrom('a', 'b', '*', '>', ''), { minLength: 1, maxLength: 4 })
      .map((t) => t.join('.')),
  },
);
const queueArb = fc.option(fc.constantFrom('q1', 'q2', 'q3'), { nil: undefined, freq: 2 });

type Op =
  | { kind: 'insert'; subject: string; queue: string | undefined }
  | { kind: 'reinsert'; pick: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'removeStale'; pick: number }
  | { kind: 'match'; subject: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('insert' as const), subject: patternArb, queue: queueArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reinsert' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeStale' as const), pick: fc.nat() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('match' as const), subject: publishArb }) },
);

function run(ops: Op[], cacheMax: number | undefined): void {
  const sl = new Sublist<Sub>(cacheMax === undefined ? {} : { cacheMax });
  const live = new Set<Sub>();
  const removed: Sub[] = [];
  let nextId = 0;
  const check = (subject: string): void => {
    const r = sl.match(subject);
    freeze(r); // later operations must never mutate a result already handed out
    assert.deepEqual(canonical(r), expected(live, subject), `match ${JSON.stringify(subject)}`);
    const want = [...live].some((s) => bruteMatches(s.subject, subject));
    assert.equal(sl.hasInterest(subject), want, `hasInterest ${JSON.stringify(subject)}`);
  };
  for (const op of ops) {
    switch (op.kind) {
      case 'insert': {
        const s = new Sub(nextId++, op.subject, op.queue);
        sl.insert(s);
        live.add(s);
        break;
      }
      case 'reinsert': {
        if (live.size === 0) break;
        sl.insert([...live][op.pick % live.size]!);
        break;
      }
      case 'remove': {
        if (live.size === 0) break;
        const s = [...live][op.pick % live.size]!;
        assert.equal(sl.remove(s), true);
        live.delete(s);
        removed.push(s);
        break;
      }
      case 'removeStale': {
        if (removed.length === 0) break;
        assert.equal(sl.remove(removed[op.pick % removed.length]!), false);
        break;
      }
      case 'match':
        check(op.subject);
        break;
    }
    assert.equal(sl.count, live.size);
    assert.ok(sl.stats().num_cache <= (cacheMax ?? 1024), 'the cache stays bounded');
  }
  // Finally every subject the run touched, then tear down and expect an empty trie.
  for (const op of ops) if (op.kind === 'match') check(op.subject);
  for (const s of live) assert.equal(sl.remove(s), true);
  assert.equal(sl.count, 0);
  assert.equal(sl.nodeCount, 0);
}

for (const [label, cacheMax] of [
  ['default cache', undefined],
  ['a 3-entry cache', 3],
  ['no cache', 0],
] as const) {
  test(`match equals a brute-force matcher under interleaved inserts and removes (${label})`, () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => run(ops, cacheMax)),
      { numRuns: 300 },
    );
  });
}

test('subjectMatches equals the brute-force matcher', () => {
  fc.assert(
    fc.property(patternArb, publishArb, (pattern, subject) => {
      assert.equal(subjectMatches(pattern, subject), bruteMatches(pattern, subject));
    }),
    { numRuns: 5000 },
  );
});
