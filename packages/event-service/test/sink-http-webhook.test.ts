// What an HTTP sink's POST carries and how it is sent, against real node:http receivers (helpers/http-sink.ts):
// Standard Webhooks signatures checked by the `standardwebhooks` package (a rotated-out secret too), the envelope
// options (extra_args, flatten_payload, send_as_list), ssl_verify against an untrusted https receiver, and the
// [handlers] delivery options as the config reads them. Retries are sink-http-retries.test.ts's, batches
// sink-http-batching.test.ts's, order and max_in_flight sink-http-order.test.ts's.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { ConfigError } from '@event-broker/shared';
import { createCertificateAuthority, createServerCertificate } from '@event-broker/dev-tools';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { httpSinkOptions } from '../src/handlers/sinks/options.js';
import { signWebhook } from '../src/handlers/sinks/webhook.js';
import { until } from '@event-broker/test-support/wait';
import { startReceiver } from '@event-broker/test-support/http';
import { tmpDir } from '@event-broker/test-support/tmp';
import { OLD_SECRET, SECRET, optSetup, receiver, setup, verify } from './helpers/http-sink.js';

/** An https receiver whose certificate no trusted CA signed. */
async function httpsReceiver(t: TestContext) {
  const ca = await createCertificateAuthority({ commonName: 'sink test CA (not trusted)' });
  return startReceiver(t, { tls: await createServerCertificate(ca), path: '/hook' });
}

test('deliveries are signed as Standard Webhooks and verify with the standardwebhooks package, old secret too', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(204).end());
  const { store, sink } = setup(t, { url: r.url, secrets: [SECRET, OLD_SECRET], headers: { 'x-tenant': 'a' } });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e3'],
    'in order, the event id as webhook-id',
  );
  for (const g of r.got) {
    for (const secret of [SECRET, OLD_SECRET]) {
      const payload = new Webhook(secret).verify(g.body, g.headers as Record<string, string>) as { id: string };
      assert.equal(payload.id, g.headers['webhook-id']);
    }
    assert.equal(g.headers['x-tenant'], 'a');
    assert.equal(g.headers['content-type'], 'application/json');
  }
  assert.throws(() =>
    new Webhook(`whsec_${Buffer.from('wrong').toString('base64')}`).verify(
      r.got[0]!.body,
      r.got[0]!.headers as Record<string, string>,
    ),
  );
  assert.equal(sink.stats.delivered, 3);
});

test('an event id no header can carry (a line break, text past Latin-1) goes as a digest webhook-id: delivered, not dead-lettered', async (t) => {
  // The intake takes any non-empty id; sent as it is, undici refused the header and every attempt failed as
  // "unreachable" until the event was dead-lettered.
  const r = await receiver(t, (_n, res) => res.writeHead(204).end());
  const ids = ['plain-1', 'line\nbreak', 'euro-\u20ac', 'caf\u00e9'];
  const { store, sink } = setup(t, { url: r.url, maxAttempts: 2 }, ids);
  sink.wake();
  await until(() => store.held === 0, 'all resolved');
  assert.deepEqual(
    sink.stats,
    { delivered: 4, failedAttempts: 0, retries: 0, dead: 0 },
    String(sink.lastError?.message),
  );
  const sent = r.got.map((g) => g.headers['webhook-id']);
  assert.equal(sent[0], 'plain-1', 'a plain id as it is');
  assert.equal(sent[3], 'caf\u00e9', 'Latin-1 as before');
  for (const i of [1, 2]) assert.match(String(sent[i]), /^evt_[0-9a-f]{32}$/, `id ${i} as a digest`);
  assert.notEqual(sent[1], sent[2]);
  for (const g of r.got) verify(g);
  assert.deepEqual(
    r.got.map((g) => (JSON.parse(g.body) as { id: string }).id),
    ids,
    'the body keeps the event id',
  );
});

test('signWebhook matches the standardwebhooks package byte for byte', () => {
  const wh = new Webhook(SECRET);
  assert.equal(
    signWebhook([SECRET], 'msg_1', 1700000000, '{"a":1}'),
    wh.sign('msg_1', new Date(1700000000 * 1000), '{"a":1}'),
  );
});

test('extra_args adds fields to the envelope (the event wins a clash), signed over the sent body', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(200).end());
  const { store, sink } = optSetup(t, { url: r.url, extraArgs: { env: 'prod', id: 'forged', nested: { a: 1 } } }, [
    ['e1'],
  ]);
  sink.wake();
  await until(() => store.held === 0, 'delivered');
  const body = verify(r.got[0]!) as Record<string, unknown>;
  assert.equal(body.env, 'prod');
  assert.deepEqual(body.nested, { a: 1 });
  assert.equal(body.id, 'e1', 'the event id is not overridden');
  assert.equal(body.specversion, '1.0');
  assert.equal(r.got[0]!.headers['webhook-id'], 'e1');
});

test('flatten_payload sends data at top level (non-object data as { data }), send_as_list wraps it in an array', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(200).end());
  const { store, sink } = optSetup(t, { url: r.url, flattenPayload: true, sendAsList: true, extraArgs: { src: 'x' } }, [
    ['e1', { a: 1, b: 'two' }],
    ['e2', 42],
  ]);
  sink.wake();
  await until(() => store.held === 0, 'delivered');
  assert.equal(r.got.length, 2, 'batch_size 1: one event per POST');
  assert.deepEqual(verify(r.got[0]!), [{ src: 'x', a: 1, b: 'two' }]);
  assert.deepEqual(verify(r.got[1]!), [{ src: 'x', data: 42 }]);
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2'],
  );
});

test('ssl_verify = false delivers to an https receiver whose certificate no trusted CA signed; verified refuses it', async (t) => {
  const r = await httpsReceiver(t);
  const strict = optSetup(t, { url: r.url, maxAttempts: 1 }, [['s1']]);
  strict.sink.wake();
  await until(() => strict.store.held === 0, 'dead-lettered');
  assert.equal(r.got.length, 0, 'verification on: no request reached the receiver');
  assert.match(strict.store.deadLetters()[0]!.lastError ?? '', /unreachable/);

  const lax = optSetup(t, { url: r.url, sslVerify: false, batchSize: 2, headers: { 'x-k': 'v' } }, [['s1'], ['s2']]);
  lax.sink.wake();
  await until(() => lax.store.held === 0, 'delivered');
  assert.equal(r.got.length, 1);
  assert.deepEqual(
    (verify(r.got[0]!) as Array<{ id: string }>).map((e) => e.id),
    ['s1', 's2'],
  );
  assert.equal(r.got[0]!.headers['x-k'], 'v');
  assert.equal(r.got[0]!.headers['content-type'], 'application/json');
});

test('[handlers] reads the delivery options (headers as "k=v,k=v" too) and names a bad one', (t) => {
  const c = resolveServiceConfig({
    handlers: {
      feed: {
        url: 'https://127.0.0.1:9/x',
        headers: 'Authorization=Bearer abc, X-Env=prod',
        ssl_verify: false,
        extra_args: { env: 'prod', n: 3n, list: [1n, 'a'] },
        flatten_payload: true,
        send_as_list: true,
        batch_size: 50n,
        batch_bytes: 65536,
        batch_wait_ms: 0,
        max_in_flight: 8n,
      },
    } as never,
  });
  const feed = c.handlers!.feed!;
  assert.deepEqual(feed.headers, { authorization: 'Bearer abc', 'x-env': 'prod' });
  assert.deepEqual(
    {
      ssl_verify: feed.ssl_verify,
      extra_args: feed.extra_args,
      flatten_payload: feed.flatten_payload,
      send_as_list: feed.send_as_list,
    },
    { ssl_verify: false, extra_args: { env: 'prod', n: 3, list: [1, 'a'] }, flatten_payload: true, send_as_list: true },
  );
  assert.deepEqual([feed.batch_size, feed.batch_bytes, feed.batch_wait_ms, feed.max_in_flight], [50, 65536, 0, 8]);
  const o = httpSinkOptions(feed);
  assert.deepEqual(
    [o.sslVerify, o.flattenPayload, o.sendAsList, o.batchSize, o.batchBytes, o.batchWaitMs, o.maxInFlight],
    [false, true, true, 50, 65536, 0, 8],
  );
  assert.deepEqual(o.extraArgs, { env: 'prod', n: 3, list: [1, 'a'] });

  const dir = tmpDir(t, 'sink-opts-');
  const cases: Array<[string, RegExp]> = [
    ['ssl_verify = "no"', /ssl_verify/],
    ['batch_size = 0', /batch_size/],
    ['batch_wait_ms = -1', /batch_wait_ms/],
    ['extra_args = "x=1"', /extra_args/],
    ['max_in_flight = 0', /max_in_flight/],
    ['max_in_flight = 257', /max_in_flight/],
    ['send_as_lists = true', /send_as_lists/],
  ];
  for (const [line, want] of cases) {
    const file = path.join(dir, 's.toml');
    fs.writeFileSync(file, `[handlers]\nfeed = { url = "127.0.0.1:1", ${line} }\n`);
    assert.throws(
      () => loadServiceConfig({ configPath: file }),
      (e: unknown) => e instanceof ConfigError && want.test(e.message),
      line,
    );
  }
});
