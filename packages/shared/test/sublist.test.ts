// The subscription index: matching, queue grouping, duplicate and missing subscriptions, cache invalidation,
// pruning and the /subsz figures. Every result is frozen on return, so a Sublist that mutated a shared cached
// array after handing it out would throw here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sublist, type SublistEntry, type SublistResult } from '../src/subjects/index.js';

class Sub implements SublistEntry {
  constructor(
    readonly subject: string,
    readonly queue: string | undefined = undefined,
    readonly name = subject + (queue === undefined ? '' : ` ${queue}`),
  ) {}
}

function frozen<S>(r: SublistResult<S>): SublistResult<S> {
  Object.freeze(r.psubs);
  for (const q of r.qsubs) Object.freeze(q);
  Object.freeze(r.qsubs);
  return Object.freeze(r);
}

function match(sl: Sublist<Sub>, subject: string): SublistResult<Sub> {
  return frozen(sl.match(subject));
}

function names(subs: readonly Sub[]): string[] {
  return subs.map((s) => s.name).sort();
}

function plain(sl: Sublist<Sub>, subject: string): string[] {
  return names(match(sl, subject).psubs);
}

test('literal subscriptions match only their own subject', () => {
  const sl = new Sublist<Sub>();
  sl.insert(new Sub('foo'));
  sl.insert(new Sub('foo.bar'));
  assert.deepEqual(plain(sl, 'foo'), ['foo']);
  assert.deepEqual(plain(sl, 'foo.bar'), ['foo.bar']);
  assert.deepEqual(plain(sl, 'foo.baz'), []);
  assert.deepEqual(plain(sl, 'bar'), []);
});

test('* matches exactly one token at its position', () => {
  const sl = new Sublist<Sub>();
  for (const s of ['*', 'foo.*', '*.bar', 'foo.*.baz', '*.*']) sl.insert(new Sub(s));
  assert.deepEqual(plain(sl, 'foo'), ['*']);
  assert.deepEqual(plain(sl, 'foo.bar'), ['*.*', '*.bar', 'foo.*']);
  assert.deepEqual(plain(sl, 'x.bar'), ['*.*', '*.bar']);
  assert.deepEqual(plain(sl, 'foo.x.baz'), ['foo.*.baz']);
  assert.deepEqual(plain(sl, 'foo.x.y'), []);
});

test('> needs at least one token and takes all that remain', () => {
  const sl = new Sublist<Sub>();
  for (const s of ['>', 'foo.>', 'foo.*.>', 'foo.bar.>']) sl.insert(new Sub(s));
  assert.deepEqual(plain(sl, 'foo'), ['>']);
  assert.deepEqual(plain(sl, 'foo.bar'), ['>', 'foo.>']);
  assert.deepEqual(plain(sl, 'foo.bar.baz'), ['>', 'foo.*.>', 'foo.>', 'foo.bar.>']);
  assert.deepEqual(plain(sl, 'foo.x.y.z'), ['>', 'foo.*.>', 'foo.>']);
  assert.deepEqual(plain(sl, 'bar.baz'), ['>']);
});

test('tokens containing wildcard characters are literals', () => {
  const sl = new Sublist<Sub>();
  sl.insert(new Sub('fo*o'));
  sl.insert(new Sub('a>b.>'));
  assert.deepEqual(plain(sl, 'fo*o'), ['fo*o']);
  assert.deepEqual(plain(sl, 'foxo'), []);
  assert.deepEqual(plain(sl, 'a>b.c'), ['a>b.>']);
  assert.deepEqual(plain(sl, 'a.b.c'), []);
});

test('a published wildcard token is reached only by wildcard subscriptions', () => {
  const sl = new Sublist<Sub>();
  for (const s of ['foo.bar', 'foo.*', 'foo.>']) sl.insert(new Sub(s));
  assert.deepEqual(plain(sl, 'foo.*'), ['foo.*', 'foo.>']);
  assert.deepEqual(plain(sl, 'foo.>'), ['foo.*', 'foo.>']);
});

test('subjects with empty tokens match nothing and are not cached', () => {
  const sl = new Sublist<Sub>();
  sl.insert(new Sub('>'));
  for (const s of ['', '.', 'foo..bar', '.foo', 'foo.']) {
    assert.deepEqual(plain(sl, s), [], JSON.stringify(s));
    assert.equal(sl.hasInterest(s), false);
  }
  assert.equal(sl.stats().num_cache, 0);
});

test('many subscriptions on one subject are all returned, and removed one by one', () => {
  const sl = new Sublist<Sub>();
  const subs = Array.from({ length: 1000 }, () => new Sub('foo.bar'));
  for (const s of subs) sl.insert(s);
  assert.equal(sl.count, 1000);
  assert.equal(match(sl, 'foo.bar').psubs.length, 1000);
  for (let i = 0; i < 1000; i += 2) assert.equal(sl.remove(subs[i]!), true);
  const left = match(sl, 'foo.bar').psubs;
  assert.equal(left.length, 500);
  assert.deepEqual(new Set(left), new Set(subs.filter((_, i) => i % 2 === 1)));
});

test('queue subscriptions are grouped by name across every matching pattern', () => {
  const sl = new Sublist<Sub>();
  const a1 = new Sub('foo.bar', 'a');
  const a2 = new Sub('foo.*', 'a');
  const a3 = new Sub('>', 'a');
  const b1 = new Sub('foo.bar', 'b');
  const b2 = new Sub('foo.bar', 'b', 'foo.bar b #2');
  const p = new Sub('foo.bar');
  for (const s of [a1, a2, a3, b1, b2, p]) sl.insert(s);
  const r = match(sl, 'foo.bar');
  assert.deepEqual(names(r.psubs), ['foo.bar']);
  assert.equal(r.qsubs.length, 2);
  const groups = new Map(r.qsubs.map((g) => [g[0]!.queue, new Set(g)]));
  assert.deepEqual(groups.get('a'), new Set([a1, a2, a3]));
  assert.deepEqual(groups.get('b'), new Set([b1, b2]));
  for (const g of r.qsubs) assert.ok(g.every((s) => s.queue === g[0]!.queue));

  // Same queue name under another subject only; removing the last member of a group drops the group.
  sl.remove(b1);
  sl.remove(b2);
  const r2 = match(sl, 'foo.bar');
  assert.equal(r2.qsubs.length, 1);
  assert.equal(r2.qsubs[0]![0]!.queue, 'a');
  const r3 = match(sl, 'x');
  assert.deepEqual(
    r3.qsubs.map((g) => g.length),
    [1],
  );
});

test('an empty queue name is a plain subscription', () => {
  const sl = new Sublist<Sub>();
  sl.insert(new Sub('foo', ''));
  const r = match(sl, 'foo');
  assert.equal(r.psubs.length, 1);
  assert.equal(r.qsubs.length, 0);
});

test('inserting the same subscription twice is ignored; removing one not present returns false', () => {
  const sl = new Sublist<Sub>();
  const s = new Sub('foo.*');
  const q = new Sub('foo.*', 'g');
  sl.insert(s);
  sl.insert(s);
  sl.insert(q);
  sl.insert(q);
  assert.equal(sl.count, 2);
  assert.equal(sl.stats().num_inserts, 2);
  const r = match(sl, 'foo.x');
  assert.equal(r.psubs.length, 1);
  assert.deepEqual(
    r.qsubs.map((g) => g.length),
    [1],
  );

  assert.equal(sl.remove(new Sub('foo.*')), false); // equal-looking but a different object
  assert.equal(sl.remove(new Sub('foo.*', 'g')), false);
  assert.equal(sl.remove(new Sub('foo.*', 'other')), false);
  assert.equal(sl.remove(new Sub('nope.*')), false);
  assert.equal(sl.remove(new Sub('foo..bar')), false);
  assert.equal(sl.remove(s), true);
  assert.equal(sl.remove(s), false);
  assert.equal(sl.remove(q), true);
  assert.equal(sl.count, 0);
  assert.equal(sl.stats().num_removes, 2);
});

test('insert of an invalid subject throws and leaves the index untouched', () => {
  const sl = new Sublist<Sub>();
  for (const s of ['', 'foo..bar', '.foo', 'foo.', 'foo.>.bar', '>.>']) {
    assert.throws(() => sl.insert(new Sub(s)), TypeError, JSON.stringify(s));
  }
  assert.equal(sl.count, 0);
  assert.equal(sl.nodeCount, 0);
});

test('a cached miss becomes a hit after a matching literal insert, and a miss again after its removal', () => {
  const sl = new Sublist<Sub>();
  const other = new Sub('foo.baz');
  sl.insert(other);
  assert.equal(match(sl, 'foo.bar').psubs.length, 0);
  assert.equal(match(sl, 'foo.baz').psubs.length, 1);
  assert.equal(sl.stats().num_cache, 2);

  const s = new Sub('foo.bar');
  sl.insert(s);
  // Only the entry for its own subject was dropped.
  assert.equal(sl.stats().num_cache, 1);
  assert.deepEqual(match(sl, 'foo.bar').psubs, [s]);
  assert.equal(sl.remove(s), true);
  assert.equal(sl.stats().num_cache, 1);
  assert.deepEqual(match(sl, 'foo.bar').psubs, []);
  assert.deepEqual(match(sl, 'foo.baz').psubs, [other]);
});

test('a wildcard insert or removal drops exactly the cached subjects it matches', () => {
  const sl = new Sublist<Sub>();
  for (const subj of ['foo.a', 'foo.b', 'bar.a', 'foo.a.b', 'foo']) match(sl, subj);
  assert.equal(sl.stats().num_cache, 5);

  const w = new Sub('foo.*');
  sl.insert(w);
  assert.equal(sl.stats().num_cache, 3); // foo.a and foo.b dropped
  assert.deepEqual(match(sl, 'foo.a').psubs, [w]);
  assert.deepEqual(match(sl, 'foo.b').psubs, [w]);
  assert.deepEqual(match(sl, 'foo.a.b').psubs, []);
  assert.deepEqual(match(sl, 'foo').psubs, []);

  const f = new Sub('foo.>', 'q');
  sl.insert(f);
  assert.equal(sl.stats().num_cache, 2); // foo.a, foo.b, foo.a.b dropped
  assert.deepEqual(match(sl, 'foo.a.b').qsubs, [[f]]);

  sl.remove(w);
  assert.deepEqual(match(sl, 'foo.a').psubs, []);
  assert.deepEqual(match(sl, 'foo.a').qsubs, [[f]]);
  sl.remove(f);
  assert.deepEqual(match(sl, 'foo.a').qsubs, []);
  assert.deepEqual(match(sl, 'foo.a.b').qsubs, []);
  assert.equal(sl.hasInterest('foo.a'), false);
});

test('results handed out earlier stay unchanged after later inserts and removals', () => {
  const sl = new Sublist<Sub>();
  const a = new Sub('foo');
  sl.insert(a);
  const before = match(sl, 'foo');
  sl.insert(new Sub('foo'));
  sl.insert(new Sub('>', 'q'));
  sl.remove(a);
  assert.deepEqual(before.psubs, [a]);
  assert.equal(before.qsubs.length, 0);
  const after = match(sl, 'foo');
  assert.equal(after.psubs.length, 1);
  assert.notEqual(after.psubs[0], a);
});

test('the cache is bounded and keeps answering correctly after evictions', () => {
  const sl = new Sublist<Sub>({ cacheMax: 4 });
  const w = new Sub('s.*');
  sl.insert(w);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 10; i++) assert.deepEqual(match(sl, `s.${i}`).psubs, [w]);
  }
  assert.equal(sl.stats().num_cache, 4);
  const st = sl.stats();
  assert.equal(st.num_matches, 30);
  assert.equal(st.cache_hit_rate, 0); // a cyclic working set larger than the cache never hits with FIFO eviction
});

test('the default cache holds at most 1024 results', () => {
  const sl = new Sublist<Sub>();
  sl.insert(new Sub('>'));
  for (let i = 0; i < 5000; i++) sl.match(`k.${i}`);
  assert.equal(sl.stats().num_cache, 1024);
});

test('cacheMax 0 disables the cache', () => {
  const sl = new Sublist<Sub>({ cacheMax: 0 });
  const s = new Sub('foo');
  sl.insert(s);
  assert.deepEqual(match(sl, 'foo').psubs, [s]);
  assert.deepEqual(match(sl, 'foo').psubs, [s]);
  const st = sl.stats();
  assert.equal(st.num_cache, 0);
  assert.equal(st.cache_hit_rate, 0);
  assert.equal(st.num_matches, 2);
});

test('repeated matches of one subject return the same cached result object', () => {
  const sl = new Sublist<Sub>();
  sl.insert(new Sub('foo'));
  const r1 = sl.match('foo');
  const r2 = sl.match('foo');
  assert.equal(r1, r2);
  assert.equal(sl.match('nothing'), sl.match('nothing.else')); // the shared empty result
});

test('removing every subscription prunes the trie back to nothing', () => {
  const sl = new Sublist<Sub>();
  const subjects = ['a', 'a.b', 'a.b.c', 'a.*.c', 'a.>', '*', '>', '*.*.>', 'x.y.z.w', 'a.b.c.d.e.f'];
  const subs: Sub[] = [];
  for (let round = 0; round < 3; round++) {
    for (const s of subjects) subs.push(new Sub(s), new Sub(s, 'q'), new Sub(s, `q${round}`));
  }
  for (const s of subs) sl.insert(s);
  assert.ok(sl.nodeCount > 0);
  for (let i = subs.length - 1; i >= 0; i -= 2) sl.remove(subs[i]!);
  for (let i = subs.length - 2; i >= 0; i -= 2) sl.remove(subs[i]!);
  assert.equal(sl.count, 0);
  assert.equal(sl.nodeCount, 0);
  assert.equal(sl.hasInterest('a.b.c'), false);
});

test('churn on unique subjects does not grow the trie', () => {
  const sl = new Sublist<Sub>();
  const keep = new Sub('keep.>');
  sl.insert(keep);
  const base = sl.nodeCount;
  for (let i = 0; i < 10_000; i++) {
    const s = new Sub(`_INBOX.${i}.*`);
    sl.insert(s);
    sl.match(`_INBOX.${i}.x`);
    sl.remove(s);
  }
  assert.equal(sl.nodeCount, base);
  assert.equal(sl.count, 1);
});

test('hasInterest agrees with match without filling the cache or counting matches', () => {
  const sl = new Sublist<Sub>();
  sl.insert(new Sub('foo.*.baz', 'q'));
  sl.insert(new Sub('bar.>'));
  const table: [string, boolean][] = [
    ['foo.x.baz', true],
    ['foo.x', false],
    ['bar', false],
    ['bar.x', true],
    ['bar.x.y', true],
    ['baz', false],
  ];
  for (const [s, want] of table) assert.equal(sl.hasInterest(s), want, s);
  assert.equal(sl.stats().num_matches, 0);
  assert.equal(sl.stats().num_cache, 0);
  for (const [s, want] of table) {
    sl.match(s);
    assert.equal(sl.hasInterest(s), want, `${s} (cached)`);
  }
});

test('stats report /subsz figures', () => {
  const sl = new Sublist<Sub>();
  sl.insert(new Sub('foo'));
  sl.insert(new Sub('foo.*'));
  sl.insert(new Sub('foo.*', 'q'));
  sl.insert(new Sub('foo.*', 'r'));
  const gone = new Sub('bar');
  sl.insert(gone);
  sl.remove(gone);
  sl.match('foo'); // fanout 1
  sl.match('foo.x'); // fanout 1 psub + 2 groups = 3
  sl.match('foo.x'); // hit
  sl.match('zzz'); // fanout 0
  assert.deepEqual(sl.stats(), {
    num_subscriptions: 4,
    num_cache: 3,
    num_inserts: 5,
    num_removes: 1,
    num_matches: 4,
    cache_hit_rate: 0.25,
    max_fanout: 3,
    avg_fanout: 4 / 3,
  });
  assert.deepEqual(new Sublist<Sub>().stats(), {
    num_subscriptions: 0,
    num_cache: 0,
    num_inserts: 0,
    num_removes: 0,
    num_matches: 0,
    cache_hit_rate: 0,
    max_fanout: 0,
    avg_fanout: 0,
  });
});
