// The service's own client port (internal-port.ts): loopback, ephemeral, admitting only the per-process token; its
// connections reach the same broker as every client, hold subscriptions outside listener_limit, and are not in the
// public port's client table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'nats';
import { createLogger } from '@event-broker/shared';
import { until } from '@event-broker/test-support/wait';
import { resolveServiceConfig } from '../src/config.js';
import { EventServer } from '../src/server.js';

async function service(t: { after(fn: () => unknown): void }, store?: { backend: 'jetstream' }) {
  const config = resolveServiceConfig({
    service: { host: '127.0.0.1', port: 0, listener_limit: 2, token: 'public-token' },
    ...(store && { store }),
    log: { level: 'silent' },
  });
  const server = new EventServer(config, createLogger({ format: 'text', level: 'silent', name: 'test' }), {
    handlers: false,
  });
  await server.listen();
  t.after(() => server.close());
  return server;
}

test('the internal port admits the service token only, on loopback, and its subscriptions are not listeners', async (t) => {
  const server = await service(t, { backend: 'jetstream' });
  const port = server.internalPort!;
  const opts = port.connectOptions();
  assert.match(opts.servers, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(port.port, server.port);
  for (const token of [undefined, 'public-token', 'guess']) {
    await assert.rejects(
      connect({ servers: opts.servers, ...(token && { token }), reconnect: false }),
      /AUTHORIZATION_VIOLATION|Authorization Violation/i,
    );
  }
  const own = await connect({ ...opts, reconnect: false });
  t.after(() => own.close());
  // More subscriptions than listener_limit: the service's own are not listeners.
  let got = 0;
  for (const s of ['a', 'b', 'c', 'd']) own.subscribe(`internal.${s}`, { callback: () => void (s === 'c' && got++) });
  await own.flush();
  assert.equal(server.broker.listenerCount, 0);
  assert.equal(server.clients.size, 0, 'not in the public client table');
  // The same broker: a public client's message reaches it.
  const pub = await connect({ servers: `127.0.0.1:${server.port}`, token: 'public-token', reconnect: false });
  t.after(() => pub.close());
  pub.publish('internal.c', 'hello');
  await pub.flush();
  await until(() => got === 1, 'the internal subscriber gets the public message');
});

test('without the JetStream backend there is no internal port', async (t) => {
  const server = await service(t);
  assert.equal(server.internalPort, undefined);
});
