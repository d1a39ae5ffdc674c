// The EventBackend conformance suite (handlers/event-backend.ts): every sentence of the contract, run against each
// backend (test/sqlite-backend.test.ts: the SQLite file and `:memory:`; the JetStream backend on a real nats-server).
// `open` gives a fresh, empty backend per test; a JetStream factory makes a stream of its own each time (a name per
// test) and its sinks' consumers from `sinks`, before any event is routed to them.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Delivery, EventBackend, NewEvent, SinkQueue } from '../../src/handlers/event-backend.js';
import { feedPage } from '../../src/handlers/event-feed.js';
import { assertMiddleRefused } from './append-checks.js';
import { feedConformance } from './feed-conformance.js';

export interface BackendFactory {
  /**
   * A new, empty backend whose sinks are `sinks` (declared before any event is routed to them: a JetStream backend
   * makes their durable consumers). The suite closes it (and every queue it opened) in t.after.
   */
  open(t: TestContext, opts: { sinks: readonly string[] }): Promise<EventBackend>;
  /**
   * An event this backend refuses alone while storing the rest of its group (SQLite: a body it cannot store; JetStream:
   * one over the stream's largest message). Without it that test is skipped.
   */
  unstorable?(id: string): NewEvent;
  /**
   * A retry's delay: longer than the backend's shortest next() wait (so a wait for nothing sees it not due yet),
   * short for the suite. Default 400 ms.
   */
  retryDelayMs?: number;
  /** How long a next() waits for deliveries that must come (default 5000 ms). */
  waitMs?: number;
}

const SINKS = ['feed', 'cfgingest'] as const;

const ev = (id: string, sinks: readonly string[] = SINKS, type = 'scanJobCreated'): NewEvent => ({
  id,
  type,
  body: JSON.stringify({ specversion: '1.0', id, source: 's', type }),
  sinks,
});

const ids = (ds: readonly { id: string }[]): string[] => ds.map((d) => d.id);

export function backendConformance(name: string, factory: BackendFactory): void {
  const retryMs = factory.retryDelayMs ?? 400;
  const waitMs = factory.waitMs ?? 5000;
  /** How long to watch for something that must not come. */
  const quietMs = Math.min(300, retryMs / 2);

  describe(`EventBackend conformance: ${name}`, () => {
    const open = async (t: TestContext): Promise<EventBackend> => {
      const b = await factory.open(t, { sinks: SINKS });
      t.after(() => b.close());
      return b;
    };
    const queue = (t: TestContext, b: EventBackend, sink: string, maxInFlight: number): SinkQueue => {
      const q = b.sinkQueue(sink, { maxInFlight });
      t.after(() => q.close());
      return q;
    };
    /** Exactly `n` deliveries, waiting up to waitMs for them (one next() may bring fewer than are owed). */
    const claim = async (q: SinkQueue, n: number): Promise<Delivery[]> => {
      const got: Delivery[] = [];
      const deadline = Date.now() + waitMs;
      while (got.length < n && Date.now() < deadline)
        got.push(...(await q.next(n - got.length, deadline - Date.now())));
      assert.equal(got.length, n, `claimed ${got.length} of ${n}: ${ids(got).join(',')}`);
      return got;
    };
    const none = async (q: SinkQueue, what: string): Promise<void> => {
      assert.deepEqual(ids(await q.next(10, quietMs)), [], what);
    };

    it('append: one result per event in order, sequences rising; get and lastSeq read them back', async (t) => {
      const b = await open(t);
      assert.equal(await b.lastSeq(), 0, 'empty');
      const res = await b.append([ev('a'), ev('b'), ev('c')]);
      assert.deepEqual(
        res.map((r) => [r.id, r.duplicate, r.error]),
        [
          ['a', false, undefined],
          ['b', false, undefined],
          ['c', false, undefined],
        ],
      );
      assert.ok(res[0]!.seq > 0 && res[0]!.seq < res[1]!.seq && res[1]!.seq < res[2]!.seq);
      const got = await b.get('b');
      assert.equal(got?.seq, res[1]!.seq);
      assert.equal(got?.type, 'scanJobCreated');
      assert.equal(got?.body, ev('b').body);
      assert.ok(Math.abs(got!.storedAt - Date.now()) < 60_000, 'storedAt is epoch ms');
      assert.equal(await b.get('nope'), undefined);
      assert.equal(await b.lastSeq(), res[2]!.seq);
    });

    it('a duplicate (same group, later group, after delivery) writes nothing and returns the first seq', async (t) => {
      const b = await open(t);
      const [first] = await b.append([ev('dup', ['feed'])]);
      const [again, other, twice] = await b.append([ev('dup', ['cfgingest']), ev('x', []), ev('x', ['feed'])]);
      assert.deepEqual(again, { id: 'dup', seq: first!.seq, duplicate: true });
      assert.equal(other!.duplicate, false);
      assert.deepEqual(twice, { id: 'x', seq: other!.seq, duplicate: true }, 'a duplicate within one group');
      assert.deepEqual(await b.sinkCounts('cfgingest'), { pending: 0, dead: 0 }, 'the duplicate routed nothing');
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 1, dead: 0 });
      const q = queue(t, b, 'feed', 10);
      const [d] = await claim(q, 1);
      await q.ack(d!);
      const [late] = await b.append([ev('dup', ['feed'])]);
      assert.deepEqual(late, { id: 'dup', seq: first!.seq, duplicate: true }, 'after its delivery too');
      await none(q, 'the late duplicate is owed to no sink');
      assert.equal(await b.lastSeq(), other!.seq);
    });

    it('an event the backend refuses fails alone: the rest of its group is stored, in order', async (t) => {
      if (factory.unstorable === undefined) return t.skip('the factory names no event this backend refuses');
      const b = await open(t);
      const bad = factory.unstorable('bad');
      const res = await b.append([ev('ok1', ['feed']), bad, ev('ok2', ['feed'])]);
      assertMiddleRefused(res, 'bad');
      assert.ok(res[2]!.seq > res[0]!.seq);
      assert.equal(await b.get('bad'), undefined);
      assert.deepEqual(ids((await b.feed({ limit: 10 })).events), ['ok1', 'ok2']);
      assert.equal(await b.refreshHeld(), 2, 'only stored events are held');
      const q = queue(t, b, 'feed', 10);
      assert.deepEqual(ids(await claim(q, 2)), ['ok1', 'ok2'], 'no delivery for the refused one');
      const again = await b.append([ev('ok1', ['feed']), bad]);
      assert.deepEqual(
        again.map((r) => [r.duplicate, r.error === undefined]),
        [
          [true, true],
          [false, false],
        ],
      );
    });

    it('feed: sequence order after a cursor, filtered by type, producer, actor, authid, authtype and time', async (t) => {
      const b = await open(t);
      const body = (id: string, type: string, producer: string, extra: object = {}) =>
        JSON.stringify({ specversion: '1.0', id, source: 's', type, producer: { id: producer }, ...extra });
      const at = Date.now();
      const [a, bb, c] = await b.append([
        {
          id: 'a',
          type: 'scanJobCreated',
          body: body('a', 'scanJobCreated', 'p1', { actor: { id: 'alice' } }),
          sinks: [],
        },
        {
          id: 'b',
          type: 'profileDeleted',
          body: body('b', 'profileDeleted', 'p2', { actor: { id: 'bob' } }),
          sinks: ['feed'],
        },
        {
          id: 'c',
          type: 'scanJobCreated',
          body: body('c', 'scanJobCreated', 'p2', { authid: 'alice', authtype: 'app_user' }),
          sinks: [],
        },
        {
          id: 'd',
          type: 'scanJobCreated',
          body: body('d', 'scanJobCreated', 'p3', { authid: 'in-process', authtype: 'system' }),
          sinks: [],
        },
      ]);
      const feed = async (q: Parameters<EventBackend['feed']>[0]) => ids((await b.feed(q)).events);
      assert.deepEqual(await feed({ limit: 10 }), ['a', 'b', 'c', 'd']);
      assert.deepEqual(await feed({ limit: 10, cursor: a!.seq }), ['b', 'c', 'd']);
      assert.deepEqual(await feed({ limit: 1, cursor: a!.seq }), ['b']);
      assert.deepEqual(await feed({ limit: 10, type: 'scanJobCreated' }), ['a', 'c', 'd']);
      assert.deepEqual(await feed({ limit: 10, producer: 'p2' }), ['b', 'c']);
      assert.deepEqual(await feed({ limit: 10, actor: 'bob' }), ['b']);
      assert.deepEqual(await feed({ limit: 10, producer: 'p2', type: 'scanJobCreated', cursor: bb!.seq }), ['c']);
      assert.deepEqual(await feed({ limit: 10, authid: 'alice' }), ['c']);
      assert.deepEqual(await feed({ limit: 10, authtype: 'system' }), ['d']);
      assert.deepEqual(await feed({ limit: 10, authtype: 'app_user', authid: 'in-process' }), []);
      assert.deepEqual(await feed({ limit: 10, since: at - 60_000, until: Date.now() + 1 }), ['a', 'b', 'c', 'd']);
      assert.deepEqual(await feed({ limit: 10, until: at - 60_000 }), []);
      assert.deepEqual(await feed({ limit: 10, since: Date.now() + 60_000 }), []);
      const [first] = (await b.feed({ limit: 1 })).events;
      assert.deepEqual([first!.seq, first!.id, first!.type], [a!.seq, 'a', 'scanJobCreated']);
      assert.equal(await b.lastSeq(), (await b.get('d'))!.seq);
      assert.ok(c!.seq > bb!.seq);
    });

    it('feed paging never repeats or skips an event, with appends between the pages', async (t) => {
      const b = await open(t);
      const type = (i: number) => (i % 3 === 0 ? 'profileDeleted' : 'scanJobCreated');
      const batch = (from: number, n: number) =>
        Array.from({ length: n }, (_, k) => ev(`p${from + k}`, k % 2 === 0 ? ['feed'] : [], type(from + k)));
      await b.append(batch(0, 10));
      const seen: string[] = [];
      const seenType: string[] = [];
      let cursor: number | undefined;
      let cursorType: number | undefined;
      for (let page = 0, next = 10; page < 20; page++) {
        const { events: rows } = await b.feed({ limit: 3, ...(cursor !== undefined && { cursor }) });
        const { events: typed } = await b.feed({
          limit: 2,
          type: 'scanJobCreated',
          ...(cursorType !== undefined && { cursor: cursorType }),
        });
        seen.push(...ids(rows));
        seenType.push(...ids(typed));
        if (rows.length > 0) cursor = rows.at(-1)!.seq;
        if (typed.length > 0) cursorType = typed.at(-1)!.seq;
        // Appended between pages, in groups of one and of several.
        if (next < 30) {
          await b.append(batch(next, page % 2 === 0 ? 1 : 4));
          next += page % 2 === 0 ? 1 : 4;
        } else if (rows.length === 0 && typed.length === 0) break;
      }
      const all = Array.from({ length: 30 }, (_, i) => `p${i}`);
      assert.deepEqual(seen, all);
      assert.deepEqual(
        seenType,
        all.filter((_, i) => type(i) === 'scanJobCreated'),
      );
    });

    it('a sparse filter over more events than a read scans pages to the end, never skipping or repeating', async (t) => {
      const b = await open(t);
      // Beyond a JetStream read's scan bound (reads.ts SCAN_MAX_MESSAGES, 5000): rare events early, past the bound
      // and last; feedPage (the HTTP and NATS answer) pages with next_cursor until `more` is false.
      const total = 6_500;
      const rare = new Set([3, 5_001, 5_002, 6_400, total - 1]);
      for (let from = 0; from < total; from += 500) {
        await b.append(
          Array.from({ length: Math.min(500, total - from) }, (_, k) =>
            ev(`s${from + k}`, [], rare.has(from + k) ? 'profileDeleted' : 'scanJobCreated'),
          ),
        );
      }
      const seen: string[] = [];
      let cursor: number | undefined;
      let pages = 0;
      for (let more = true; more; pages++) {
        assert.ok(pages < 50, 'pages end');
        const page = await feedPage(b, { type: 'profileDeleted', limit: 2, ...(cursor !== undefined && { cursor }) });
        seen.push(...page.events.map((e) => (e.event as { id: string }).id));
        const next = Number(page.next_cursor);
        assert.ok(cursor === undefined || next >= cursor, 'the cursor never goes back');
        cursor = next;
        more = page.more;
      }
      assert.deepEqual(
        seen,
        [...rare].map((i) => `s${i}`),
      );
      assert.equal(cursor, (await b.get(`s${total - 1}`))!.seq, 'the last page ends at the last match');
      // What each read answers: its events, all matches up to where it stopped.
      const first = await b.feed({ type: 'nosuch', limit: 10 });
      assert.deepEqual(first.events, []);
      assert.ok(first.scannedTo === undefined || first.scannedTo < (await b.lastSeq()), 'stopped short, or at the end');
    });

    it('held rises with appends and falls as deliveries settle (ack, dead); a replay holds again', async (t) => {
      const b = await open(t);
      assert.equal(await b.refreshHeld(), 0);
      await b.append([ev('a', ['feed', 'cfgingest']), ev('b', ['feed']), ev('none', [])]);
      assert.equal(await b.refreshHeld(), 2, 'an event no sink wants is stored, not held');
      assert.equal(b.held, 2);
      const feed = queue(t, b, 'feed', 10);
      for (const d of await claim(feed, 2)) await feed.ack(d);
      assert.equal(await b.refreshHeld(), 1, 'a is still owed to cfgingest');
      const cfg = queue(t, b, 'cfgingest', 10);
      const [d] = await claim(cfg, 1);
      await cfg.retry(d!, 0, 'HTTP 500');
      assert.equal(await b.refreshHeld(), 1, 'a retrying event is still held');
      const [again] = await claim(cfg, 1);
      await cfg.dead(again!, 'HTTP 500 after 2 attempts');
      assert.equal(await b.refreshHeld(), 0, 'a dead letter is not held');
      assert.equal(await b.replay('cfgingest'), 1);
      assert.equal(await b.refreshHeld(), 1, 'replayed: held again');
    });

    it('a claimed delivery is handed to no other claim, of this queue or another, until settled', async (t) => {
      const b = await open(t);
      await b.append([ev('a', ['feed']), ev('b', ['feed']), ev('c', ['feed'])]);
      const q1 = queue(t, b, 'feed', 10);
      const q2 = queue(t, b, 'feed', 10);
      const first = await claim(q1, 2);
      assert.deepEqual(ids(first), ['a', 'b'], 'oldest first');
      assert.deepEqual(ids(await claim(q2, 1)), ['c']);
      await none(q2, 'everything is claimed');
      await none(q1, 'everything is claimed (the same queue)');
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 3, dead: 0 }, 'claimed ones are still owed');
      for (const d of first) assert.equal(d.attempts, 0);
    });

    it('an acked delivery is never delivered again, whoever asks', async (t) => {
      const b = await open(t);
      await b.append([ev('a', ['feed']), ev('b', ['feed'])]);
      const q = queue(t, b, 'feed', 10);
      const [a, bb] = await claim(q, 2);
      await q.ack(a!);
      await q.close();
      const other = queue(t, b, 'feed', 10);
      assert.deepEqual(ids(await claim(other, 1)), ['b'], 'the unacked one comes back, the acked one not');
      await none(other, 'a is not owed any more');
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 1, dead: 0 });
      assert.equal(bb!.id, 'b');
    });

    it('a retry is due after its delay, its attempts counted and its error kept', async (t) => {
      const b = await open(t);
      await b.append([ev('a', ['feed'])]);
      const q = queue(t, b, 'feed', 10);
      const [d] = await claim(q, 1);
      const retriedAt = Date.now();
      await q.retry(d!, retryMs, 'HTTP 500');
      await none(q, 'not due before its delay');
      const [again] = await claim(q, 1);
      assert.ok(Date.now() - retriedAt >= retryMs - 50, `due after ${Date.now() - retriedAt} ms of ${retryMs}`);
      assert.deepEqual([again!.id, again!.seq, again!.attempts], ['a', d!.seq, 1]);
      // The contract's Delivery does not carry the error; a backend that reports it reports this one.
      const lastError = (again as Delivery & { lastError?: string }).lastError;
      if (lastError !== undefined) assert.equal(lastError, 'HTTP 500');
      await q.dead(again!, 'HTTP 500 after 2 attempts');
      const [dl] = await b.deadLetters({ sink: 'feed' });
      assert.deepEqual([dl?.id, dl?.attempts, dl?.lastError], ['a', 2, 'HTTP 500 after 2 attempts']);
    });

    it('dead letters: listed oldest first, per sink, paged; never delivered again', async (t) => {
      const b = await open(t);
      const [a, bb] = await b.append([ev('a', ['feed', 'cfgingest']), ev('b', ['feed']), ev('c', ['feed'])]);
      const feed = queue(t, b, 'feed', 10);
      const cfg = queue(t, b, 'cfgingest', 10);
      const [cfgA] = await claim(cfg, 1);
      await cfg.dead(cfgA!, 'timeout');
      const [fa, fb, fc] = await claim(feed, 3);
      await feed.retry(fa!, 0, 'HTTP 500');
      const [fa2] = await claim(feed, 1);
      await feed.dead(fa2!, 'HTTP 500 after 2 attempts');
      await feed.dead(fb!, 'HTTP 410');
      await feed.ack(fc!);
      assert.deepEqual(
        (await b.deadLetters()).map((d) => `${d.sink}:${d.id}`),
        ['cfgingest:a', 'feed:a', 'feed:b'],
      );
      const feedDead = await b.deadLetters({ sink: 'feed' });
      assert.deepEqual(
        feedDead.map((d) => [d.sink, d.seq, d.id, d.type, d.state, d.attempts, d.lastError]),
        [
          ['feed', a!.seq, 'a', 'scanJobCreated', 'dead', 2, 'HTTP 500 after 2 attempts'],
          ['feed', bb!.seq, 'b', 'scanJobCreated', 'dead', 1, 'HTTP 410'],
        ],
      );
      assert.equal(feedDead[0]!.body, ev('a').body);
      assert.deepEqual(ids(await b.deadLetters({ sink: 'feed', after: a!.seq })), ['b'], 'paged by sequence');
      assert.deepEqual(ids(await b.deadLetters({ sink: 'feed', limit: 1 })), ['a']);
      assert.deepEqual(ids(await b.deadLetters({ sink: 'cfgingest' })), ['a']);
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 0, dead: 2 });
      assert.deepEqual(await b.sinkCounts('cfgingest'), { pending: 0, dead: 1 });
      await none(feed, 'dead letters are not owed');
    });

    it('replay by id, then all: dead letters owed again from attempt 0, and no longer listed', async (t) => {
      const b = await open(t);
      await b.append([ev('a', ['feed', 'cfgingest']), ev('b', ['feed'])]);
      const feed = queue(t, b, 'feed', 10);
      for (const d of await claim(feed, 2)) await feed.dead(d, 'HTTP 410');
      const cfg = queue(t, b, 'cfgingest', 10);
      const [cfgA] = await claim(cfg, 1);
      await cfg.dead(cfgA!, 'timeout');
      assert.equal(await b.replay('feed', ['nope']), 0, 'an unknown id replays nothing');
      assert.equal(await b.replay('feed', ['b']), 1);
      const [rb] = await claim(feed, 1);
      assert.deepEqual([rb!.id, rb!.attempts], ['b', 0]);
      await none(feed, 'only b was replayed');
      assert.deepEqual(ids(await b.deadLetters({ sink: 'feed' })), ['a']);
      assert.equal(await b.replay('feed'), 1, 'the rest of the sink');
      assert.equal(await b.replay('feed'), 0);
      const [ra] = await claim(feed, 1);
      assert.deepEqual([ra!.id, ra!.attempts], ['a', 0]);
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 2, dead: 0 });
      assert.deepEqual(
        (await b.deadLetters()).map((d) => `${d.sink}:${d.id}`),
        ['cfgingest:a'],
        'the other sink keeps its own',
      );
      await feed.ack(ra!);
      await feed.ack(rb!);
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 0, dead: 0 });
      assert.equal(await b.refreshHeld(), 0);
    });

    it('maxInFlight 1 keeps order: nothing more is claimed while one is unsettled, a retry included', async (t) => {
      const b = await open(t);
      await b.append([ev('a', ['feed']), ev('b', ['feed']), ev('c', ['feed'])]);
      const q = queue(t, b, 'feed', 1);
      const other = queue(t, b, 'feed', 1);
      const [a] = await q.next(5, waitMs);
      assert.equal(a?.id, 'a');
      await none(q, 'one claim at a time');
      await none(other, 'one claim at a time, across queues');
      await q.retry(a!, retryMs, 'HTTP 503');
      await none(other, 'b waits behind the retrying a');
      const [again] = await claim(other, 1);
      assert.deepEqual([again!.id, again!.attempts], ['a', 1]);
      await other.ack(again!);
      const [bb] = await claim(q, 1);
      assert.equal(bb!.id, 'b');
      await q.ack(bb!);
      const [c] = await claim(other, 1);
      assert.equal(c!.id, 'c');
    });

    it('close releases unsettled claims to another queue on the same sink', async (t) => {
      const b = await open(t);
      await b.append([ev('a', ['feed']), ev('b', ['feed'])]);
      const q1 = b.sinkQueue('feed', { maxInFlight: 10 });
      assert.deepEqual(ids(await claim(q1, 2)), ['a', 'b']);
      const q2 = queue(t, b, 'feed', 10);
      await q1.close();
      const released = await claim(q2, 2);
      assert.deepEqual(ids(released), ['a', 'b']);
      // SQLite counts a release as no attempt; JetStream as one (its delivery count: the POST may have gone out).
      for (const d of released) assert.ok(d.attempts <= 1, `${d.id}: ${d.attempts} attempts after one release`);
      assert.deepEqual(await q1.next(10, 0), [], 'a closed queue claims nothing');
    });

    it('sinkCounts: owed (claimed included) and dead, per sink', async (t) => {
      const b = await open(t);
      await b.append([ev('a', ['feed']), ev('b', ['feed', 'cfgingest']), ev('c', ['feed'])]);
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 3, dead: 0 });
      assert.deepEqual(await b.sinkCounts('cfgingest'), { pending: 1, dead: 0 });
      const q = queue(t, b, 'feed', 10);
      const [a, bb] = await claim(q, 2);
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 3, dead: 0 });
      await q.ack(a!);
      await q.dead(bb!, 'HTTP 410');
      assert.deepEqual(await b.sinkCounts('feed'), { pending: 1, dead: 1 });
      assert.deepEqual(await b.sinkCounts('cfgingest'), { pending: 1, dead: 0 }, 'the other sink is its own');
    });

    feedConformance(open, waitMs);
  });
}
