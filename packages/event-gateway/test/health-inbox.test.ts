// The gateway's health probe (src/health.ts) takes its replies on `_GWH.<random>.N`: a client that could read them
// would learn the inbox, and one that could publish there could answer for the service and make /healthz lie. So
// `_GWH` subjects are the gateway's own, whatever a token grants (src/permissions.ts, "Gateway subjects"): no
// subscription, no delivery to a wildcard, no publish. Through the real gateway and event service, a raw TLS socket
// for nats-server's exact texts, the official client as a forger answering the probe's request before the service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEALTH_SUBJECT } from '@event-broker/shared';
import { until, within } from '@event-broker/test-support/wait';
import { connectLine, rawTls, startBridge } from './helpers/bridge.js';

interface Healthz {
  status: number;
  body: { status: string; check?: string; upstream_server_id?: string };
}

test("the health probe's _GWH replies are private: a client granted > / > neither receives, subscribes to nor publishes on them; /healthz stays right", async (t) => {
  const b = await startBridge(t);
  const token = await b.pki.devToken('mallet', { pub: { allow: ['>'] }, sub: { allow: ['>'] } });
  const healthz = async (): Promise<Healthz> => {
    const res = await within(fetch(`http://127.0.0.1:${b.gateway.monitorPort}/healthz`), 'GET /healthz');
    return { status: res.status, body: (await res.json()) as Healthz['body'] };
  };

  // Inside, where the probe's request is meant to go: the test learns the probe's reply subjects there.
  const inside = await b.internal();
  const probeReplies: string[] = [];
  inside.subscribe(HEALTH_SUBJECT, { callback: (_e, m) => void (m.reply !== undefined && probeReplies.push(m.reply)) });
  await inside.flush();

  // mallet on a raw socket: everything, and the probe's replies by name.
  const raw = await rawTls(b.gateway.port, { ca: b.pki.ca, ...b.pki.client });
  t.after(() => raw.socket.destroy());
  raw.socket.write(`${connectLine({ auth_token: token })}SUB > 1\r\nSUB _GWH.> 2\r\nPING\r\n`);
  const subscribed = await raw.readUntil('PONG\r\n');
  // mallet again with the official client, answering the probe's request as the service would, but first.
  const forger = await b.external(token);
  let forgedAnswers = 0;
  forger.subscribe(HEALTH_SUBJECT, {
    callback: (_e, m) => {
      forgedAnswers++;
      m.respond('{"server_id":"forged"}');
    },
  });
  const forgerErrors: string[] = [];
  void (async () => {
    for await (const st of forger.status()) if (st.type === 'error') forgerErrors.push(String(st.data));
  })();
  await forger.flush();

  const first = await healthz();
  await until(() => probeReplies.length >= 1, 'the probe request reaches the service');
  raw.socket.write('PING\r\n');
  const seen = await raw.readUntil('PONG\r\n');
  t.diagnostic(`SUB > and SUB _GWH.>: ${JSON.stringify(subscribed)}`);
  t.diagnostic(`what mallet's subscriptions received during /healthz: ${JSON.stringify(seen)}`);
  t.diagnostic(`/healthz: ${first.status} ${JSON.stringify(first.body)}; forged answers sent: ${forgedAnswers}`);

  assert.equal(subscribed, `-ERR 'Permissions Violation for Subscription to "_GWH.>"'\r\nPONG\r\n`);
  assert.doesNotMatch(seen, /^MSG _GWH/m, 'no _GWH reply delivered to > (nor to _GWH.>, refused)');
  // The probe's request itself reaches a subscriber of its subject (> here): its answer is refused.
  assert.ok(forgedAnswers >= 1, 'the forger saw the request');
  await until(
    () => forgerErrors.length > 0,
    "the forger's answer is refused",
    5000,
    () => String(forgerErrors),
  );
  assert.deepEqual(forgerErrors.slice(0, 1), ['PERMISSIONS_VIOLATION']);
  assert.equal(first.status, 200);
  assert.equal(first.body.check, 'round-trip');
  assert.equal(first.body.upstream_server_id, b.service.serverId, 'the service answered, not the forger');

  // Knowing the inbox (here from inside) changes nothing: the subscription and a forged reply to the next check's
  // subject are refused with nats-server's texts, and the connection stays open.
  const inbox = probeReplies[0]!.slice(0, probeReplies[0]!.lastIndexOf('.'));
  assert.match(inbox, /^_GWH\.[\w-]+$/);
  const next = `${inbox}.${probeReplies.length + 1}`;
  const forged = '{"server_id":"forged"}';
  raw.socket.write(`SUB ${inbox}.* 3\r\nPUB ${next} ${forged.length}\r\n${forged}\r\nPING\r\n`);
  assert.equal(
    await raw.readUntil('PONG\r\n'),
    `-ERR 'Permissions Violation for Subscription to "${inbox}.*"'\r\n-ERR 'Permissions Violation for Publish to "${next}"'\r\nPONG\r\n`,
  );
  const second = await healthz();
  assert.equal(second.status, 200);
  assert.equal(second.body.upstream_server_id, b.service.serverId, JSON.stringify(second.body));
  raw.socket.write('PING\r\n');
  assert.doesNotMatch(await raw.readUntil('PONG\r\n'), /^MSG _GWH/m, "nor the second check's reply");
  // What mallet is allowed still works on the same connection.
  raw.socket.write('PUB ok.x 2\r\nhi\r\nPING\r\n');
  assert.equal(await raw.readUntil('PONG\r\n'), 'MSG ok.x 1 2\r\nhi\r\nPONG\r\n');
});
