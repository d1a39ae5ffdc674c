// The gateway's max_connections against sockets that arrive together and never finish their TLS handshake (no
// client certificate needed to try): the cap counts them from accept, a client with a certificate and a token
// still gets in (the oldest connection not yet admitted gives its slot), admitted clients are never closed for
// room, and a socket that never handshakes is closed at auth_timeout, counted from accept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until, within } from '@event-broker/test-support/wait';
import { record, startBridge } from './helpers/bridge.js';
import { idleSockets } from '@event-broker/test-support/raw';

const LIMIT = 10;
const WAIT_MS = 8000;

test('100 handshake-less sockets at once hold at most max_connections slots, and a client with a certificate and token still gets in', async (t) => {
  // auth_timeout long enough that no slot is freed by it while the test counts.
  const b = await startBridge(t, { config: { gateway: { max_connections: LIMIT, auth_timeout: 8000 } } });
  const idle = await idleSockets(t, b.gateway.port, 100);
  await until(
    () => idle.closed() >= 90,
    '90 of the 100 closed',
    WAIT_MS,
    () => `${idle.open()} still open`,
  );
  assert.equal(idle.open(), LIMIT, 'the cap holds exactly');
  assert.equal(b.gateway.clients.size, 0, 'none of them is a client');

  const token = await b.pki.devToken('alice', { pub: { allow: ['in.>'] }, sub: { allow: ['in.>'] } });
  const nc = await b.external(token);
  const got = record(nc, 'in.x');
  await nc.flush();
  nc.publish('in.x', 'through');
  await until(() => got.msgs.length === 1, 'the admitted client gets its own message');
  assert.equal(idle.open(), LIMIT - 1, 'the oldest handshake-less socket gave its slot');
});

test('admitted clients are never closed to make room: with max_connections admitted, newcomers are greeted and refused', async (t) => {
  const b = await startBridge(t, { config: { gateway: { max_connections: 3 } } });
  const token = await b.pki.devToken('bob', { pub: { allow: ['in.>'] }, sub: { allow: ['in.>'] } });
  const clients = [];
  for (let i = 0; i < 3; i++) clients.push(await b.external(token));
  const idle = await idleSockets(t, b.gateway.port, 5);
  await until(
    () => idle.refused() === 5 && idle.closed() === 5,
    'all five refused',
    WAIT_MS,
    () => `${idle.refused()} refused, ${idle.closed()} closed`,
  );
  for (const nc of clients) await within(nc.flush(), 'an admitted client is still served');
});

test('a socket that never starts its TLS handshake is closed at auth_timeout from accept', async (t) => {
  const b = await startBridge(t, { config: { gateway: { auth_timeout: 300 } } });
  const idle = await idleSockets(t, b.gateway.port, 3);
  // Bounded well above auth_timeout; before, the handshake alone had max(2 s, auth_timeout), then auth_timeout again.
  await until(
    () => idle.closed() === 3,
    'the three closed',
    WAIT_MS,
    () => `${idle.open()} still open`,
  );
});

test('the WebSocket port counts sockets from accept too', async (t) => {
  const b = await startBridge(t, {
    config: { gateway: { max_connections: LIMIT, auth_timeout: 8000 }, websocket: { host: '127.0.0.1', port: 0 } },
  });
  const idle = await idleSockets(t, b.gateway.websocketPort!, 40);
  await until(
    () => idle.closed() >= 30,
    '30 of the 40 closed',
    WAIT_MS,
    () => `${idle.open()} still open`,
  );
  assert.equal(idle.open(), LIMIT);
});
