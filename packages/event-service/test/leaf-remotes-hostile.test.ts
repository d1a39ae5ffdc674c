// A remote's hub that is not what it says: INFO fields of the wrong type (JetStream and domain read only when well
// formed), a first line that is not an INFO, and a .creds remote facing a hub that sends no nonce. The service keeps
// serving its clients and the remote says why it is not up. What a hub sends after the handshake (oversize, non-UTF-8,
// stale, -ERR, loops, sizes too large to allocate) is the shared uplink's, covered by packages/shared/test/
// leafnode-uplink-faults.test.ts and packages/event-gateway/test/hostile-upstream.test.ts.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fromPublic } from '@nats-io/nkeys';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { createNatsOperator } from './helpers/nats-jwt.js';
import { client, HOST, LINK_MS, remotesUp, startLeafService } from './helpers/leaf-hub.js';

/** A raw hub: writes `info` on accept and answers each PING with PONG; the CONNECT lines it read, in order. */
async function rawHub(t: TestContext, info: string): Promise<{ url: string; connects: string[] }> {
  const connects: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.write(info);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line.startsWith('CONNECT ')) connects.push(line);
        if (line === 'PING') s.write('PONG\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { url: `nats://${HOST}:${(server.address() as net.AddressInfo).port}`, connects };
}

const leafInfo = (extra: Record<string, unknown>) =>
  `INFO ${JSON.stringify({ server_id: 'NRAWHUB', version: '2.9.10', headers: true, max_payload: 1048576, client_id: 3, leafnode_urls: [], ...extra })}\r\n`;

describe('a remote whose hub misbehaves', () => {
  it('JetStream and domain are read only when well formed', async (t: TestContext) => {
    const hub = await rawHub(t, leafInfo({ jetstream: 'yes', domain: 42, nonce: 7 }));
    const svc = await startLeafService(t, [{ urls: [hub.url] }]);
    await remotesUp(svc);
    const info = svc.remotes()[0]!.hub!;
    assert.equal(info.jetstream, false);
    assert.equal(info.domain, undefined);
    assert.equal(info.nonce, undefined);
  });

  it('a first line that is not an INFO fails the handshake; the service serves its clients meanwhile', async (t: TestContext) => {
    const hub = await rawHub(t, 'HTTP/1.1 400 Bad Request\r\n\r\n');
    const svc = await startLeafService(t, [{ urls: [hub.url] }]);
    await until(() => svc.remotes()[0]!.lastError?.code === 'EUPLINK_HANDSHAKE', 'the handshake fails', LINK_MS);
    assert.match(svc.remotes()[0]!.lastError!.message, /not an INFO/);
    const nc = await client(t, svc.port);
    await nc.flush();
  });

  it('a .creds remote whose hub sends no nonce never sends its JWT and says why', async (t: TestContext) => {
    const hub = await rawHub(t, leafInfo({}));
    const creds = path.join(tmpDir(t), 'leaf.creds');
    fs.writeFileSync(creds, createNatsOperator().account('a').user('u'), { mode: 0o600 });
    const svc = await startLeafService(t, [{ urls: [hub.url], credentials: creds }]);
    await until(() => svc.remotes()[0]!.lastError !== undefined, 'the attempt fails', LINK_MS);
    assert.equal(svc.remotes()[0]!.lastError!.code, 'EUPLINK_CREDENTIALS');
    assert.match(svc.remotes()[0]!.lastError!.message, /no nonce/);
    assert.deepEqual(hub.connects, []);
  });

  it('a .creds remote sends jwt and a signature of the nonce, never the seed', async (t: TestContext) => {
    const hub = await rawHub(t, leafInfo({ nonce: 'abcdefghijk' }));
    const text = createNatsOperator().account('a').user('u');
    const creds = path.join(tmpDir(t), 'leaf.creds');
    fs.writeFileSync(creds, text, { mode: 0o600 });
    const svc = await startLeafService(t, [{ urls: [hub.url], credentials: creds }]);
    await remotesUp(svc);
    const connect = JSON.parse(hub.connects[0]!.slice('CONNECT '.length)) as Record<string, unknown>;
    const seed = /SEED-----\n(.+)\n/.exec(text)![1]!;
    assert.equal(connect.jwt, /JWT-----\n(.+)\n/.exec(text)![1]);
    assert.match(String(connect.sig), /^[A-Za-z0-9_-]{86}$/);
    // The nonce signed by the user the JWT names.
    const user = (
      JSON.parse(Buffer.from(String(connect.jwt).split('.')[1]!, 'base64url').toString()) as { sub: string }
    ).sub;
    const enc = new TextEncoder();
    assert.ok(fromPublic(user).verify(enc.encode('abcdefghijk'), Buffer.from(String(connect.sig), 'base64url')));
    assert.ok(!hub.connects[0]!.includes(seed));
    assert.equal(connect.user, undefined);
    assert.equal(connect.auth_token, undefined);
  });
});
