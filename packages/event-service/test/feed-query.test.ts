// The feed's query over HTTP (`GET /events`, `/events/stream`) and `$EVENTS.FEED.QUERY`, on each backend: newest
// first (`order=desc`) paging downwards, several types at once (`type=a,b`), and every parameter it does not know, or
// gets twice, refused with 400 naming it. A real service (SQLite file; JetStream on a nats-server hub through the
// leaf link), the official `nats` client, node's fetch and http.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { StringCodec, type NatsConnection } from 'nats';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { tmpDir } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';
import { startEventService, type EventService } from '../src/index.js';
import { FEED_PARAMETERS, FEED_QUERY_SUBJECT, type FeedPage } from '../src/handlers/event-feed.js';
import { client, LINK_MS, remotesUp, startHub, startLeafService, hubStoreDir } from './helpers/leaf-hub.js';

const sc = StringCodec();
const TYPES = ['scanJobCreated', 'profileDeleted', 'nodeTerminated'] as const;

const BACKENDS: { name: string; skip: string | false; start: (t: TestContext) => Promise<EventService> }[] = [
  {
    name: 'SQLite',
    skip: false,
    start: async (t) => {
      const svc = await startEventService({
        service: { host: '127.0.0.1', port: 0 },
        monitor: { host: '127.0.0.1', port: 0 },
        store: { path: path.join(tmpDir(t), 'e.db') },
        log: { level: 'silent' },
      });
      t.after(() => svc.close());
      return svc;
    },
  },
  {
    name: 'JetStream',
    skip: natsServerSkip(),
    start: async (t) => {
      // Closed before the hub (t.after runs in the order registered): closed after, the service would wait out
      // request_timeout for the JetStream answers its close asks for.
      let svc: EventService | undefined;
      t.after(() => svc?.close());
      const hub = await startHub(t, { extra: [`jetstream { store_dir: ${JSON.stringify(hubStoreDir(t))} }`] });
      svc = await startLeafService(t, [{ urls: [hub.leafUrl] }], {
        store: { backend: 'jetstream', request_timeout: LINK_MS },
      });
      await remotesUp(svc);
      return svc;
    },
  },
];

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await within(fetch(url), `GET ${url}`, 10_000);
  return { status: res.status, body: await res.json() };
}

async function natsQuery(nc: NatsConnection, q: unknown): Promise<unknown> {
  const m = await nc.request(FEED_QUERY_SUBJECT, sc.encode(JSON.stringify(q)), { timeout: 10_000 });
  return JSON.parse(sc.decode(m.data)) as unknown;
}

const pageIds = (p: unknown): string[] => (p as FeedPage).events.map((e) => (e.event as { id: string }).id);
const reason = (r: { body: unknown }): string => (r.body as { error: { reason: string } }).error.reason;

/** 12 events, e0..e11, their types cycling through TYPES, each stored before the next is sent. */
async function fill(nc: NatsConnection): Promise<void> {
  for (let i = 0; i < 12; i++) {
    const type = TYPES[i % 3]!;
    const body = JSON.stringify({ specversion: '1.0', id: `e${i}`, source: '/t', type });
    const answer = JSON.parse(
      sc.decode((await nc.request(`events.${type}`, sc.encode(body), { timeout: 10_000 })).data),
    );
    assert.deepEqual(answer, { id: `e${i}` });
  }
}

for (const backend of BACKENDS) {
  test(
    `${backend.name}: order=desc pages newest first down to the first event, over HTTP and NATS`,
    { skip: backend.skip },
    async (t) => {
      const svc = await backend.start(t);
      const nc = await client(t, svc.port);
      const base = `http://127.0.0.1:${svc.monitorPort}`;
      await fill(nc);
      const last = await getJson(`${base}/events?order=desc&limit=3`);
      assert.equal(last.status, 200);
      assert.deepEqual(pageIds(last.body), ['e11', 'e10', 'e9'], 'the last 3');
      assert.equal((last.body as FeedPage).more, true);
      // Down to the first event, page by page; the same over NATS.
      for (const via of ['http', 'nats'] as const) {
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let more = true, pages = 0; more; pages++) {
          assert.ok(pages < 10, 'pages end');
          const q = { order: 'desc', limit: '5', ...(cursor !== undefined && { cursor }) };
          const page = (
            via === 'http'
              ? (await getJson(`${base}/events?${new URLSearchParams(q)}`)).body
              : await natsQuery(nc, { ...q, limit: 5 })
          ) as FeedPage;
          seen.push(...pageIds(page));
          cursor = page.next_cursor;
          more = page.more;
        }
        assert.deepEqual(
          seen,
          Array.from({ length: 12 }, (_, i) => `e${11 - i}`),
          via,
        );
        const below = (await getJson(`${base}/events?order=desc&cursor=${cursor}`)).body as FeedPage;
        assert.deepEqual(below, { events: [], next_cursor: cursor, more: false }, `${via}: nothing below the first`);
      }
      // order=asc is the default's order.
      assert.deepEqual(pageIds((await getJson(`${base}/events?order=asc&limit=2`)).body), ['e0', 'e1']);
    },
  );

  test(
    `${backend.name}: type=a,b selects several types in either order, over HTTP and NATS`,
    { skip: backend.skip },
    async (t) => {
      const svc = await backend.start(t);
      const nc = await client(t, svc.port);
      const base = `http://127.0.0.1:${svc.monitorPort}`;
      await fill(nc);
      const two = ['e1', 'e2', 'e4', 'e5', 'e7', 'e8', 'e10', 'e11'];
      assert.deepEqual(pageIds((await getJson(`${base}/events?type=profileDeleted,nodeTerminated`)).body), two);
      assert.deepEqual(
        pageIds((await getJson(`${base}/events?type=nodeTerminated,profileDeleted&order=desc&limit=3`)).body),
        ['e11', 'e10', 'e8'],
      );
      assert.deepEqual(pageIds(await natsQuery(nc, { type: ['profileDeleted', 'nodeTerminated'] })), two);
      assert.deepEqual(
        pageIds(await natsQuery(nc, { type: 'profileDeleted,nodeTerminated', order: 'desc', limit: 2 })),
        ['e11', 'e10'],
      );
      assert.deepEqual(pageIds(await natsQuery(nc, { type: 'scanJobCreated' })), ['e0', 'e3', 'e6', 'e9']);
      assert.deepEqual(pageIds((await getJson(`${base}/events?type=nosuch,other`)).body), []);
    },
  );

  test(
    `${backend.name}: unknown, repeated and bad feed parameters are refused with 400 naming them`,
    { skip: backend.skip },
    async (t) => {
      const svc = await backend.start(t);
      const nc = await client(t, svc.port);
      const base = `http://127.0.0.1:${svc.monitorPort}`;
      await fill(nc);
      const known = FEED_PARAMETERS.join(', ');
      const cases: [string, RegExp][] = [
        ['typ=scanJobCreated', new RegExp(`^typ: unknown parameter \\(known: ${known}\\)$`)],
        ['id=e1', /^id: unknown parameter/],
        ['limit=5&limit=6', /^limit: given more than once$/],
        ['type=scanJobCreated&type=profileDeleted', /^type: given more than once$/],
        ['order=sideways', /^order: must be asc or desc, got "sideways"$/],
        ['type=a,,b', /^type: must be a type or comma-separated types/],
        [`type=${Array.from({ length: 33 }, (_, i) => `t${i}`).join(',')}`, /^type: names 33 types, more than 32$/],
        [`${'x'.repeat(5000)}=1`, /^x{64}\.\.\.: unknown parameter \(known: type, /],
      ];
      for (const [q, want] of cases) {
        for (const route of ['/events', '/events/stream']) {
          const r = await getJson(`${base}${route}?${q}`);
          assert.equal(r.status, 400, `${route}?${q.slice(0, 80)}`);
          assert.equal((r.body as { error: { code: string } }).error.code, 'EFEED_QUERY');
          assert.match(reason(r), want, `${route}?${q.slice(0, 80)}`);
        }
      }
      const desc = await getJson(`${base}/events/stream?order=desc`);
      assert.equal(desc.status, 400);
      assert.match(reason(desc), /^order: a stream follows new events as they come: only asc$/);
      // The NATS query names an unknown field among its own (id included) and refuses a bad type list.
      const err = (await natsQuery(nc, { typ: 'x' })) as { error: { code: string; reason: string } };
      assert.equal(err.error.code, 'EFEED_QUERY');
      assert.match(err.error.reason, new RegExp(`^typ: unknown field \\(known: ${known}, id\\)$`));
      const badType = (await natsQuery(nc, { type: ['a', 3] })) as { error: { reason: string } };
      assert.match(badType.error.reason, /^type: must be a type or comma-separated types/);
      const noType = (await natsQuery(nc, { type: [] })) as { error?: { reason: string } };
      assert.match(noType.error?.reason ?? 'answered a page', /^type: an empty list names no type/);
      // A stream with a type list opens and gets only those types.
      const typed = await openStream(t, `${base}/events/stream?type=profileDeleted,nodeTerminated&cursor=0`);
      await within(typed.until(8), 'the stream sends the 8 events of either type');
      assert.deepEqual(typed.ids, ['e1', 'e2', 'e4', 'e5', 'e7', 'e8', 'e10', 'e11']);
    },
  );
}

/** A server-sent-event stream's event ids as they come; `until(n)` resolves once n arrived. */
async function openStream(t: TestContext, url: string) {
  const ids: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const req = http.get(url, (res) => {
      assert.equal(res.statusCode, 200);
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        for (let i; (i = buf.indexOf('\n\n')) >= 0;) {
          const data = /^data: (.*)$/m.exec(buf.slice(0, i))?.[1];
          buf = buf.slice(i + 2);
          if (data !== undefined) ids.push((JSON.parse(data) as { event: { id: string } }).event.id);
        }
        for (const w of waiters) if (ids.length >= w.n) w.resolve();
      });
      resolve();
    });
    req.on('error', reject);
    t.after(() => req.destroy());
  });
  return {
    ids,
    until: (n: number) =>
      new Promise<void>((resolve) => {
        if (ids.length >= n) resolve();
        else waiters.push({ n, resolve });
      }),
  };
}
