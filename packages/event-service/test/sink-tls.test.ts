// Mutual TLS for grpcs:// and https:// sinks (sinks/tls-files.ts under grpc-transport.ts and transport.ts), on the
// SQLite backend's pump, against real receivers (an @grpc/grpc-js server, a node:https server) with certificates
// made by the dev PKI: a receiver whose certificate another CA signed is refused and retried, and accepted once the
// sink's CA file is renewed in place (no restart); a receiver requiring client certificates sees the sink's and
// refuses a sink without one.
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type CertificatePem,
} from '@event-broker/dev-tools';
import { startReceiver } from '@event-broker/test-support/http';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { HttpSink } from '../src/handlers/sinks/http.js';
import type { HttpSinkOptions } from '../src/handlers/sinks/options.js';
import { CHECK_EVERY_MS, MAX_TLS_FILE_BYTES, TlsFiles } from '../src/handlers/sinks/tls-files.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { startGrpcReceiver } from './helpers/grpc-receiver.js';
import { logger } from './helpers/http-sink.js';
import { writePem } from './helpers/pem-files.js';

interface Pki {
  caA: CertificatePem;
  caB: CertificatePem;
  serverA: CertificatePem;
  serverB: CertificatePem;
  client: CertificatePem;
}
let pki: Pki;

before(async () => {
  const caA = await createCertificateAuthority({ commonName: 'sink test CA A' });
  const caB = await createCertificateAuthority({ commonName: 'sink test CA B' });
  pki = {
    caA,
    caB,
    serverA: await createServerCertificate(caA),
    serverB: await createServerCertificate(caB),
    client: await createClientCertificate(caA, 'broker-sink'),
  };
});

interface Received {
  ids: string[];
  clientCns: Array<string | undefined>;
}

/** A receiver of either kind: its URL and what it got. */
type Start = (
  t: TestContext,
  tls: { cert: string; key: string; ca?: string },
) => Promise<{ url: string; got: () => Received }>;

const grpcs: Start = async (t, tls) => {
  const r = await startGrpcReceiver(t, { tls });
  return {
    url: r.url,
    got: () => ({ ids: r.events().map((e) => e.id), clientCns: r.got.map((c) => c.clientCn) }),
  };
};

const httpsReceiver: Start = async (t, tls) => {
  const got: Received = { ids: [], clientCns: [] };
  const server = https.createServer(
    { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.ca !== undefined, rejectUnauthorized: true },
    (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
        got.ids.push((JSON.parse(body) as { id: string }).id);
        got.clientCns.push([peer?.subject?.CN].flat()[0]);
        res.writeHead(204).end();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined));
  t.after(() => server.closeAllConnections());
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got: () => got };
};

function setup(t: TestContext, opts: Partial<HttpSinkOptions> & { url: string }, ids: string[]) {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  store.append(
    ids.map((id) => ({
      id,
      type: 'scanJobCreated',
      body: JSON.stringify({ specversion: '1.0', id, source: 's', type: 'scanJobCreated', data: { id } }),
      sinks: ['feed'],
    })),
  );
  const sink = new HttpSink(store, {
    name: 'feed',
    backoffBaseMs: 20,
    backoffCapMs: 100,
    timeoutMs: 2000,
    maxAttempts: 1000,
    logger,
    ...opts,
  });
  t.after(() => sink.close());
  sink.wake();
  return { store, sink };
}

for (const [kind, start] of [
  ['grpcs', grpcs],
  ['https', httpsReceiver],
] as const) {
  test(`${kind}: a receiver whose certificate another CA signed is refused and retried; a CA file renewed in place is used without a restart`, async (t) => {
    const dir = tmpDir(t, 'sink-tls-');
    const caPath = path.join(dir, 'ca.pem');
    fs.writeFileSync(caPath, pki.caA.cert);
    const r = await start(t, pki.serverB);
    const { store, sink } = setup(t, { url: r.url, tls: { caPath } }, ['t1', 't2']);
    await until(() => sink.stats.failedAttempts >= 3, 'refused and retried');
    assert.deepEqual(r.got().ids, [], 'nothing reached the receiver');
    assert.equal(store.held, 2);
    assert.equal(store.deadLetters().length, 0, 'retried, not dead-lettered');
    // The CA that signed the receiver's certificate, written over the old file.
    fs.writeFileSync(caPath, pki.caB.cert);
    await until(() => store.held === 0, 'delivered with the renewed CA');
    assert.deepEqual(r.got().ids, ['t1', 't2']);
  });

  test(`${kind}: a receiver requiring client certificates sees the sink's; a sink without one is refused`, async (t) => {
    const dir = tmpDir(t, 'sink-tls-');
    const caPath = path.join(dir, 'ca.pem');
    fs.writeFileSync(caPath, pki.caA.cert);
    const client = writePem(dir, 'client', pki.client);
    const r = await start(t, { ...pki.serverA, ca: pki.caA.cert });

    const bare = setup(t, { url: r.url, tls: { caPath } }, ['n1']);
    await until(() => bare.sink.stats.failedAttempts >= 2, 'refused without a client certificate');
    assert.equal(bare.store.held, 1);
    bare.sink.close();

    const { store } = setup(t, { url: r.url, tls: { caPath, certPath: client.cert, keyPath: client.key } }, ['m1']);
    await until(() => store.held === 0, 'delivered with the client certificate');
    assert.deepEqual(r.got().ids, ['m1'], 'only the sink with a certificate got through');
    assert.deepEqual(r.got().clientCns, ['broker-sink']);
  });
}

test('a TLS file that cannot be read fails the delivery (retried, logged once) until it can', async (t) => {
  const dir = tmpDir(t, 'sink-tls-');
  const caPath = path.join(dir, 'ca.pem');
  const r = await grpcs(t, pki.serverA);
  const warned: Array<[object, string]> = [];
  const told = { error: () => undefined, warn: (obj: object, msg: string) => void warned.push([obj, msg]) };
  const { store, sink } = setup(t, { url: r.url, tls: { caPath }, logger: told }, ['f1']);
  await until(() => sink.stats.failedAttempts >= 3, 'failed while the file is missing');
  assert.match(sink.lastError?.message ?? '', /unreachable: TLS files: .*ENOENT/);
  assert.deepEqual(
    warned.map(([obj, msg]) => [(obj as { sink: string }).sink, msg]),
    [['feed', 'sink TLS files not loaded: deliveries fail until they load']],
    'told once, not per attempt',
  );
  fs.writeFileSync(caPath, pki.caA.cert);
  await until(() => store.held === 0, 'delivered once the file is there');
  assert.deepEqual(r.got().ids, ['f1']);
});

test('TLS files are re-read when changed, at most once a second; a set that does not load keeps the previous one', (t) => {
  const dir = tmpDir(t, 'sink-tls-');
  const caPath = path.join(dir, 'ca.pem');
  const client = writePem(dir, 'client', pki.client);
  fs.writeFileSync(caPath, pki.caA.cert);
  let now = 0;
  const files = new TlsFiles({ caPath, certPath: client.cert, keyPath: client.key }, undefined, () => now);
  const first = files.current();
  assert.equal(first.version, 1);
  assert.equal(first.ca!.toString(), pki.caA.cert);
  fs.writeFileSync(caPath, pki.caB.cert);
  assert.equal(files.current().version, 1, 'not looked at again within the second');
  now += CHECK_EVERY_MS;
  assert.equal(files.current().ca!.toString(), pki.caB.cert, 'renewed');
  assert.equal(files.current().version, 2);
  // Half written: the previous set stays, the problem is said.
  fs.writeFileSync(client.cert, pki.client.cert.slice(0, 100));
  now += CHECK_EVERY_MS;
  assert.equal(files.current().version, 2);
  assert.ok(files.problem !== undefined);
  fs.writeFileSync(client.cert, pki.client.cert);
  now += CHECK_EVERY_MS;
  assert.equal(files.current().version, 3, 'whole again');
  assert.equal(files.problem, undefined);
});

test('a TLS path naming something other than a PEM-sized regular file is refused before it is read', (t) => {
  const dir = tmpDir(t, 'sink-tls-');
  const big = path.join(dir, 'big.pem');
  fs.writeFileSync(big, Buffer.alloc(MAX_TLS_FILE_BYTES + 1, 0x41));
  for (const [caPath, why] of [
    [big, /is \d+ bytes, more than a PEM file's 1048576/],
    [dir, /is not a regular file/],
    // A device is never read (a read of /dev/zero would not end).
    ['/dev/zero', /is not a regular file/],
  ] as const) {
    const files = new TlsFiles({ caPath });
    assert.throws(
      () => files.current(),
      (err: Error) => why.test(err.message) && err.message.includes(caPath),
    );
  }
});

test('https with pipelining: a CA file renewed while POSTs are pipelined is used once they end, not on a second connection beside them', async (t) => {
  // m3 and m4 are held. The CA file is renewed, then m3 answered: without the wait, the next POST (m7) went on a new
  // connection beside m4..m6 and was answered (counted) before m4 failed, so m7 was not sent again after m4: a
  // receiver keeping each event's latest attempt saw m7 before m4.
  const dir = tmpDir(t, 'sink-tls-');
  const caPath = path.join(dir, 'ca.pem');
  fs.writeFileSync(caPath, pki.caA.cert);
  const held = new Map<string, http.ServerResponse>();
  const r = await startReceiver(t, {
    tls: pki.serverA,
    answer: (_n, res, d) => {
      if ((d.id === 'm3' || d.id === 'm4') && !held.has(d.id)) return void held.set(d.id, res);
      res.writeHead(204).end();
    },
  });
  const ids = Array.from({ length: 10 }, (_, i) => `m${i}`);
  const { store } = setup(t, { url: r.url, tls: { caPath }, pipelining: 4 }, ids);
  await until(() => held.has('m3') && held.has('m4'), 'm3 and m4 held');
  fs.writeFileSync(caPath, `${pki.caA.cert}\n`); // renewed (another size)
  // The sink stat'ed the file last before this write: its next POST stats it again once CHECK_EVERY_MS passed.
  await until(() => Date.now() - fs.statSync(caPath).mtimeMs > CHECK_EVERY_MS + 10, 'the renewal due to be seen');
  held.get('m3')!.writeHead(204).end();
  // m7 may go only once m4..m6 ended: it does not arrive meanwhile (bounded wait; it arriving is the failure).
  await until(() => r.got.some((g) => g.id === 'm7'), 'm7 sent early', 1000).catch(() => undefined);
  held.get('m4')!.writeHead(503).end();
  await until(() => store.held === 0, 'all delivered', 10_000);
  const got = r.got.map((g) => g.id);
  assert.ok(got.lastIndexOf('m7') > got.lastIndexOf('m4'), `m7's latest attempt after m4's: ${got.join(' ')}`);
});
