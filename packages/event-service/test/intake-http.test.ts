// The [intake.http] listener's CloudEvents HTTP binding: each mode (structured, binary, batch) accepted, stored and
// delivered to a real node:http sink; each refusal's status and body (415, 400 naming the field, a batch's element,
// 413, 404, 405); event_limit answered 429 with Retry-After; a retried id answered as a duplicate. Callers here are
// anonymous on loopback (allow_anonymous); who may call is intake-http-auth.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { startReceiver } from '@event-broker/test-support/http';
import { until } from '@event-broker/test-support/wait';
import { BATCH, event, post, startIntakeService, stored, STRUCTURED } from './helpers/intake-http.js';

const ANON = { allow_anonymous: true };

test('structured, binary and batch events are stored after a 200 and delivered to the sink', async (t) => {
  const sink = await startReceiver(t);
  const { svc, port } = await startIntakeService(t, ANON, { handlers: { event_feed: sink.addr } } as never);

  const one = await post(port, JSON.stringify(event('s1', { data: { a: 1 } })), { headers: STRUCTURED });
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.json, { id: 's1', duplicate: false });
  assert.equal((await stored(svc, 's1'))?.type, 'nodeTerminated', 'stored when answered');

  const bin = await post(port, JSON.stringify({ node: 'n-1' }), {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': 'b1',
      'ce-source': '/nodes',
      'ce-type': 'nodeTerminated',
      'ce-subject': 'node%20n-1%E2%9C%93',
      'ce-region': 'eu',
      'content-type': 'application/json',
    },
  });
  assert.equal(bin.status, 200, bin.text);
  const b1 = await stored(svc, 'b1');
  assert.deepEqual(
    [b1?.data, b1?.datacontenttype, b1?.subject, b1?.region],
    [{ node: 'n-1' }, 'application/json', 'node n-1✓', 'eu'],
    'ce- headers percent-decoded, the body as data, Content-Type as datacontenttype',
  );
  const raw = await post(port, Buffer.from([0, 1, 2, 255]), {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': 'b2',
      'ce-source': '/s',
      'ce-type': 'nodeTerminated',
      'content-type': 'application/octet-stream',
    },
  });
  assert.equal(raw.status, 200, raw.text);
  assert.equal((await stored(svc, 'b2'))?.data_base64, 'AAEC/w==', 'a binary body kept as data_base64');

  const batch = await post(port, JSON.stringify([event('m1'), event('m2', { type: 'scanJobCreated' }), event('s1')]), {
    headers: BATCH,
  });
  assert.equal(batch.status, 200, batch.text);
  assert.deepEqual(batch.json, {
    results: [
      { id: 'm1', duplicate: false },
      { id: 'm2', duplicate: false },
      { id: 's1', duplicate: true },
    ],
  });
  const empty = await post(port, '[]', { headers: BATCH });
  assert.deepEqual([empty.status, empty.json], [200, { results: [] }]);

  await until(
    () => ['s1', 'b1', 'b2', 'm1', 'm2'].every((id) => sink.accepted().includes(id)),
    'every event delivered',
    10_000,
    () => `delivered: ${sink.accepted().join(', ')}`,
  );
  const delivered = JSON.parse(sink.got.find((d) => d.id === 's1')!.body) as { authtype?: string };
  assert.equal(delivered.authtype, 'unauthenticated', 'an anonymous caller is stored as such');
});

test('refusals: 415 for other media types or a Content-Encoding, 400 naming the field, a batch element by its index, 404, 405', async (t) => {
  const { svc, port } = await startIntakeService(t, ANON);
  const plain = await post(port, '{}', { headers: { 'content-type': 'application/json' } });
  assert.equal(plain.status, 415);
  assert.equal(plain.json.error.code, 'EINTAKE_MEDIA_TYPE');
  assert.match(plain.json.error.reason, /application\/cloudevents\+json/);
  const xml = await post(port, '<e/>', { headers: { 'content-type': 'application/cloudevents+xml' } });
  assert.equal(xml.status, 415);

  const notJson = await post(port, '{"specversion":', { headers: STRUCTURED });
  assert.deepEqual([notJson.status, notJson.json.error.code, notJson.json.error.field], [400, 'EEVENT_INVALID', '']);
  const badType = await post(port, JSON.stringify(event('x1', { type: 'noSuchThing' })), { headers: STRUCTURED });
  assert.deepEqual([badType.status, badType.json.error.field], [400, 'type'], badType.text);
  assert.match(badType.json.error.reason, /unknown event type "noSuchThing"/);
  const badProducer = await post(port, JSON.stringify(event('x2', { producer: { id: 'p' } })), { headers: STRUCTURED });
  assert.deepEqual([badProducer.status, badProducer.json.error.field], [400, 'producer.name'], badProducer.text);

  const objHeader = await post(port, '', {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': 'x3',
      'ce-source': '/s',
      'ce-type': 'nodeTerminated',
      'ce-producer': 'x',
    },
  });
  assert.deepEqual([objHeader.status, objHeader.json.error.field], [400, 'producer']);
  assert.match(objHeader.json.error.reason, /structured mode/);
  const badPct = await post(port, '', {
    headers: { 'ce-specversion': '1.0', 'ce-id': 'x4', 'ce-source': '/s%zz', 'ce-type': 'nodeTerminated' },
  });
  assert.deepEqual([badPct.status, badPct.json.error.field], [400, 'source']);
  const noSource = await post(port, '', {
    headers: { 'ce-specversion': '1.0', 'ce-id': 'x5', 'ce-type': 'nodeTerminated' },
  });
  assert.deepEqual([noSource.status, noSource.json.error.field], [400, 'source'], noSource.text);

  const batch = await post(
    port,
    JSON.stringify([event('y0'), event('y1'), event('y2'), event('y3', { type: 'nope' }), event('y4')]),
    { headers: BATCH },
  );
  assert.equal(batch.status, 400, batch.text);
  assert.equal(batch.json.error.field, '[3].type');
  assert.equal(batch.json.results[3].status, 400);
  assert.deepEqual(batch.json.results[4], { id: 'y4', duplicate: false }, 'per event: the others are stored');
  assert.equal((await stored(svc, 'y4'))?.id, 'y4');
  assert.equal(await stored(svc, 'y3'), undefined);
  const notArray = await post(port, '{}', { headers: BATCH });
  assert.deepEqual([notArray.status, notArray.json.error.field], [400, '']);

  const nowhere = await post(port, '{}', { path: '/nowhere', headers: STRUCTURED });
  assert.deepEqual([nowhere.status, nowhere.json.error.code], [404, 'EINTAKE_REQUEST']);
  const binaryGzip = await post(port, zlib.gzipSync('hello'), {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': 'z1',
      'ce-source': '/s',
      'ce-type': 'nodeTerminated',
      'content-type': 'application/octet-stream',
      'content-encoding': 'gzip',
    },
  });
  assert.deepEqual([binaryGzip.status, binaryGzip.json?.error.code], [415, 'EINTAKE_MEDIA_TYPE'], binaryGzip.text);
  assert.equal(binaryGzip.headers['accept-encoding'], 'identity');
  assert.equal(await stored(svc, 'z1'), undefined, 'never stored as its gzip bytes');
  const structuredGzip = await post(port, zlib.gzipSync(JSON.stringify(event('z2'))), {
    headers: { ...STRUCTURED, 'content-encoding': 'GZIP' },
  });
  assert.equal(structuredGzip.status, 415, structuredGzip.text);
  const identity = await post(port, JSON.stringify(event('z3')), {
    headers: { ...STRUCTURED, 'content-encoding': 'identity' },
  });
  assert.equal(identity.status, 200, identity.text);
  const get = await post(port, '', { method: 'GET' });
  assert.deepEqual([get.status, get.headers.allow], [405, 'POST, OPTIONS']);
});

test('413 past max_payload for one event, past max_body or max_batch for a batch, and for one element alone', async (t) => {
  const { svc, port } = await startIntakeService(t, { ...ANON, max_body: 4096, max_batch: 3 }, {
    service: { host: '127.0.0.1', port: 0, max_payload: 1024 },
  } as never);
  const big = JSON.stringify(event('big', { data: 'x'.repeat(2000) }));
  const single = await post(port, big, { headers: STRUCTURED });
  assert.deepEqual([single.status, single.json.error.code], [413, 'EINTAKE_TOO_LARGE']);
  assert.match(single.json.error.reason, /max_payload \(1024 bytes\)/);
  const bin = await post(port, 'x'.repeat(2000), {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': 'b',
      'ce-source': '/s',
      'ce-type': 'nodeTerminated',
      'content-type': 'text/plain',
    },
  });
  assert.equal(bin.status, 413);

  const mixed = await post(port, JSON.stringify([event('ok1'), JSON.parse(big)]), { headers: BATCH });
  assert.equal(mixed.status, 413, mixed.text);
  assert.equal(mixed.json.error.field, '[1]');
  assert.deepEqual(mixed.json.results[0], { id: 'ok1', duplicate: false });
  assert.equal((await stored(svc, 'ok1'))?.id, 'ok1');
  const many = await post(port, JSON.stringify([event('a'), event('b'), event('c'), event('d')]), { headers: BATCH });
  assert.equal(many.status, 413);
  assert.match(many.json.error.reason, /max_batch/);
  const huge = await post(port, JSON.stringify([event('h', { data: 'y'.repeat(5000) })]), { headers: BATCH });
  assert.equal(huge.status, 413);
  assert.match(huge.json.error.reason, /max_body/);
});

test('at event_limit: 429 with Retry-After, and the event is taken once the sink drains', async (t) => {
  let open = false;
  const sink = await startReceiver(t, { status: () => (open ? 200 : 503) });
  const { svc, port } = await startIntakeService(t, ANON, {
    service: { host: '127.0.0.1', port: 0, event_limit: 2 },
    handlers: { event_feed: { url: sink.url, max_attempts: 1000 } },
  } as never);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  for (const id of ['l1', 'l2']) {
    const a = await post(port, JSON.stringify(event(id)), { headers: STRUCTURED, agent });
    assert.equal(a.status, 200, a.text);
  }
  const refused = await post(port, JSON.stringify(event('l3')), { headers: STRUCTURED, agent });
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.headers['retry-after'], '1');
  assert.equal(refused.json.error.code, 'EEVENT_LIMIT');
  const batch = await post(port, JSON.stringify([event('l4')]), { headers: BATCH, agent });
  assert.deepEqual([batch.status, batch.headers['retry-after'], batch.json.error.field], [429, '1', '[0]']);
  assert.equal(await stored(svc, 'l3'), undefined);
  open = true;
  let last = 0;
  await until(
    async () => (last = (await post(port, JSON.stringify(event('l3')), { headers: STRUCTURED, agent })).status) === 200,
    'taken once there is room',
    15_000,
    () => `last status ${last}`,
  );
});
