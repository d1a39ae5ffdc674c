// The gateway's WebSocket endpoint ([websocket], wss with the [tls] certificate, client certificate required):
// nats.ws, the browser client, connects with a token and exchanges messages with internal clients of the service;
// without a client certificate it is refused like a TCP client.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import WebSocket from 'ws';
import * as natsWs from 'nats.ws';
import { until, within } from '@event-broker/test-support/wait';
import { record, startBridge, type Bridge, type Pki } from './helpers/bridge.js';

/**
 * nats.ws in Node: no global WebSocket in Node 20, and the browser API takes no TLS options anyway, so nats.ws's
 * `wsFactory` hook builds the `ws` socket with the CA and (in a browser, the user's) client certificate.
 */
function connectWss(t: TestContext, b: Bridge, token: string, withCert: boolean): Promise<natsWs.NatsConnection> {
  const pki: Pki = b.pki;
  const tlsOptions = {
    ca: fs.readFileSync(pki.ca),
    ...(withCert && { cert: fs.readFileSync(pki.client.cert), key: fs.readFileSync(pki.client.key) }),
  };
  const opts: natsWs.ConnectionOptions & {
    wsFactory: (u: string) => Promise<{ socket: unknown; encrypted: boolean }>;
  } = {
    servers: `wss://localhost:${b.gateway.websocketPort}`,
    token,
    reconnect: false,
    timeout: 3000,
    wsFactory: async (u) => ({ socket: new WebSocket(u, tlsOptions), encrypted: true }),
  };
  return within(natsWs.connect(opts), 'nats.ws connects over wss').then((nc) => {
    t.after(() => (nc.isClosed() ? undefined : nc.close()));
    return nc;
  });
}

test('nats.ws over wss with a client certificate and a token reaches internal subscribers, and is refused without the certificate', async (t) => {
  const b = await startBridge(t, { config: { websocket: { host: '127.0.0.1', port: 0 } } });
  assert.ok(b.gateway.websocketPort, 'the gateway reports its WebSocket port');
  const token = await b.pki.devToken('browser', { pub: { allow: ['web.>'] }, sub: { allow: ['news.>'] } });
  const inside = await b.internal();
  const got = record(inside, 'web.>');
  await inside.flush();

  const ws = await connectWss(t, b, token, true);
  await until(() => {
    ws.publish('web.click', natsWs.StringCodec().encode('hello'));
    return got.msgs.length > 0;
  }, 'a nats.ws publish reaches the internal subscriber');
  assert.equal(got.msgs[0]!.subject, 'web.click');
  assert.equal(got.msgs[0]!.string(), 'hello');

  // And back: an internal publish reaches the nats.ws subscriber.
  const news: string[] = [];
  ws.subscribe('news.today', { callback: (_e, m) => news.push(natsWs.StringCodec().decode(m.data)) });
  await ws.flush();
  await until(() => {
    inside.publish('news.today', 'headline');
    return news.length > 0;
  }, 'an internal publish reaches the nats.ws subscriber');
  assert.equal(news[0], 'headline');

  await assert.rejects(connectWss(t, b, token, false), (err: unknown) => {
    assert.ok(err instanceof natsWs.NatsError, String(err));
    assert.equal(err.code, natsWs.ErrorCode.AuthorizationViolation);
    return true;
  });
});
