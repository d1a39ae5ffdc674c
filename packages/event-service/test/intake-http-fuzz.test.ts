// Hostile input at the HTTP intake: fast-check bodies and headers (any of the three modes' media types or others,
// ce- headers of any value, JSON and not, batches of anything, tokens of garbage) never get a 5xx and never go
// unanswered; a body that never ends, or headers that never end, are cut by the listener's timeouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { createCertificateAuthority, createServerCertificate } from '@event-broker/dev-tools';
import { tmpDir } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';
import { writePem } from './helpers/pem-files.js';
import { event, HOST, post, startIntakeService, token, tokenAuth } from './helpers/intake-http.js';

const printable = fc.stringMatching(/^[\x20-\x7e]{0,60}$/);
const contentType = fc.oneof(
  fc.constantFrom(
    'application/cloudevents+json',
    'application/cloudevents-batch+json',
    'application/cloudevents+json; charset=latin1',
    'application/json',
    'text/plain',
    'application/octet-stream',
  ),
  printable,
);
const ceHeaders = fc.dictionary(
  fc.constantFrom(
    'ce-specversion',
    'ce-id',
    'ce-source',
    'ce-type',
    'ce-time',
    'ce-subject',
    'ce-producer',
    'ce-x',
    'ce-data',
    'ce-authid',
    'ce-Bad_Name',
  ),
  printable,
  { maxKeys: 6 },
);
const jsonValue = fc.jsonValue({ maxDepth: 4 });
const body = fc.oneof(
  fc.string({ maxLength: 200 }),
  jsonValue.map((v) => JSON.stringify(v) ?? ''),
  fc.array(fc.oneof(jsonValue, fc.constant(event('e'))), { maxLength: 5 }).map((v) => JSON.stringify(v)),
  fc
    .record({ type: fc.constantFrom('nodeTerminated', 'scanJobCreated', 'x'), id: printable })
    .map((v) => JSON.stringify({ ...event('f'), ...v })),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
);
const auth = fc.oneof(
  fc.constant(undefined),
  printable.map((s) => `Bearer ${s}`),
  fc.constant(`Bearer ${token({ sub: 'fuzz', event_types: ['node:*'] })}`),
);

test('any body and headers: never a 5xx, never unanswered', async (t) => {
  const dir = tmpDir(t);
  const { port } = await startIntakeService(
    t,
    { auth: tokenAuth(dir), max_body: 4096 },
    {
      service: { host: HOST, port: 0, max_payload: 1024 },
    } as never,
    dir,
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  await fc.assert(
    fc.asyncProperty(
      contentType,
      ceHeaders,
      body,
      auth,
      fc.constantFrom('/', '/events', '/k8s/audit'),
      async (ct, ce, b, a, path) => {
        const headers: Record<string, string> = {
          'content-type': ct,
          ...ce,
          ...(a !== undefined && { authorization: a }),
        };
        const answer = await post(port, b, { path, headers, agent }, 5_000);
        assert.ok(answer.status >= 200 && answer.status < 500, `${answer.status} ${answer.text}`);
        if (answer.status >= 400) assert.equal(typeof answer.json?.error?.code, 'string', answer.text);
      },
    ),
    { numRuns: 300 },
  );
});

test('silence, headers or a body that never end are cut by headers_timeout and request_timeout', async (t) => {
  const dir = tmpDir(t);
  const { port } = await startIntakeService(
    t,
    { auth: tokenAuth(dir), headers_timeout: 300, request_timeout: 600 },
    {},
    dir,
  );
  const hang = async (bytes: string) => {
    const socket = net.connect(port, HOST);
    t.after(() => socket.destroy());
    socket.write(bytes);
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    await within(new Promise((r) => socket.once('close', r)), 'the listener closes the connection', 5_000);
    return got;
  };
  await hang('POST /events HTTP/1.1\r\nHost: x\r\n');
  // A peer that sends nothing at all holds no max_connections slot either.
  await hang('');
  const slowBody = await hang(
    `POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nAuthorization: Bearer ${token({ sub: 'a' })}\r\nContent-Length: 100\r\n\r\n{`,
  );
  assert.doesNotMatch(slowBody, /HTTP\/1\.1 [25]\d\d/, 'no success and no server error for an unfinished body');
});

test('a TLS handshake that never starts is cut by headers_timeout', async (t) => {
  const dir = tmpDir(t);
  const ca = await createCertificateAuthority();
  const files = writePem(dir, 'server', await createServerCertificate(ca));
  const tls = { cert_path: files.cert, key_path: files.key };
  const { port } = await startIntakeService(
    t,
    { tls, auth: tokenAuth(dir), headers_timeout: 300, request_timeout: 60_000 },
    {},
    dir,
  );
  const socket = net.connect(port, HOST);
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  socket.resume(); // its end read, so 'close' follows the listener's
  // node's default is 120 s: a silent peer per max_connections slot would hold the listener that long.
  await within(new Promise((r) => socket.once('close', r)), 'the listener closes the silent socket', 5_000);
});

test('an unverified caller holds no body: 401 before a byte of it is read, the connection closed; max_connections caps sockets', async (t) => {
  const dir = tmpDir(t);
  const { port } = await startIntakeService(t, { auth: tokenAuth(dir), max_connections: 2 }, {}, dir);
  const socket = net.connect(port, HOST);
  t.after(() => socket.destroy());
  let got = '';
  socket.on('data', (d) => (got += d.toString()));
  socket.on('error', () => {}); // a reset after the answer: the body it announced was never read
  const closed = new Promise((r) => socket.once('close', r));
  // Headers announcing 100 MB, then nothing: the answer cannot have waited for the body.
  socket.write(
    'POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: 100000000\r\n\r\n',
  );
  await within(closed, 'answered and closed without the body', 5_000);
  assert.match(got, /^HTTP\/1\.1 401 /);

  assert.match(got, /\r\nconnection: close\r\n/i);
  assert.match(got, /\r\nwww-authenticate: Bearer realm="event-intake"\r\n/i);

  const held = [net.connect(port, HOST), net.connect(port, HOST)];
  t.after(() => held.forEach((s) => s.destroy()));
  for (const s of held) s.on('error', () => {});
  await Promise.all(held.map((s) => within(new Promise((r) => s.once('connect', r)), 'connected')));
  await within(
    (async () => {
      // The listener counts a socket once it accepts it: retry until the third is the one past the cap.
      for (let i = 0; i < 20; i++) {
        const third = net.connect(port, HOST);
        third.on('error', () => {});
        const closedAtOnce = await new Promise<boolean>((r) => {
          third.once('close', () => r(true));
          third.once('data', () => r(false));
          third.write('POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
        });
        third.destroy();
        if (closedAtOnce) return;
      }
      assert.fail('every third connection was served');
    })(),
    'a third connection is closed at accept',
    5_000,
  );
});

test('Expect: 100-continue: no 100 (an invitation to send the body) before the caller is verified; one after', async (t) => {
  const dir = tmpDir(t);
  const { port } = await startIntakeService(t, { auth: tokenAuth(dir) }, {}, dir);
  const expect = async (authorization: string) => {
    const s = net.connect(port, HOST);
    t.after(() => s.destroy());
    s.on('error', () => {});
    let text = '';
    const first = new Promise<void>((r) => s.once('data', (d) => ((text = d.toString()), r())));
    s.write(
      `POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\n${authorization}Expect: 100-continue\r\nContent-Length: 2\r\n\r\n`,
    );
    await within(first, 'a first answer to Expect: 100-continue', 5_000);
    return text;
  };
  assert.match(await expect(''), /^HTTP\/1\.1 401 /);
  assert.match(await expect(`Authorization: Bearer ${token({ sub: 'a' })}\r\n`), /^HTTP\/1\.1 100 Continue\r\n/);
});
