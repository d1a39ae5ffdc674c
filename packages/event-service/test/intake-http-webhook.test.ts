// The CloudEvents webhook validation handshake (http-webhook.md section 4) on the [intake.http] listener: OPTIONS on
// / and /events refused (403, saying why) while webhook_allowed_origins is empty, granted with WebHook-Allowed-Origin
// and WebHook-Allowed-Rate for a listed origin or "*", answered without a credential (and granting none), a callback
// never taken as consent, malformed and hostile headers refused (400) and never echoed, reloads applied live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { assertOneProblem, refused } from './helpers/service-config.js';
import { event, HOST, post, startIntakeService, STRUCTURED, token, tokenAuth } from './helpers/intake-http.js';

const ANON = { allow_anonymous: true };
const GRID = 'eventgrid.azure.net';

function options(port: number, headers: Record<string, string | string[]>, at = '/events', agent?: http.Agent) {
  return post(port, '', { method: 'OPTIONS', path: at, headers, ...(agent && { agent }) });
}

/** One raw HTTP/1.1 request (bytes node's client would refuse to send); the whole answer, the connection closed. */
async function raw(port: number, head: Buffer): Promise<string> {
  const socket = net.connect(port, HOST);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  socket.end(head);
  await within(new Promise((r) => socket.once('close', r)), 'the answer and the close', 5_000);
  return Buffer.concat(chunks).toString('latin1');
}

test('no origin is allowed by default: 403 saying why, no WebHook-Allowed-Origin; /k8s/audit and GET stay 405', async (t) => {
  const { port } = await startIntakeService(t, ANON);
  const a = await options(port, { 'webhook-request-origin': GRID });
  assert.equal(a.status, 403, a.text);
  assert.equal(a.json.error.code, 'EINTAKE_FORBIDDEN');
  assert.match(a.json.error.reason, /webhook_allowed_origins is empty.*"eventgrid\.azure\.net"/);
  assert.equal(a.headers['webhook-allowed-origin'], undefined, 'the header is the consent (4.2): absent');
  assert.equal(a.headers['webhook-allowed-rate'], undefined);
  assert.equal(a.headers.allow, 'POST, OPTIONS');

  const k8s = await options(port, { 'webhook-request-origin': GRID }, '/k8s/audit');
  assert.deepEqual([k8s.status, k8s.headers.allow, k8s.headers['webhook-allowed-origin']], [405, 'POST', undefined]);
  const get = await post(port, '', { method: 'GET' });
  assert.deepEqual([get.status, get.headers.allow], [405, 'POST, OPTIONS']);
  assert.match(get.json.error.reason, /OPTIONS, the webhook handshake/);
});

test('a listed origin is granted (compared case-insensitively, echoed as sent) with the configured rate; others are refused', async (t) => {
  const { port } = await startIntakeService(t, {
    ...ANON,
    webhook_allowed_origins: [GRID, 'Emitter.Example.com'],
    webhook_allowed_rate: 120,
  });
  for (const at of ['/', '/events']) {
    const a = await options(port, { 'webhook-request-origin': 'EventGrid.Azure.NET' }, at);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.headers['webhook-allowed-origin'], 'EventGrid.Azure.NET', at);
    assert.equal(a.headers['webhook-allowed-rate'], '120');
    assert.equal(a.headers.allow, 'POST, OPTIONS');
    assert.deepEqual(a.json, { allowed_origin: 'EventGrid.Azure.NET', allowed_rate: '120' });
  }
  const asked = await options(port, { 'webhook-request-origin': 'emitter.example.com', 'webhook-request-rate': '600' });
  assert.deepEqual([asked.status, asked.headers['webhook-allowed-rate']], [200, '120'], 'the grant is the setting');

  const other = await options(port, { 'webhook-request-origin': 'attacker.example' });
  assert.equal(other.status, 403, other.text);
  assert.match(other.json.error.reason, /"attacker\.example" is not in \[intake\.http\] webhook_allowed_origins/);
  assert.equal(other.headers['webhook-allowed-origin'], undefined);
  const suffix = await options(port, { 'webhook-request-origin': `x.${GRID}` });
  assert.equal(suffix.status, 403, 'a subdomain is another origin');
});

test('the callback form is not followed: a listed origin is granted in the answer, another refused saying so', async (t) => {
  const { port } = await startIntakeService(t, { ...ANON, webhook_allowed_origins: [GRID] });
  const callback = { 'webhook-request-callback': 'https://sender.example/confirm?id=1&key=c2VjcmV0' };
  const granted = await options(port, { 'webhook-request-origin': GRID, ...callback });
  assert.deepEqual([granted.status, granted.headers['webhook-allowed-origin']], [200, GRID], granted.text);
  const refusedOne = await options(port, { 'webhook-request-origin': 'other.example', ...callback });
  assert.equal(refusedOne.status, 403);
  assert.match(refusedOne.json.error.reason, /WebHook-Request-Callback is never followed/);
  assert.doesNotMatch(refusedOne.text, /sender\.example|c2VjcmV0/, 'the callback URL (a secret) is not echoed');
});

test('"*" grants every origin with "*"; the rate is "*" unless set', async (t) => {
  const { port } = await startIntakeService(t, { ...ANON, webhook_allowed_origins: ['*'] });
  const a = await options(port, { 'webhook-request-origin': 'anyone.example', 'webhook-request-rate': '5' });
  assert.equal(a.status, 200, a.text);
  assert.deepEqual([a.headers['webhook-allowed-origin'], a.headers['webhook-allowed-rate']], ['*', '*']);
});

test('the handshake needs no credential and grants none: a token listener answers it, then still refuses an untokened POST', async (t) => {
  const dir = tmpDir(t);
  const { port } = await startIntakeService(t, { auth: tokenAuth(dir), webhook_allowed_origins: [GRID] }, {}, dir);
  const bare = await options(port, { 'webhook-request-origin': GRID });
  assert.deepEqual([bare.status, bare.headers['webhook-allowed-origin']], [200, GRID], bare.text);
  const tokened = await options(port, {
    'webhook-request-origin': GRID,
    authorization: `Bearer ${token({ sub: 'grid' })}`,
  });
  assert.equal(tokened.status, 200, 'a sender that sends its credential along is answered the same');
  const delivery = await post(port, JSON.stringify(event('w1')), {
    headers: { ...STRUCTURED, 'webhook-request-origin': GRID },
  });
  assert.equal(delivery.status, 401, 'a POST is verified as ever');
});

test('malformed and hostile handshake headers: 400 naming the header, the value never echoed in a header', async (t) => {
  const { port } = await startIntakeService(t, { ...ANON, webhook_allowed_origins: ['*'] });
  const none = await options(port, { origin: 'https://page.example', 'access-control-request-method': 'POST' });
  assert.equal(none.status, 400, 'a CORS preflight is no handshake');
  assert.match(none.json.error.reason, /send WebHook-Request-Origin/);
  assert.equal(none.headers['access-control-allow-origin'], undefined);
  for (const bad of ['', 'a..b', '-a.example', 'https://a.example', 'a.example:443', 'a b', 'x'.repeat(300), '*']) {
    const a = await options(port, { 'webhook-request-origin': bad });
    assert.equal(a.status, 400, `${JSON.stringify(bad.slice(0, 20))}: ${a.text}`);
    assert.equal(a.headers['webhook-allowed-origin'], undefined);
    assert.ok(a.text.length < 400, 'a long value is not echoed whole');
  }
  const twice = await options(port, { 'webhook-request-origin': [GRID, 'evil.example'] });
  assert.deepEqual([twice.status, twice.headers['webhook-allowed-origin']], [400, undefined]);
  for (const rate of ['0', '-1', '1.5', 'fast', '9999999999'])
    assert.equal((await options(port, { 'webhook-request-origin': GRID, 'webhook-request-rate': rate })).status, 400);

  // Bytes node's client will not send: obs-text, and a body on the OPTIONS (never read: the connection closes).
  const latin = await raw(
    port,
    Buffer.concat([
      Buffer.from('OPTIONS /events HTTP/1.1\r\nHost: x\r\nWebHook-Request-Origin: ev'),
      Buffer.from([0xe9, 0xff]),
      Buffer.from('.example\r\nConnection: close\r\n\r\n'),
    ]),
  );
  assert.match(latin, /^HTTP\/1\.1 400 /);
  assert.doesNotMatch(latin, /webhook-allowed-origin/i);
  const body = await raw(
    port,
    Buffer.from(
      `OPTIONS /events HTTP/1.1\r\nHost: x\r\nWebHook-Request-Origin: ${GRID}\r\nContent-Length: 5\r\n\r\nhello`,
    ),
  );
  assert.match(body, /^HTTP\/1\.1 200 /);
  assert.match(body, /\r\nwebhook-allowed-origin: \*\r\n/i);
  assert.match(body, /\r\nconnection: close\r\n/i, 'the unread body ends the connection');
});

test('fast-check: any header values get 200 only for a DNS name, with the origin "*", else 400; never a 5xx', async (t) => {
  const { port } = await startIntakeService(t, { ...ANON, webhook_allowed_origins: ['*'] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  // What node's client sends in a header: tab, printable ASCII and latin1 (obs-text).
  const headerValue = fc.stringMatching(/^[\t\x20-\x7e\x80-\xff]{0,80}$/);
  const dnsName = fc.domain();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(headerValue, dnsName),
      fc.option(fc.oneof(headerValue, fc.integer({ min: 1, max: 1e6 }).map(String))),
      fc.option(headerValue),
      async (origin, rate, callback) => {
        const headers: Record<string, string> = { 'webhook-request-origin': origin };
        if (rate !== null) headers['webhook-request-rate'] = rate;
        if (callback !== null) headers['webhook-request-callback'] = callback;
        const a = await options(port, headers, '/events', agent);
        const dns =
          /^([A-Za-z0-9_]|[A-Za-z0-9_][A-Za-z0-9_-]{0,61}[A-Za-z0-9_])(\.([A-Za-z0-9_]|[A-Za-z0-9_][A-Za-z0-9_-]{0,61}[A-Za-z0-9_]))*$/;
        const ows = (v: string) => v.replace(/^[ \t]+|[ \t]+$/g, '');
        const goodOrigin = ows(origin).length <= 253 && dns.test(ows(origin));
        const goodRate = rate === null || /^[1-9][0-9]{0,8}$/.test(ows(rate));
        assert.equal(a.status, goodOrigin && goodRate ? 200 : 400, `${JSON.stringify(headers)}: ${a.text}`);
        assert.equal(a.headers['webhook-allowed-origin'], a.status === 200 ? '*' : undefined);
        assert.equal(a.headers['webhook-allowed-rate'], a.status === 200 ? '*' : undefined);
      },
    ),
    { numRuns: 150 },
  );
});

test('webhook_allowed_origins: each entry a DNS name or "*" alone, refused at its line; the rate positive; a reload applies live', async (t) => {
  const dir = tmpDir(t);
  const base = ['[store]', 'path = "events.db"', '[intake.http]', 'port = 0', 'allow_anonymous = true'];
  const bad = write(dir, 'bad.toml', [...base, `webhook_allowed_origins = ["${GRID}", "https://x.example"]`]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: bad })),
    bad,
    6,
    'intake.http.webhook_allowed_origins[1]',
    'ECONFIG_VALUE',
    /"https:\/\/x\.example" is not a DNS name/,
  );
  const star = write(dir, 'star.toml', [...base, `webhook_allowed_origins = ["${GRID}", "*"]`]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: star })),
    star,
    6,
    'intake.http.webhook_allowed_origins[1]',
    'ECONFIG_VALUE',
    /"\*" allows every origin: list it alone/,
  );
  const zero = write(dir, 'zero.toml', [...base, 'webhook_allowed_rate = 0']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: zero })),
    zero,
    6,
    'intake.http.webhook_allowed_rate',
    'ECONFIG_RANGE',
    /an integer from 1/,
  );
  const ok = write(dir, 'ok.toml', base);
  assert.deepEqual(loadServiceConfig({ configPath: ok }).config.intake?.http?.webhook_allowed_origins, []);

  const { server, port } = await startIntakeService(t, ANON, {}, dir);
  assert.equal((await options(port, { 'webhook-request-origin': GRID })).status, 403);
  server.applyConfig(
    resolveServiceConfig({
      service: { host: HOST, port: 0 },
      store: { path: path.join(dir, 'events.db') },
      log: { level: 'silent' },
      intake: { http: { host: HOST, port: 0, ...ANON, webhook_allowed_origins: [GRID], webhook_allowed_rate: 60 } },
    } as never),
  );
  const after = await options(port, { 'webhook-request-origin': GRID });
  assert.deepEqual([after.status, after.headers['webhook-allowed-rate']], [200, '60'], after.text);
});
