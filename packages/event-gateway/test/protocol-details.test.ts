// Issue 11, finding 10, at the gateway: a protocol error that follows CONNECT in the same read, while the token is
// still being verified, is nats-server's `Unknown Protocol Operation` once the CONNECT is admitted (a CONNECT received
// is what matters, not the verdict's timing), and `Authorization Violation` when it is refused. nats-server 2.9.10 with
// TLS and a token gets the same bytes in the same test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireNatsServer, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { connectLine, rawTls, startBridge } from './helpers/bridge.js';
import { DEV_PKI_FILES as F } from '@event-broker/dev-tools';

const NATS_TOKEN = 's3cret-token';

test('an unknown operation right behind CONNECT is Unknown Protocol Operation when admitted and Authorization Violation when refused, as on nats-server', async (t) => {
  if (!requireNatsServer(t)) return;
  const b = await startBridge(t);
  const files = { ca: b.pki.ca, cert: b.pki.client.cert, key: b.pki.client.key };
  const nport = await freePort();
  const q = JSON.stringify;
  await startNatsServer(
    t,
    [
      `listen: "${HOST}:${nport}"`,
      `tls { cert_file: ${q(b.pki.file(F.gateway.cert))}, key_file: ${q(b.pki.file(F.gateway.key))}, ca_file: ${q(b.pki.ca)} }`,
      `authorization { token: "${NATS_TOKEN}" }`,
    ],
    nport,
  );
  const good = await b.pki.devToken('alice', { pub: { allow: ['>'] }, sub: { allow: ['>'] } });
  const cases: [string, string, string, string][] = [
    // [what, our CONNECT token, nats-server's, expected]
    ['admitted', good, NATS_TOKEN, "-ERR 'Unknown Protocol Operation'\r\n"],
    ['refused', 'not-a-token', 'wrong', "-ERR 'Authorization Violation'\r\n"],
  ];
  for (const [what, ours, theirs, expected] of cases) {
    for (const [who, port, token] of [
      ['nats-server', nport, theirs],
      ['gateway', b.gateway.port, ours],
    ] as const) {
      const raw = await rawTls(port, files);
      raw.socket.write(`${connectLine({ auth_token: token })}FOO bar\r\nPING\r\n`);
      const answer = await raw.readToClose(5000);
      assert.equal(answer, expected, `${who}, ${what}`);
    }
  }
});
