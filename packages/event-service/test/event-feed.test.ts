// The event feed against a real service: cursor paging over HTTP (the monitoring listener) and `$EVENTS.FEED.QUERY`
// with no duplicates or gaps while new events arrive, filters, one event by id, the live server-sent-event stream,
// and [feed] retention by count and age. Official `nats` client, node:http requests. Ours only.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { loadServiceConfig } from '../src/config.js';
import { startEventService } from '../src/embedded.js';
import { FEED_QUERY_SUBJECT, type FeedPage } from '../src/handlers/event-feed.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { pace, until, within } from '@event-broker/test-support/wait';
import { tmpDir } from '@event-broker/test-support/tmp';

const sc = StringCodec();
/** Bound for the big paging test: generous, the suite runs beside it on 2 cores. */
const LONG_MS = 60_000;

const event = (type: string, id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    specversion: '1.0',
    id,
    source: '/test',
    type,
    producer: { id: 'p1', name: 'tester', type: 'service' },
    ...extra,
  });

async function service(t: TestContext, extra: Record<string, unknown> = {}) {
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    log: { level: 'silent' },
    ...extra,
  });
  t.after(() => svc.close());
  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'nats connect');
  t.after(() => nc.close());
  return { svc, nc, base: `http://127.0.0.1:${svc.monitorPort}` };
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await within(fetch(url), `GET ${url}`, 10_000);
  return { status: res.status, body: await res.json() };
}

async function natsQuery(nc: NatsConnection, q: unknown): Promise<unknown> {
  const m = await nc.request(FEED_QUERY_SUBJECT, sc.encode(JSON.stringify(q)), { timeout: 10_000 });
  return JSON.parse(sc.decode(m.data)) as unknown;
}

test('feed pages through 10,000 events with no duplicates or gaps while new events arrive (HTTP and NATS alike)', async (t) => {
  const { nc, base } = await service(t);
  const INITIAL = 10_000;
  for (let i = 0; i < INITIAL - 1; i++)
    nc.publish('events.scanJobCreated', sc.encode(event('scanJobCreated', `a${i}`)));
  // The last as a request: its reply comes after its commit, and every earlier event on the connection came first.
  await nc.request('events.scanJobCreated', sc.encode(event('scanJobCreated', `a${INITIAL - 1}`)), {
    timeout: LONG_MS,
  });

  // New events keep arriving while the pages are read.
  let published = INITIAL;
  let writing = true;
  const writer = (async () => {
    while (writing) {
      for (let i = 0; i < 20; i++)
        nc.publish('events.profileUpdate', sc.encode(event('profileUpdate', `b${published++}`)));
      await pace(5);
    }
    await nc.request('events.profileUpdate', sc.encode(event('profileUpdate', `b${published++}`)), {
      timeout: LONG_MS,
    });
  })();

  const seen: number[] = [];
  const ids = new Set<string>();
  let cursor = '0';
  let pages = 0;
  const readPage = async (limit: number): Promise<FeedPage> => {
    // Alternate the two ways in: the cursor is the same thing to both.
    const page =
      pages++ % 2 === 0
        ? ((await getJson(`${base}/events?cursor=${cursor}&limit=${limit}`)).body as FeedPage)
        : ((await natsQuery(nc, { cursor, limit })) as FeedPage);
    for (const item of page.events) {
      seen.push(item.seq);
      const id = (item.event as { id: string }).id;
      assert.ok(!ids.has(id), `event ${id} seen twice`);
      ids.add(id);
    }
    cursor = page.next_cursor;
    return page;
  };
  await within(
    (async () => {
      while (seen.length < INITIAL) await readPage(250);
    })(),
    'paging through the first 10,000',
    LONG_MS,
  );
  writing = false;
  await within(writer, 'the writer finishes', LONG_MS);
  // Drain to the end: every event published, once, in sequence order with no gap.
  await within(
    (async () => {
      while ((await readPage(1000)).more);
    })(),
    'paging to the end',
    LONG_MS,
  );
  assert.ok(published > INITIAL, 'events arrived during paging');
  assert.equal(ids.size, published, `every event read once (${ids.size} of ${published})`);
  for (let i = 0; i < seen.length; i++) assert.equal(seen[i], i + 1, `sequence ${i + 1} in place, no gap`);
  for (let i = 0; i < INITIAL; i++) assert.ok(ids.has(`a${i}`), `a${i} read`);
  // Past the end the cursor stays put, ready for what comes next.
  const tail = (await getJson(`${base}/events?cursor=${cursor}`)).body as FeedPage;
  assert.deepEqual(tail, { events: [], next_cursor: cursor, more: false });
});

test('feed queries filter by type, producer, actor and stored time; one event by id; bad parameters are named', async (t) => {
  const { nc, base } = await service(t);
  const actor = (id: string) => ({ actor: { id, object_type: 'user' } });
  const send = async (type: string, id: string, extra: Record<string, unknown> = {}) =>
    nc.request(`events.${type}`, sc.encode(event(type, id, extra)), { timeout: 5000 });
  await send('scanJobCreated', 'e1', actor('alice'));
  await send('profileDeleted', 'e2', { producer: { id: 'p2', name: 'other', type: 'service' }, ...actor('bob') });
  const mid = Date.now();
  await until(() => Date.now() >= mid + 20, 'the clock moves past mid + 20 ms');
  await send('scanJobCreated', 'e3', actor('bob'));
  const ids = async (q: string) =>
    ((await getJson(`${base}/events?${q}`)).body as FeedPage).events.map((e) => (e.event as { id: string }).id);
  assert.deepEqual(await ids(''), ['e1', 'e2', 'e3']);
  assert.deepEqual(await ids('type=scanJobCreated'), ['e1', 'e3']);
  assert.deepEqual(await ids('producer=p2'), ['e2']);
  assert.deepEqual(await ids('actor=bob'), ['e2', 'e3']);
  assert.deepEqual(await ids('actor=bob&type=scanJobCreated'), ['e3']);
  assert.deepEqual(await ids(`since=${new Date(mid + 10).toISOString()}`), ['e3']);
  assert.deepEqual(await ids(`until=${mid + 10}`), ['e1', 'e2']);
  assert.deepEqual(await ids('limit=1&cursor=1'), ['e2']);

  const one = await getJson(`${base}/events/e2`);
  assert.equal(one.status, 200);
  assert.equal((one.body as { seq: number }).seq, 2);
  assert.equal((one.body as { event: { type: string } }).event.type, 'profileDeleted');
  const missing = await getJson(`${base}/events/nope`);
  assert.equal(missing.status, 404);
  assert.equal((missing.body as { error: { code: string } }).error.code, 'EFEED_NOT_FOUND');

  const bad = await getJson(`${base}/events?limit=5000`);
  assert.equal(bad.status, 400);
  assert.match((bad.body as { error: { reason: string } }).error.reason, /^limit: must be an integer from 1 to 1000/);
  assert.match(
    ((await getJson(`${base}/events?since=yesterday`)).body as { error: { reason: string } }).error.reason,
    /^since: /,
  );
  // The NATS subject answers the same, and names unknown fields.
  assert.deepEqual(
    ((await natsQuery(nc, { type: 'profileDeleted' })) as FeedPage).events.map((e) => e.seq),
    [2],
  );
  assert.equal(((await natsQuery(nc, { id: 'e3' })) as { seq: number }).seq, 3);
  const err = (await natsQuery(nc, { typo: 1 })) as { error: { code: string; reason: string } };
  assert.deepEqual(err.error.code, 'EFEED_QUERY');
  assert.match(err.error.reason, /^typo: unknown field/);
});

test('a $EVENTS.FEED.QUERY page is cut to fit max_payload, and paging goes on from its cursor', async (t) => {
  const { nc } = await service(t, { service: { host: '127.0.0.1', port: 0, max_payload: 16 * 1024 } });
  const pad = 'x'.repeat(2048);
  for (let i = 0; i < 30; i++)
    await nc.request('events.cfgingest', sc.encode(event('cfgingest', `big${i}`, { data: { pad } })), {
      timeout: 5000,
    });
  const first = (await natsQuery(nc, { limit: 1000 })) as FeedPage;
  assert.ok(first.events.length > 0 && first.events.length < 30, `a partial page (${first.events.length})`);
  assert.equal(first.more, true);
  const ids = first.events.map((e) => (e.event as { id: string }).id);
  for (let cursor = first.next_cursor, more = true; more;) {
    const page = (await natsQuery(nc, { cursor, limit: 1000 })) as FeedPage;
    ids.push(...page.events.map((e) => (e.event as { id: string }).id));
    cursor = page.next_cursor;
    more = page.more;
  }
  assert.deepEqual(
    ids,
    Array.from({ length: 30 }, (_, i) => `big${i}`),
  );
});

/** Reads a server-sent-event stream: each message's id and parsed data, as they come. */
function sse(t: TestContext, url: string, headers: Record<string, string> = {}) {
  const got: { id: string; data: { seq: number; event: { id: string } } }[] = [];
  let buf = '';
  const opened = new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (id !== undefined && data !== undefined) got.push({ id, data: JSON.parse(data) });
        }
      });
      resolve(res);
    });
    req.on('error', reject);
    t.after(() => req.destroy());
  });
  return { got, opened };
}

test('GET /events/stream sends new events as server-sent events and resumes after Last-Event-ID', async (t) => {
  const { nc, base } = await service(t);
  await nc.request('events.nodeTerminated', sc.encode(event('nodeTerminated', 'old')), { timeout: 5000 });
  const live = sse(t, `${base}/events/stream`);
  const typed = sse(t, `${base}/events/stream?type=cfgingest`);
  const res = await within(live.opened, 'stream opened');
  assert.equal(res.headers['content-type'], 'text/event-stream');
  await within(typed.opened, 'filtered stream opened');
  for (let i = 0; i < 5; i++)
    await nc.request('events.nodeTerminated', sc.encode(event('nodeTerminated', `n${i}`)), { timeout: 5000 });
  await nc.request('events.cfgingest', sc.encode(event('cfgingest', 'c0')), { timeout: 5000 });
  await until(() => live.got.length === 6 && typed.got.length === 1, 'the streams got the new events', 10_000);
  assert.deepEqual(
    live.got.map((m) => m.data.event.id),
    ['n0', 'n1', 'n2', 'n3', 'n4', 'c0'],
    'only new events, in order',
  );
  assert.deepEqual(
    live.got.map((m) => m.id),
    live.got.map((m) => String(m.data.seq)),
    'the SSE id is the sequence',
  );
  assert.deepEqual(
    typed.got.map((m) => m.data.event.id),
    ['c0'],
  );
  // A reconnecting EventSource sends the last id it saw and gets what followed.
  const resumed = sse(t, `${base}/events/stream`, { 'last-event-id': live.got[2]!.id });
  await until(() => resumed.got.length === 3, 'the resumed stream caught up', 10_000);
  assert.deepEqual(
    resumed.got.map((m) => m.data.event.id),
    ['n3', 'n4', 'c0'],
  );
});

test('[feed] retention keeps the newest max_events and drops what is older than max_age, but never a held or dead-lettered event', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 's.toml');
  fs.writeFileSync(file, '[feed]\nmax_events = 5\nmax_age = "1h"\n');
  assert.deepEqual(loadServiceConfig({ configPath: file }).config.feed, { max_events: 5, max_age: 3_600_000 });

  const store = new SqliteEventStore(path.join(dir, 'e.db'));
  t.after(() => store.close());
  const body = (id: string) => JSON.stringify({ specversion: '1.0', id, source: 's', type: 'nodeTerminated' });
  // e0 stays owed to a sink, e1 is dead-lettered there; the rest are owed nowhere.
  store.append(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => ({
      id: `e${i}`,
      type: 'nodeTerminated',
      body: body(`e${i}`),
      sinks: i < 2 ? ['s'] : [],
    })),
  );
  store.dead('s', store.get('e1')!.seq, 'HTTP 500');
  const left = () => store.feed({ limit: 100 }).map((e) => e.id);
  assert.equal(store.prune({ maxEvents: 5, olderThan: 0 }), 3);
  assert.deepEqual(left(), ['e0', 'e1', 'e5', 'e6', 'e7', 'e8', 'e9']);
  assert.equal(store.prune({ maxEvents: 1000, olderThan: Date.now() + 1 }), 5);
  assert.deepEqual(left(), ['e0', 'e1'], 'held and dead-lettered events stay');
  assert.equal(store.deadLetters({ sink: 's' }).length, 1);
  store.delivered('s', [store.get('e0')!.seq]);
  assert.equal(store.prune({ maxEvents: 1000, olderThan: Date.now() + 1 }), 1);
  assert.deepEqual(left(), ['e1']);
});

/** A $EVENTS.FEED.QUERY request with a bounded wait: a reply that never comes fails the test in `ms`. */
async function natsQueryWithin(
  nc: NatsConnection,
  q: unknown,
  ms: number,
): Promise<{ error?: { code: string; store_code?: string; reason?: string } } & Record<string, unknown>> {
  const m = await nc.request(FEED_QUERY_SUBJECT, sc.encode(JSON.stringify(q)), { timeout: ms });
  assert.ok(m.data.length <= 4096, `the reply fits max_payload: ${m.data.length} bytes`);
  return JSON.parse(sc.decode(m.data)) as { error?: { code: string; store_code?: string; reason?: string } };
}

test('$EVENTS.FEED.QUERY always answers within max_payload: an event too large with its feed fields, a refusal echoing a long field', async (t) => {
  const MAX = 4096;
  const { nc } = await service(t, { service: { host: '127.0.0.1', port: 0, max_payload: MAX } });
  // Stored at a few bytes under max_payload (the published JSON and the authcontext the intake adds, this client
  // being unauthenticated): with seq and stored_at around it the feed item is over.
  const auth = ',"authtype":"unauthenticated"'.length;
  const base = event('cfgingest', 'huge', { data: { pad: '' } });
  const huge = event('cfgingest', 'huge', { data: { pad: 'x'.repeat(MAX - 20 - auth - base.length) } });
  assert.ok(huge.length + auth <= MAX - 20 && huge.length + auth > MAX - 60, `${huge.length} bytes`);
  assert.deepEqual(
    JSON.parse(sc.decode((await nc.request('events.cfgingest', sc.encode(huge), { timeout: 5000 })).data)),
    { id: 'huge' },
  );

  // By id: the item does not fit; the requester hears so instead of waiting for a reply that was never sent.
  const byId = await natsQueryWithin(nc, { id: 'huge' }, 3000);
  t.diagnostic(`by id: ${JSON.stringify(byId).slice(0, 300)}`);
  assert.equal(byId.error?.code, 'EFEED_TOO_LARGE');
  // As a page: cut down to one event, still too large: the same code.
  assert.equal((await natsQueryWithin(nc, {}, 3000)).error?.code, 'EFEED_TOO_LARGE');

  const notJson = await nc.request(FEED_QUERY_SUBJECT, sc.encode('{"limit": '), { timeout: 3000 });
  assert.equal(
    (JSON.parse(sc.decode(notJson.data)) as { error: { code: string } }).error.code,
    'EFEED_QUERY',
    'a request that is not JSON',
  );
  // Refusals echo what the request carried (a field's name or value, escaped once more in the reply): clipped.
  const quotes = '"'.repeat(1500);
  for (const q of [{ limit: quotes }, { id: quotes }, { [`${quotes}x`]: 1 }]) {
    const r = await natsQueryWithin(nc, q, 3000);
    t.diagnostic(`${JSON.stringify(q).slice(0, 20)}…: ${JSON.stringify(r).slice(0, 120)}…`);
    assert.ok(r.error?.code === 'EFEED_QUERY' || r.error?.code === 'EFEED_NOT_FOUND', JSON.stringify(r).slice(0, 200));
  }
});

test("a store that fails reads: the NATS query and the HTTP API answer EFEED_STORE / EDEADLETTER_STORE, never SQLite's message or the path", async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'e.db');
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: file },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'nats connect');
  t.after(() => nc.close());
  const base = `http://127.0.0.1:${svc.monitorPort}`;
  await nc.request('events.cfgingest', sc.encode(event('cfgingest', 'e1')), { timeout: 5000 });
  assert.equal(((await natsQuery(nc, {})) as FeedPage).events.length, 1);

  // Another process takes the table away: every read of the service's now fails with SQLite's "no such table".
  const db = new Database(file);
  db.exec('ALTER TABLE events RENAME TO elsewhere');
  db.close();

  const secret = (text: string) => {
    assert.ok(!text.includes(dir), `no path: ${text}`);
    assert.ok(!/no such table|SQLITE|sqlite|elsewhere|store\.path/.test(text), `no SQLite message or setting: ${text}`);
  };
  for (const q of [{}, { id: 'e1' }]) {
    const r = await natsQueryWithin(nc, q, 3000);
    t.diagnostic(`NATS ${JSON.stringify(q)}: ${JSON.stringify(r)}`);
    assert.equal(r.error?.code, 'EFEED_STORE');
    secret(JSON.stringify(r));
  }
  const http503 = async (url: string, code: string, init?: RequestInit) => {
    const res = await within(fetch(url, init), `${init?.method ?? 'GET'} ${url}`, 5000);
    const text = await res.text();
    t.diagnostic(`${init?.method ?? 'GET'} ${url}: ${res.status} ${text}`);
    assert.equal(res.status, 503, text);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, code);
    secret(text);
  };
  await http503(`${base}/events`, 'EFEED_STORE');
  await http503(`${base}/events/e1`, 'EFEED_STORE');
  await http503(`${base}/deadletters`, 'EDEADLETTER_STORE');
});

test('the feed and dead-letter routes: 405 with Allow for a wrong method, 400 for a bad path segment, their own 404s, other paths left to the monitoring endpoints', async (t) => {
  const { nc, base } = await service(t);
  await nc.request('events.scanJobCreated', sc.encode(event('scanJobCreated', 'e1')), { timeout: 5000 });
  const call = async (method: string, p: string) => {
    const res = await within(fetch(base + p, { method }), `${method} ${p}`, 10_000);
    return {
      status: res.status,
      allow: res.headers.get('allow'),
      type: res.headers.get('content-type'),
      text: await res.text(),
    };
  };
  const code = (text: string) => (JSON.parse(text) as { error: { code: string; reason: string } }).error;
  for (const [method, p] of [
    ['POST', '/events'],
    ['DELETE', '/events/e1'],
    ['POST', '/events/stream'],
    ['PUT', '/deadletters'],
  ] as const) {
    const r = await call(method, p);
    assert.deepEqual([r.status, r.allow, r.text], [405, 'GET, HEAD', 'method not allowed\n'], `${method} ${p}`);
  }
  const badId = await call('GET', '/events/%E0%A4%A');
  assert.equal(badId.status, 400);
  assert.deepEqual(code(badId.text), {
    code: 'EFEED_QUERY',
    reason: 'id: not a valid percent-encoded path segment: /events/%E0%A4%A',
  });
  const slashId = await call('GET', '/events/a%2Fb');
  assert.deepEqual(
    [slashId.status, code(slashId.text)],
    [404, { code: 'EFEED_NOT_FOUND', reason: 'no event "a/b"' }],
    'an id is the decoded rest of the path',
  );
  const deadPath = await call('GET', '/deadletters/feed');
  assert.deepEqual([deadPath.status, code(deadPath.text).code], [404, 'EDEADLETTER_QUERY']);
  const deadLimit = await call('GET', '/deadletters?limit=0');
  assert.deepEqual([deadLimit.status, code(deadLimit.text).code], [400, 'EDEADLETTER_QUERY']);
  const head = await call('HEAD', '/events');
  assert.deepEqual([head.status, head.type, head.text], [200, 'application/json', '']);
  for (const p of ['/nope', '/eventsx'])
    assert.deepEqual(await call('GET', p).then((r) => [r.status, r.text]), [404, '404 page not found\n'], p);
  for (const p of ['/nope', '/varz'])
    assert.deepEqual(await call('POST', p).then((r) => [r.status, r.allow]), [405, 'GET, HEAD'], `POST ${p}`);
});
