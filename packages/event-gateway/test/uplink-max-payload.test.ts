// The gateway in front of a service whose max_payload is smaller than its own (issue 11 follow-up): a client's
// publish the gateway would allow but the service refuses must not take the link down for every other client. The
// gateway tells its clients the smaller limit (INFO, and an async INFO once the link comes up), refuses a larger
// publish to that client alone with nats-server's `Maximum Payload Violation`, and its uplink never sends what the
// hub's INFO said it refuses. The limit told leaves room for the identity stamp the uplink adds to each client
// message (AUTH_STAMP_MAX_BYTES): a publish at the told limit still reaches the service. Real service and gateway
// over TLS, the official client and a raw TLS socket.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { StringCodec, type NatsConnection } from 'nats';
import { AUTH_STAMP_MAX_BYTES } from '@event-broker/shared';
import { freePort } from '@event-broker/test-support/processes';
import { until, within } from '@event-broker/test-support/wait';
import {
  connectLine,
  externalClient,
  gatewayWants,
  internalClient,
  leafOf,
  rawTls,
  record,
  startBridge,
  startService,
  startTestGateway,
  devPki,
} from './helpers/bridge.js';

const sc = StringCodec();
const MiB = 1024 * 1024;
/** The gateway allows 4 MiB; the service keeps the default 1 MiB. */
const GATEWAY_MAX = 4 * MiB;
const SERVICE_MAX = MiB;
/** What a client is told behind an upstream of `max`: room left for the identity stamp. */
const told = (max: number) => max - AUTH_STAMP_MAX_BYTES;
const WAIT_MS = 10_000;

function publishError(nc: NatsConnection, subject: string, bytes: number): unknown {
  try {
    nc.publish(subject, new Uint8Array(bytes));
    return undefined;
  } catch (err) {
    return err;
  }
}

test('a 2 MiB publish through a 4 MiB gateway to a 1 MiB service is refused to its sender alone; the link and every other client go on', async (t: TestContext) => {
  const b = await startBridge(t, { config: { gateway: { max_payload: GATEWAY_MAX } } });
  const internal = await b.internal();
  const rec = record(internal, 'mp.>');
  await internal.flush();
  await until(() => gatewayWants(b.gateway, 'mp.>'), "the service's interest reaches the gateway", WAIT_MS);
  const token = await b.pki.devToken('alice', { pub: { allow: ['mp.>'] }, sub: { allow: ['mp.>'] } });
  const linkBefore = await leafOf(b.service);
  assert.ok(linkBefore !== undefined);

  // A client that ignores the INFO: the bytes on the wire, 2 MiB, more than the service allows.
  const raw = await rawTls(b.gateway.port, { ca: b.pki.ca, cert: b.pki.client.cert, key: b.pki.client.key });
  t.after(() => raw.socket.destroy());
  raw.socket.write(connectLine({ auth_token: token }) + 'PING\r\n');
  await raw.readUntil('PONG\r\n');
  raw.socket.write(`PUB mp.big ${2 * MiB}\r\n`);
  raw.socket.write(Buffer.alloc(2 * MiB, 0x61));
  raw.socket.write('\r\n');

  // Another client's traffic goes on, both ways, over the same link.
  const other = await b.external(token);
  const down = record(other, 'mp.down');
  await other.flush();
  await until(() => gatewayWants(b.gateway, 'mp.after'), 'the service still wants mp.>', WAIT_MS);
  other.publish('mp.after', sc.encode('next'));
  await until(
    () => rec.data().includes('next'),
    'a message after the refused one reaches the service',
    WAIT_MS,
    () => JSON.stringify(rec.msgs.map((m) => m.subject)),
  );
  await until(
    async () => (await leafOf(b.service))?.subscriptions_list.includes('mp.down') === true,
    "the other client's interest reaches the service",
    WAIT_MS,
  );
  internal.publish('mp.down', sc.encode('from the service'));
  await until(
    () => down.data().includes('from the service'),
    'a message from the service reaches the other client',
    WAIT_MS,
  );

  const u = b.gateway.uplink.counters;
  assert.deepEqual(
    { failures: u.failures, reconnects: u.reconnects },
    { failures: 0, reconnects: 0 },
    'the link was never lost',
  );
  const linkAfter = await leafOf(b.service);
  assert.ok(linkAfter !== undefined && linkAfter.in_msgs >= 1, 'the service still has the link');
  assert.ok(
    rec.msgs.every((m) => m.data.length <= SERVICE_MAX),
    "nothing over the service's max_payload reached it",
  );

  // The sender alone is answered as nats-server answers a publish over max_payload, and closed.
  assert.match(await raw.readToClose(WAIT_MS), /-ERR 'Maximum Payload Violation'\r\n/);

  // An official client is told the service's limit and refuses the publish itself.
  const nc = await b.external(token);
  assert.equal(
    nc.info?.max_payload,
    told(SERVICE_MAX),
    "INFO carries the smaller of the two limits, less the stamp's room",
  );
  const err = publishError(nc, 'mp.big', 2 * MiB) as { code?: string } | undefined;
  assert.equal(err?.code, 'MAX_PAYLOAD_EXCEEDED');
  assert.equal(publishError(nc, 'mp.fits', told(SERVICE_MAX)), undefined, 'up to the limit told is allowed');
  await nc.flush();
  await until(
    () => rec.msgs.some((m) => m.subject === 'mp.fits'),
    'a message at the limit told goes through, stamped',
    WAIT_MS,
  );
  const fits = rec.msgs.find((m) => m.subject === 'mp.fits')!;
  assert.equal(fits.data.length, told(SERVICE_MAX));
  assert.match(fits.headers?.get('Gateway-Auth') ?? '', /"authid":"alice"/, 'it carries the stamp');
});

test("a client connected before the link came up is sent an INFO with the upstream's smaller max_payload", async (t: TestContext) => {
  const pki = await devPki(t);
  const leafPort = await freePort();
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${leafPort}`, {
    config: { gateway: { max_payload: GATEWAY_MAX } },
    waitUp: false,
  });
  const token = await pki.devToken('bob', { pub: { allow: ['mp.>'] }, sub: { allow: ['mp.>'] } });
  const nc = await externalClient(t, pki, gateway.port, token);
  assert.equal(nc.info?.max_payload, GATEWAY_MAX, "no upstream yet: the gateway's own limit");

  await startService(t, pki, { leafnodePort: leafPort });
  await within(gateway.uplink.waitUntilUp(WAIT_MS), 'the link comes up', WAIT_MS + 1000);
  await until(
    () => nc.info?.max_payload === told(SERVICE_MAX),
    'the client is told the smaller limit',
    WAIT_MS,
    () => `max_payload ${nc.info?.max_payload}`,
  );
  const err = publishError(nc, 'mp.big', 2 * MiB) as { code?: string } | undefined;
  assert.equal(err?.code, 'MAX_PAYLOAD_EXCEEDED');
  await within(nc.flush(), 'the client is still connected');
});

test('a message held through an outage is not sent to an upstream that came back with a smaller max_payload: dropped and counted, the link stays up', async (t: TestContext) => {
  const pki = await devPki(t);
  const leafPort = await freePort();
  const first = await startService(t, pki, {
    leafnodePort: leafPort,
    config: { service: { max_payload: GATEWAY_MAX } },
  });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${leafPort}`, {
    config: { gateway: { max_payload: GATEWAY_MAX } },
  });
  const sub = await internalClient(t, pki, first.port);
  sub.subscribe('mp.>');
  await sub.flush();
  await until(() => gatewayWants(gateway, 'mp.held'), "the first service's interest reaches the gateway", WAIT_MS);
  const token = await pki.devToken('carol', { pub: { allow: ['mp.>'] }, sub: { allow: ['mp.>'] } });
  const nc = await externalClient(t, pki, gateway.port, token);
  assert.equal(nc.info?.max_payload, told(GATEWAY_MAX), "the first service allows 4 MiB (less the stamp's room)");

  // The service goes away; the gateway holds what its clients publish for it meanwhile.
  await first.close();
  await until(() => !gateway.uplink.up, 'the link is down', WAIT_MS);
  nc.publish('mp.held', new Uint8Array(2 * MiB));
  await nc.flush();
  await until(() => gateway.uplink.counters.bufferedMsgs === 1, 'the message is held', WAIT_MS);

  // Back with the default 1 MiB: the held message is not sent (the service would refuse it), the link stays up.
  const second = await startService(t, pki, { leafnodePort: leafPort });
  const again = await internalClient(t, pki, second.port);
  const rec = record(again, 'mp.>');
  await again.flush();
  await within(gateway.uplink.waitUntilUp(WAIT_MS), 'the link comes back', WAIT_MS + 1000);
  await until(
    () => gateway.uplink.counters.droppedOversize === 1,
    'the held message is dropped as too large',
    WAIT_MS,
    () => JSON.stringify(gateway.uplink.counters),
  );
  const failures = gateway.uplink.counters.failures;
  await until(() => nc.info?.max_payload === told(SERVICE_MAX), 'the client is told the smaller limit', WAIT_MS);
  await until(() => gatewayWants(gateway, 'mp.after'), "the second service's interest reaches the gateway", WAIT_MS);
  nc.publish('mp.after', sc.encode('next'));
  await until(() => rec.data().includes('next'), 'the next message reaches the second service', WAIT_MS);
  assert.equal(gateway.uplink.counters.failures, failures, 'the link was not lost again');
  assert.ok(rec.msgs.every((m) => m.subject !== 'mp.held'));
});
