// Issue 11, finding 1, at the gateway: an upstream that sends one hostile line must not end the gateway. A fake hub
// (a leafnode port's INFO, then TLS with the dev event-service certificate, as the service's [leafnodes.tls] does)
// answers the gateway's CONNECT with PONG, so the link is up, then sends one line per connection: sizes too large to
// allocate or parse, over what any NATS server allows, inconsistent. The gateway (its CLI, a process of its own) must
// end that link as a protocol error, redial, and keep serving its clients throughout. A message merely over
// max_payload (within what a server may allow) is read past and dropped instead, and the link goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { connect } from 'nats';
import { jsonLines } from '@event-broker/test-support/child';
import { HOST } from '@event-broker/test-support/processes';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, WAIT_MS, within } from '@event-broker/test-support/wait';
import { devPki, external, gatewayToml, startCli } from './helpers/ops.js';
import { DEV_PKI_FILES as F } from '@event-broker/dev-tools';

const HUGE = '999999999999999';
/** One hostile line per link: the fake hub sends line k on its k-th connection. */
const LINES = [
  `LMSG foo ${HUGE}\r\n`,
  `HMSG foo ${HUGE} ${HUGE}\r\n`,
  `HMSG foo 12 ${HUGE}\r\n`,
  `LMSG foo + r q ${HUGE}\r\n`,
  // Over nats-server's ceiling (64 MiB): no server allows it, so it is not read past.
  `LMSG foo ${64 * 1024 * 1024 + 1}\r\n`,
  'HMSG foo 99999 12\r\n',
  `MSG foo 1 ${HUGE}\r\n`,
];

interface FakeHub {
  port: number;
  /** Connections whose CONNECT arrived. */
  connections: number;
  /** Links the gateway closed after its hostile line (the socket ended from the gateway's side). */
  closedByGateway: number;
}

/**
 * A hub that sends `lines[k]` on its k-th link, once the link is up and the gateway has sent `trigger` (default its
 * handshake PING; an LS+ to wait for a client's subscription).
 */
function startFakeHub(
  pki: { file(name: string): string },
  t: { after(fn: () => unknown): void },
  lines: readonly string[] = LINES,
  trigger = 'PING\r\n',
): Promise<FakeHub> {
  const cert = fs.readFileSync(pki.file(F.eventService.cert));
  const key = fs.readFileSync(pki.file(F.eventService.key));
  const ca = fs.readFileSync(pki.file(F.ca.cert));
  const hub: FakeHub = { port: 0, connections: 0, closedByGateway: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((plain) => {
    sockets.add(plain);
    plain.once('close', () => sockets.delete(plain));
    plain.on('error', () => {});
    const info = {
      server_id: 'NFAKEHUB',
      server_name: 'fake-hub',
      version: '2.9.10',
      proto: 1,
      headers: true,
      max_payload: 1048576,
      tls_required: true,
      client_id: 1,
      leafnode_urls: [`${HOST}:${hub.port}`],
    };
    plain.write(`INFO ${JSON.stringify(info)} \r\n`);
    const secure = new tls.TLSSocket(plain, {
      isServer: true,
      cert,
      key,
      ca,
      requestCert: true,
      rejectUnauthorized: true,
    });
    secure.on('error', () => {});
    let input = '';
    let ponged = false;
    let sent = false;
    secure.on('data', (d: Buffer) => {
      input += d.toString('latin1');
      // The gateway's CONNECT, interest burst and PING: PONG makes the link up, then the hostile line.
      if (!ponged && input.includes('PING\r\n')) {
        ponged = true;
        secure.write('PONG\r\n');
      }
      if (ponged && !sent && input.includes(trigger)) {
        sent = true;
        const line = lines[hub.connections % lines.length]!;
        hub.connections++;
        secure.write(line);
      }
    });
    secure.on('end', () => {
      if (sent) hub.closedByGateway++;
    });
  });
  // A link the gateway kept open would hold server.close() until the gateway is gone: end them here.
  t.after(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  );
  return new Promise((resolve) => {
    server.listen(0, HOST, () => {
      hub.port = (server.address() as net.AddressInfo).port;
      resolve(hub);
    });
  });
}

test('an upstream sending sizes too large to allocate, over what any server allows or inconsistent loses its link, and the gateway stays up and redials', async (t) => {
  const pki = await devPki(t);
  const hub = await startFakeHub(pki, t);
  const dir = tmpDir(t);
  const conf = write(dir, 'gateway.toml', gatewayToml(pki, hub.port));
  const { run, port } = await startCli(t, ['--config', conf]);
  await until(
    () => hub.closedByGateway >= LINES.length || run.child.exitCode !== null,
    'the gateway ends one link per hostile line',
    WAIT_MS * 2,
    () =>
      `hub saw ${hub.connections} links, ${hub.closedByGateway} ended by the gateway; stderr: ${run.stderr().slice(-2000)}`,
  );
  assert.equal(run.child.exitCode, null, `the gateway exited: ${run.stderr().slice(-2000)}`);
  const failures = jsonLines(run.stdout()).filter((l) => l.code === 'EUPLINK_PROTOCOL');
  assert.ok(failures.length >= 1, 'a protocol error is logged with EUPLINK_PROTOCOL');
  // Its clients are still served.
  const nc = await within(
    connect({
      servers: `${HOST}:${port}`,
      token: await pki.token('alice'),
      tls: { caFile: pki.file(F.ca.cert), certFile: pki.file(F.client.cert), keyFile: pki.file(F.client.key) },
      reconnect: false,
      timeout: 5000,
    }),
    'a client connects to the gateway',
  );
  t.after(() => nc.close());
  await within(nc.flush(), "the gateway answers the client's PING");
});

test('an upstream sending a message over max_payload (within what a server may allow) keeps its link: the message is read past and dropped, the next one delivered', async (t) => {
  const pki = await devPki(t);
  const big = 2 * 1024 * 1024;
  // The fake hub's INFO says 1 MiB, as does the gateway's max_payload: 2 MiB is more than either allows.
  const hub = await startFakeHub(
    pki,
    t,
    [`LMSG over.big ${big}\r\n${'a'.repeat(big)}\r\nLMSG over.next 4\r\nnext\r\n`],
    'LS+ over.>',
  );
  const dir = tmpDir(t);
  const conf = write(dir, 'gateway.toml', gatewayToml(pki, hub.port));
  const { run, port } = await startCli(t, ['--config', conf]);
  const token = await pki.token('alice');
  const nc = await within(external(t, pki, `${HOST}:${port}`, token), 'a client connects to the gateway');
  const got: string[] = [];
  nc.subscribe('over.>', { callback: (err, m) => void (err ? undefined : got.push(`${m.subject}:${m.data.length}`)) });
  await within(nc.flush(), 'the subscription is in place');
  await until(
    () => got.includes('over.next:4') || run.child.exitCode !== null,
    'the message after the over-size one is delivered',
    WAIT_MS * 2,
    () => `got ${JSON.stringify(got)}; hub saw ${hub.connections} links; stderr: ${run.stderr().slice(-2000)}`,
  );
  assert.equal(run.child.exitCode, null);
  assert.deepEqual(got, ['over.next:4'], 'the over-size message is not delivered');
  assert.equal(hub.closedByGateway, 0, 'the gateway kept the link');
  const dropped = jsonLines(run.stdout()).filter(
    (l) => l.msg === 'message from the upstream over max_payload dropped; the link stays up',
  );
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0]!.bytes, big);
});
