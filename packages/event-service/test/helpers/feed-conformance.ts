// The feed's reading orders and type lists (event-backend.ts feed: `order: 'desc'`, `type` as a list), part of the
// EventBackend conformance suite (backend-conformance.ts runs these beside its own cases, against each backend).
import { it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Delivery, EventBackend, NewEvent, SinkQueue } from '../../src/handlers/event-backend.js';
import { feedPage, type FeedPage } from '../../src/handlers/event-feed.js';

const ev = (id: string, type = 'scanJobCreated', sinks: readonly string[] = [], producer = 'p1'): NewEvent => ({
  id,
  type,
  body: JSON.stringify({ specversion: '1.0', id, source: 's', type, producer: { id: producer } }),
  sinks,
});

const ids = (ds: readonly { id: string }[]): string[] => ds.map((d) => d.id);
const pageIds = (p: FeedPage): string[] => p.events.map((e) => (e.event as { id: string }).id);

/** `open` gives a fresh, empty backend whose sinks include `feed`, closed by the caller's t.after. */
export function feedConformance(open: (t: TestContext) => Promise<EventBackend>, waitMs: number): void {
  it('feed desc: newest first before a cursor, filtered like asc, with type lists in both orders', async (t) => {
    const b = await open(t);
    const types = ['scanJobCreated', 'profileDeleted', 'nodeTerminated'];
    const res = await b.append(Array.from({ length: 9 }, (_, i) => ev(`e${i}`, types[i % 3], [], i < 5 ? 'p1' : 'p2')));
    const seq = (i: number) => res[i]!.seq;
    const feed = async (q: Parameters<EventBackend['feed']>[0]) => ids((await b.feed(q)).events);
    assert.deepEqual(await feed({ limit: 100, order: 'desc' }), ['e8', 'e7', 'e6', 'e5', 'e4', 'e3', 'e2', 'e1', 'e0']);
    assert.deepEqual(await feed({ limit: 3, order: 'desc' }), ['e8', 'e7', 'e6'], 'the last n');
    assert.deepEqual(await feed({ limit: 2, order: 'desc', cursor: seq(6) }), ['e5', 'e4'], 'before the cursor');
    assert.deepEqual(await feed({ limit: 10, order: 'desc', cursor: seq(0) }), [], 'nothing before the first');
    assert.deepEqual(await feed({ limit: 10, order: 'desc', cursor: 0 }), []);
    assert.deepEqual(
      await feed({ limit: 2, order: 'desc', cursor: Number.MAX_SAFE_INTEGER }),
      ['e8', 'e7'],
      'a cursor past the end reads from the newest',
    );
    assert.deepEqual(await feed({ limit: 10, order: 'asc' }), await feed({ limit: 10 }), 'asc is the default');
    assert.deepEqual(await feed({ limit: 10, order: 'desc', type: 'profileDeleted' }), ['e7', 'e4', 'e1']);
    assert.deepEqual(await feed({ limit: 10, order: 'desc', producer: 'p1', type: 'scanJobCreated' }), ['e3', 'e0']);
    assert.deepEqual(await feed({ limit: 10, type: ['profileDeleted', 'nodeTerminated'] }), [
      'e1',
      'e2',
      'e4',
      'e5',
      'e7',
      'e8',
    ]);
    assert.deepEqual(await feed({ limit: 3, order: 'desc', type: ['nodeTerminated', 'scanJobCreated'] }), [
      'e8',
      'e6',
      'e5',
    ]);
    assert.deepEqual(await feed({ limit: 10, type: ['nodeTerminated', 'nosuch'], cursor: seq(5) }), ['e8']);
    assert.deepEqual(await feed({ limit: 10, order: 'desc', type: ['nosuch', 'other'] }), []);
    assert.deepEqual(await feed({ limit: 10, order: 'desc', type: ['profileDeleted'], until: 0 }), []);
  });

  it('feed desc pages down to the first event with next_cursor, appends meanwhile never showing up', async (t) => {
    const b = await open(t);
    const empty = await feedPage(b, { limit: 4, order: 'desc' });
    assert.deepEqual(empty, { events: [], next_cursor: '0', more: false }, 'an empty feed');
    await b.append(Array.from({ length: 25 }, (_, i) => ev(`d${i}`)));
    const seen: string[] = [];
    let cursor: number | undefined;
    let more = true;
    for (let pages = 0; more; pages++) {
      assert.ok(pages < 20, 'pages end');
      const page = await feedPage(b, { limit: 4, order: 'desc', ...(cursor !== undefined && { cursor }) });
      seen.push(...pageIds(page));
      const next = Number(page.next_cursor);
      assert.ok(cursor === undefined || next <= cursor, 'the cursor never goes up');
      cursor = next;
      more = page.more;
      // Newer events land above the first page: a reader paging down never sees them.
      await b.append([ev(`new${pages}`)]);
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => `d${24 - i}`),
    );
    const end = await feedPage(b, { limit: 4, order: 'desc', cursor: cursor! });
    assert.deepEqual([end.events, end.more], [[], false], 'below the first event nothing, and no more');
  });

  it('feed desc: a sparse filter over more events than a read scans pages down to the first match', async (t) => {
    const b = await open(t);
    // Beyond a JetStream read's scan bound (reads.ts SCAN_MAX_MESSAGES, 5000), as the asc case in
    // backend-conformance.ts, read the other way.
    const total = 6_500;
    const rare = [3, 5_001, 5_002, 6_400, total - 1];
    for (let from = 0; from < total; from += 500) {
      await b.append(
        Array.from({ length: Math.min(500, total - from) }, (_, k) =>
          ev(`s${from + k}`, rare.includes(from + k) ? 'profileDeleted' : 'scanJobCreated'),
        ),
      );
    }
    const seen: string[] = [];
    let cursor: number | undefined;
    let pages = 0;
    for (let more = true; more; pages++) {
      assert.ok(pages < 50, 'pages end');
      const page = await feedPage(b, {
        type: ['profileDeleted', 'nosuch'],
        order: 'desc',
        limit: 2,
        ...(cursor !== undefined && { cursor }),
      });
      seen.push(...pageIds(page));
      const next = Number(page.next_cursor);
      assert.ok(cursor === undefined || next <= cursor, 'the cursor never goes up');
      cursor = next;
      more = page.more;
    }
    assert.deepEqual(
      seen,
      [...rare].reverse().map((i) => `s${i}`),
    );
    // Each read answers all matches down to where it stopped, if it stopped short.
    const first = await b.feed({ type: 'nosuch', order: 'desc', limit: 10 });
    assert.deepEqual(first.events, []);
    const firstSeq = (await b.get('s0'))!.seq;
    assert.ok(first.scannedTo === undefined || first.scannedTo > firstSeq, 'stopped short, or at the first event');
  });

  it('feed desc lists a replayed dead letter once, at its own sequence', async (t) => {
    const b = await open(t);
    await b.append([ev('a', 'scanJobCreated', ['feed']), ev('b'), ev('c', 'scanJobCreated', ['feed'])]);
    const q: SinkQueue = b.sinkQueue('feed', { maxInFlight: 10 });
    t.after(() => q.close());
    const got: Delivery[] = [];
    const deadline = Date.now() + waitMs;
    while (got.length < 2 && Date.now() < deadline) got.push(...(await q.next(2 - got.length, deadline - Date.now())));
    assert.deepEqual(ids(got), ['a', 'c']);
    for (const d of got) await q.dead(d, 'HTTP 410');
    assert.equal(await b.replay('feed'), 2);
    const all = ids((await b.feed({ limit: 10, order: 'desc' })).events);
    assert.deepEqual(all, ['c', 'b', 'a']);
    assert.deepEqual(ids((await b.feed({ limit: 1, order: 'desc' })).events), ['c']);
  });
}
