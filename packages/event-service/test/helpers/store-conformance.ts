// The EventStore conformance suite (after aedes-persistence abstract.js): every implementation runs the same
// behaviours. `open` gives a fresh store; `reopen`, when the implementation is durable, opens the same one again.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { EventStore, NewEvent } from '../../src/handlers/event-store.js';
import { assertMiddleRefused } from './append-checks.js';

export interface StoreFactory {
  /** A new, empty store; closed by the suite. */
  open(t: TestContext): EventStore;
  /** Reopens the store `open` last made (after the suite closed it), for durable implementations. */
  reopen?(t: TestContext): EventStore;
}

const ev = (id: string, sinks: string[] = ['feed', 'event_feed'], type = 'scanJobCreated'): NewEvent => ({
  id,
  type,
  body: JSON.stringify({ specversion: '1.0', id, source: 's', type }),
  sinks,
});

export function storeConformance(name: string, factory: StoreFactory): void {
  describe(`EventStore conformance: ${name}`, () => {
    const open = (t: TestContext): EventStore => {
      const s = factory.open(t);
      t.after(() => s.close());
      return s;
    };

    it('appends events in order with increasing sequences and reads them back by id', (t) => {
      const s = open(t);
      const res = s.append([ev('a'), ev('b'), ev('c')]);
      assert.deepEqual(
        res.map((r) => [r.id, r.duplicate]),
        [
          ['a', false],
          ['b', false],
          ['c', false],
        ],
      );
      assert.ok(res[0]!.seq < res[1]!.seq && res[1]!.seq < res[2]!.seq);
      const got = s.get('b');
      assert.equal(got?.type, 'scanJobCreated');
      assert.equal(JSON.parse(got!.body).id, 'b');
      assert.equal(s.get('nope'), undefined);
      assert.equal(s.count(), 3);
    });

    it('is idempotent by event id: a duplicate writes nothing and returns the first sequence', (t) => {
      const s = open(t);
      const [first] = s.append([ev('dup')]);
      const [again, other] = s.append([ev('dup', ['cfgingest']), ev('x')]);
      assert.deepEqual(again, { id: 'dup', seq: first!.seq, duplicate: true });
      assert.equal(other!.duplicate, false);
      assert.equal(s.count(), 2);
      assert.equal(s.due('cfgingest', Date.now(), 10).length, 0, 'the duplicate added no delivery');
      assert.equal(s.held, 2);
    });

    it('keeps one delivery record per sink, due oldest first', (t) => {
      const s = open(t);
      s.append([ev('1', ['feed']), ev('2', ['feed', 'cfgingest']), ev('3', ['cfgingest'])]);
      assert.deepEqual(
        s.due('feed', Date.now(), 10).map((d) => d.id),
        ['1', '2'],
      );
      assert.deepEqual(
        s.due('cfgingest', Date.now(), 10).map((d) => d.id),
        ['2', '3'],
      );
      assert.deepEqual(
        s.due('feed', Date.now(), 1).map((d) => d.id),
        ['1'],
        'limit respected',
      );
      const d = s.due('feed', Date.now(), 1)[0]!;
      assert.equal(d.state, 'pending');
      assert.equal(d.attempts, 0);
    });

    it('counts an event as held until every sink that wants it has it', (t) => {
      const s = open(t);
      const [a, b] = s.append([ev('a', ['feed', 'cfgingest']), ev('b', ['feed']), ev('none', [])]);
      assert.equal(s.held, 2, 'an event no sink wants is stored but not held');
      assert.equal(s.delivered('feed', [a!.seq, b!.seq]), 2);
      assert.equal(s.held, 1);
      assert.equal(s.delivered('feed', [a!.seq]), 0, 'delivering twice changes nothing');
      assert.equal(s.held, 1);
      s.delivered('cfgingest', [a!.seq]);
      assert.equal(s.held, 0);
    });

    it('a failed attempt counts and is not due before its retry time', (t) => {
      const s = open(t);
      const [a] = s.append([ev('a', ['feed'])]);
      const now = Date.now();
      s.failed('feed', a!.seq, { nextAttemptAt: now + 60_000, error: 'HTTP 500' });
      assert.equal(s.due('feed', now, 10).length, 0);
      assert.equal(s.nextDue('feed'), now + 60_000);
      const [d] = s.due('feed', now + 60_000, 10);
      assert.equal(d?.attempts, 1);
      assert.equal(d?.lastError, 'HTTP 500');
      assert.equal(s.held, 1, 'a retrying event is still held');
    });

    it('dead letters leave the held count, are listed per sink, and replay makes them due again', (t) => {
      const s = open(t);
      const [a, b] = s.append([ev('a', ['feed', 'cfgingest']), ev('b', ['feed'])]);
      s.failed('feed', a!.seq, { nextAttemptAt: 0, error: 'HTTP 500' });
      s.dead('feed', a!.seq, 'HTTP 500 after 2 attempts');
      s.dead('feed', b!.seq, 'HTTP 410');
      s.dead('cfgingest', a!.seq, 'timeout');
      assert.equal(s.held, 0);
      assert.deepEqual(
        s.deadLetters().map((d) => `${d.sink}:${d.id}`),
        ['cfgingest:a', 'feed:a', 'feed:b'],
      );
      assert.deepEqual(s.sinkCounts('feed'), { pending: 0, dead: 2 });
      assert.deepEqual(s.sinkCounts('nobody'), { pending: 0, dead: 0 });
      const feedDead = s.deadLetters({ sink: 'feed' });
      assert.deepEqual(
        feedDead.map((d) => [d.id, d.attempts, d.lastError]),
        [
          ['a', 2, 'HTTP 500 after 2 attempts'],
          ['b', 1, 'HTTP 410'],
        ],
      );
      assert.deepEqual(
        s.deadLetters({ sink: 'feed', after: a!.seq }).map((d) => d.id),
        ['b'],
        'paged by sequence',
      );
      assert.equal(s.due('feed', Date.now(), 10).length, 0);
      assert.equal(s.replay('feed', [b!.seq]), 1);
      assert.equal(s.held, 1);
      assert.deepEqual(
        s.due('feed', Date.now(), 10).map((d) => [d.id, d.attempts]),
        [['b', 0]],
      );
      assert.equal(s.replay('feed'), 1, 'the rest of the sink');
      assert.equal(s.replay('feed'), 0);
      assert.equal(s.held, 2);
      assert.deepEqual(s.sinkCounts('feed'), { pending: 2, dead: 0 });
      assert.deepEqual(s.sinkCounts('cfgingest'), { pending: 0, dead: 1 });
      assert.deepEqual(
        s.deadLetters().map((d) => `${d.sink}:${d.id}`),
        ['cfgingest:a'],
      );
    });

    it('a member the store cannot take fails alone: the rest of its batch is stored once, in order, without gaps', (t) => {
      const s = open(t);
      const bad = { id: 'bad', type: 'x', body: null as unknown as string, sinks: ['feed'] };
      const res = s.append([ev('ok1'), bad, ev('ok2')]);
      assertMiddleRefused(res, 'bad');
      assert.equal(res[2]!.seq, res[0]!.seq + 1, 'no sequence used by the refused member');
      assert.equal(s.count(), 2);
      assert.equal(s.held, 2, 'only stored events are held');
      assert.equal(s.get('bad'), undefined);
      assert.deepEqual(
        s.due('feed', Date.now(), 10).map((d) => d.id),
        ['ok1', 'ok2'],
        'no delivery for the refused member',
      );
      // The same batch again: the stored ones are duplicates, the bad one still refused alone.
      const again = s.append([ev('ok1'), bad, ev('ok2')]);
      assert.deepEqual(
        again.map((r) => [r.duplicate, r.error === undefined]),
        [
          [true, true],
          [false, false],
          [true, true],
        ],
      );
      assert.equal(s.count(), 2);
    });

    it('the feed reads in sequence order after a cursor, filtered by type, producer, actor and stored time', (t) => {
      const s = open(t);
      assert.equal(s.lastSeq(), 0);
      const body = (id: string, type: string, producer: string, actor?: string) =>
        JSON.stringify({
          specversion: '1.0',
          id,
          source: 's',
          type,
          producer: { id: producer, name: 'n', type: 't' },
          ...(actor && { actor: { id: actor, object_type: 'user' } }),
        });
      const at = Date.now();
      const [a, b, c] = s.append([
        { id: 'a', type: 'scanJobCreated', body: body('a', 'scanJobCreated', 'p1', 'alice'), sinks: [] },
        { id: 'b', type: 'profileDeleted', body: body('b', 'profileDeleted', 'p2', 'bob'), sinks: ['feed'] },
        { id: 'c', type: 'scanJobCreated', body: body('c', 'scanJobCreated', 'p2'), sinks: [] },
      ]);
      assert.equal(s.lastSeq(), c!.seq);
      const ids = (q: Parameters<EventStore['feed']>[0]) => s.feed(q).map((e) => e.id);
      assert.deepEqual(ids({ limit: 10 }), ['a', 'b', 'c']);
      assert.deepEqual(ids({ limit: 10, cursor: a!.seq }), ['b', 'c']);
      assert.deepEqual(ids({ limit: 1, cursor: a!.seq }), ['b']);
      assert.deepEqual(ids({ limit: 10, type: 'scanJobCreated' }), ['a', 'c']);
      assert.deepEqual(ids({ limit: 10, producer: 'p2' }), ['b', 'c']);
      assert.deepEqual(ids({ limit: 10, actor: 'bob' }), ['b']);
      assert.deepEqual(ids({ limit: 10, producer: 'p2', type: 'scanJobCreated', cursor: b!.seq }), ['c']);
      assert.deepEqual(ids({ limit: 10, since: at - 60_000, until: Date.now() + 1 }), ['a', 'b', 'c']);
      assert.deepEqual(ids({ limit: 10, until: at - 60_000 }), []);
      assert.ok(s.feed({ limit: 1 })[0]!.storedAt >= at);
      assert.equal(s.get('b')!.seq, b!.seq);
    });

    it('filters the feed by who published it: authid and authtype, alone or with the other filters', (t) => {
      const s = open(t);
      const body = (id: string, auth: Record<string, string>) =>
        JSON.stringify({ specversion: '1.0', id, source: 's', type: 'scanJobCreated', ...auth });
      const [a] = s.append([
        { id: 'a', type: 'scanJobCreated', body: body('a', { authtype: 'app_user', authid: 'alice' }), sinks: [] },
        { id: 'b', type: 'scanJobCreated', body: body('b', { authtype: 'app_user', authid: 'bob' }), sinks: [] },
        { id: 'c', type: 'profileDeleted', body: body('c', { authtype: 'app_user', authid: 'alice' }), sinks: [] },
        { id: 'd', type: 'scanJobCreated', body: body('d', { authtype: 'system', authid: 'in-process' }), sinks: [] },
        { id: 'e', type: 'scanJobCreated', body: body('e', { authtype: 'api_key' }), sinks: [] },
      ]);
      const ids = (q: Parameters<EventStore['feed']>[0]) => s.feed(q).map((e) => e.id);
      assert.deepEqual(ids({ limit: 10, authid: 'alice' }), ['a', 'c']);
      assert.deepEqual(ids({ limit: 10, authid: 'alice', type: 'profileDeleted' }), ['c']);
      assert.deepEqual(ids({ limit: 10, authid: 'alice', cursor: a!.seq }), ['c']);
      assert.deepEqual(ids({ limit: 10, authtype: 'app_user' }), ['a', 'b', 'c']);
      assert.deepEqual(ids({ limit: 10, authtype: 'api_key' }), ['e']);
      assert.deepEqual(ids({ limit: 10, authtype: 'app_user', authid: 'in-process' }), []);
      assert.deepEqual(ids({ limit: 10, authid: 'nobody' }), []);
    });

    it('prune drops events beyond the newest maxEvents or older than the cut, never a held or dead-lettered one', (t) => {
      const s = open(t);
      s.append(['e0', 'e1', 'e2', 'e3', 'e4', 'e5'].map((id, i) => ev(id, i < 2 ? ['feed'] : [])));
      s.dead('feed', s.get('e1')!.seq, 'HTTP 500');
      const left = () => s.feed({ limit: 100 }).map((e) => e.id);
      assert.equal(s.prune({ maxEvents: 3, olderThan: 0 }), 1, 'e2: e0 is held, e1 dead-lettered');
      assert.deepEqual(left(), ['e0', 'e1', 'e3', 'e4', 'e5']);
      assert.equal(s.prune({ maxEvents: 100, olderThan: Date.now() + 1 }), 3);
      assert.deepEqual(left(), ['e0', 'e1']);
      assert.equal(s.held, 1);
      assert.equal(s.replay('feed'), 1);
      s.delivered(
        'feed',
        s.due('feed', Date.now(), 10).map((d) => d.seq),
      );
      assert.equal(s.prune({ maxEvents: 100, olderThan: Date.now() + 1 }), 2, 'once delivered they go too');
      assert.equal(s.count(), 0);
      assert.equal(s.held, 0);
      assert.equal(s.lastSeq(), 0);
    });

    if (factory.reopen !== undefined) {
      const reopen = factory.reopen;
      it('after reopening: events, pending deliveries, attempts and the held count are as they were', (t) => {
        const s = factory.open(t);
        const [a, b] = s.append([ev('a', ['feed', 'cfgingest']), ev('b', ['feed'])]);
        s.delivered('feed', [a!.seq]);
        s.failed('feed', b!.seq, { nextAttemptAt: 5, error: 'HTTP 503' });
        s.close();
        const again = reopen(t);
        t.after(() => again.close());
        assert.equal(again.count(), 2);
        assert.equal(again.held, 2);
        assert.deepEqual(
          again.due('feed', 10, 10).map((d) => [d.id, d.attempts]),
          [['b', 1]],
        );
        assert.deepEqual(
          again.due('cfgingest', 10, 10).map((d) => d.id),
          ['a'],
        );
        assert.equal(again.append([ev('a')])[0]!.duplicate, true);
      });
    }
  });
}
