// Issue 11, finding 1, at the gateway: an upstream that sends one hostile line must not end the gateway. A fake hub
// (a leafnode port's INFO, then TLS with the dev event-service certificate, as the service's [leafnodes.tls] does)
// answers the gateway's CONNECT with PONG, so the link is up, then sends one line per connection: sizes too large to
// allocate or parse, over max_payload, inconsistent. The gateway (its CLI, a process of its own) must end that link
// as a protocol error, redial, and keep serving its clients throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { connect } from 'nats';
import { DEV_PKI_FILES as F } from '@event-broker/shared';
import { HOST, devPki, gatewayToml, jsonLines, startCli, tmpDir, until, within, write, WAIT_MS } from './helpers/ops.js';

const HUGE = '999999999999999';
/** One hostile line per link: the fake hub sends line k on its k-th connection. */
const LINES = [
  `LMSG foo ${HUGE}\r\n`,
  `HMSG foo ${HUGE} ${HUGE}\r\n`,
  `HMSG foo 12 ${HUGE}\r\n`,
  `LMSG foo + r q ${HUGE}\r\n`,
  'LMSG foo 2097152\r\n',
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

function startFakeHub(pki: { file(name: string): string }, t: { after(fn: () => unknown): void }): Promise<FakeHub> {
  const cert = fs.readFileSync(pki.file(F.eventService.cert));
  const key = fs.readFileSync(pki.file(F.eventService.key));
  const ca = fs.readFileSync(pki.file(F.ca.cert));
  const hub: FakeHub = { port: 0, connections: 0, closedByGateway: 0 };
  const server = net.createServer((plain) => {
    plain.on('error', () => {});
    const info = { server_id: 'NFAKEHUB', server_name: 'fake-hub', version: '2.9.10', proto: 1, headers: true, max_payload: 1048576, tls_required: true, client_id: 1, leafnode_urls: [`${HOST}:${hub.port}`] };
    plain.write(`INFO ${JSON.stringify(info)} \r\n`);
    const secure = new tls.TLSSocket(plain, { isServer: true, cert, key, ca, requestCert: true, rejectUnauthorized: true });
    secure.on('error', () => {});
    let input = '';
    let sent = false;
    secure.on('data', (d: Buffer) => {
      input += d.toString('latin1');
      // The gateway's CONNECT, interest burst and PING: PONG makes the link up, then the hostile line.
      if (!sent && input.includes('PING\r\n')) {
        sent = true;
        const line = LINES[hub.connections % LINES.length]!;
        hub.connections++;
        secure.write(`PONG\r\n${line}`);
      }
    });
    secure.on('end', () => {
      if (sent) hub.closedByGateway++;
    });
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return new Promise((resolve) => {
    server.listen(0, HOST, () => {
      hub.port = (server.address() as net.AddressInfo).port;
      resolve(hub);
    });
  });
}

test('an upstream sending sizes too large to allocate, over max_payload or inconsistent loses its link, and the gateway stays up and redials', async (t) => {
  const pki = await devPki(t);
  const hub = await startFakeHub(pki, t);
  const dir = tmpDir(t);
  const conf = write(dir, 'gateway.toml', gatewayToml(pki, hub.port));
  const { run, port } = await startCli(t, ['--config', conf]);
  await until(
    () => hub.closedByGateway >= LINES.length || run.child.exitCode !== null,
    'the gateway ends one link per hostile line',
    WAIT_MS * 2,
    () => `hub saw ${hub.connections} links, ${hub.closedByGateway} ended by the gateway; stderr: ${run.stderr().slice(-2000)}`,
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
  await within(nc.flush(), 'the gateway answers the client\'s PING');
});
