// A TLS reader paused by one record is passed nothing more until resumed (shared server/transport.ts): the records
// one read brought are passed on together after the read, and those behind the one that paused the reader wait for
// resume(), in order. A client whose outbound or a gateway whose upstream buffer is full pauses its publisher this
// way; passing the rest of the read would answer the PING behind the publishes that filled it (service-restart.test,
// "a paused publisher is not read", failed so under load).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, createServerCertificate } from '@event-broker/dev-tools';
import { quietFor, until, within } from '@event-broker/test-support/wait';
import { SocketTransport } from '../src/server/transport.js';

/** Several TLS records (16 KB of cleartext at most each) in one write: on loopback, most arrive in one read. */
const BYTES = 256 * 1024;

test('a TLS reader paused by a record is passed nothing more until resumed, then the rest in order', async (t) => {
  const ca = await createCertificateAuthority();
  const pair = await createServerCertificate(ca);
  const chunks: Buffer[] = [];
  let transport: SocketTransport | undefined;
  const accepted: tls.TLSSocket[] = [];
  const server = tls.createServer({ cert: pair.cert, key: pair.key }, (socket) => {
    accepted.push(socket);
    transport = new SocketTransport(socket);
    transport.start({
      onData: (chunk) => {
        chunks.push(Buffer.from(chunk));
        if (chunks.length === 1) transport!.pause();
      },
      onDrain: () => {},
      onClose: () => {},
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of accepted) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;

  const client = tls.connect({ host: '127.0.0.1', port, ca: ca.cert, servername: 'localhost' });
  client.on('error', () => {}); // the server's side is destroyed first at the end
  await within(new Promise((resolve) => client.once('secureConnect', resolve)), 'TLS handshake');
  const sent = Buffer.alloc(BYTES);
  for (let i = 0; i < BYTES; i++) sent[i] = i % 251;
  client.write(sent);

  await until(() => chunks.length > 0, 'the first record passed on');
  // Absence is the point: what the read brought behind the first record must wait while the reader is paused.
  await quietFor(200);
  assert.equal(chunks.length, 1, 'nothing passed on while paused');

  transport!.resume();
  await until(() => Buffer.concat(chunks).length === BYTES, 'the rest passed on after resume()');
  assert.ok(Buffer.concat(chunks).equals(sent), 'every byte once, in order');
  client.destroy();
});
