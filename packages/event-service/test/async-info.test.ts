// An asynchronous INFO (lame duck here; new limits at the gateway) waits for the client's first PONG, as nats-server
// holds it (client.go firstPongSent): a client that has sent CONNECT + PING reads the PONG before anything else, and
// the strict ones (the NATS C client) fail their connect on an INFO in its place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@event-broker/shared';
import { connectAndHandshake, connectRaw } from '@event-broker/test-support/raw';
import { quietFor } from '@event-broker/test-support/wait';
import { resolveServiceConfig } from '../src/config.js';
import { EventServer } from '../src/server.js';

test('an INFO sent while a client has had no PONG yet follows its first PONG; an admitted client gets it at once', async (t) => {
  const config = resolveServiceConfig({
    // Long enough that nobody is closed for lame duck during the test.
    service: { host: '127.0.0.1', port: 0, lame_duck_duration: '120s', lame_duck_grace_period: '100s' },
    log: { level: 'silent' },
  });
  const server = new EventServer(config, createLogger({ format: 'text', level: 'silent', name: 'test' }), {
    handlers: false,
  });
  await server.listen();
  t.after(() => server.close());
  const endpoint = { host: '127.0.0.1', port: server.port };
  const admitted = await connectAndHandshake(endpoint);
  t.after(() => admitted.close());
  const fresh = await connectRaw(endpoint);
  t.after(() => fresh.close());

  void server.lameDuck();
  await admitted.expect(/^INFO \{.*"ldm":true.*\} ?\r\n/);
  await quietFor(100);
  assert.equal(fresh.buffered, '', 'nothing before its CONNECT and first PING are answered');
  fresh.send('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n');
  await fresh.expect(/^PONG\r\nINFO \{.*"ldm":true.*\} ?\r\n/);
});
