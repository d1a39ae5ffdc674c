// A leafnode remote's credentials and TLS, each accepted and refused by a real hub: user/password by nats-server 2.9's
// leafnodes authorization, a .creds file (JWT + NKEY, the hub's nonce signed) by nats-server in operator mode with a
// memory resolver (keys made in the test), a token by another event service's [leafnodes.authorization] (nats-server
// 2.9 has no leafnode token), client certificates by nats-server's leafnodes tls { verify }. A refused remote never
// comes up, says why on its state and in /healthz, and its error never carries the secret.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { credsAuthenticator, StringCodec } from 'nats';
import { createCertificateAuthority, createClientCertificate, createServerCertificate } from '@event-broker/dev-tools';
import { collect, uniqueSubject, untilFlows } from '@event-broker/test-support/flow';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { startEventService, type EventService } from '../src/index.js';
import { createNatsOperator, credsText } from './helpers/nats-jwt.js';
import { writePem } from './helpers/pem-files.js';
import { client, HOST, LINK_MS, monitor, remotesUp, startHub, startLeafService } from './helpers/leaf-hub.js';

const sc = StringCodec();

/** Waits until the remote has failed with an -ERR (or handshake error) and is not up; returns its error. */
async function refusedBy(svc: EventService, code: string): Promise<{ code: string; message: string }> {
  await until(
    () => svc.remotes()[0]!.lastError?.code === code,
    `the remote fails with ${code}`,
    LINK_MS,
    () => JSON.stringify(svc.remotes()),
  );
  const r = svc.remotes()[0]!;
  assert.notEqual(r.state, 'up');
  const health = await monitor(svc.monitorPort!, '/healthz');
  assert.equal(health.status, 503);
  return r.lastError!;
}

describe('leafnode remote credentials and TLS', { skip: natsServerSkip() }, () => {
  it('user and password: accepted by nats-server leafnodes authorization, a wrong password refused', async (t: TestContext) => {
    const hub = await startHub(t, { leafLines: ['authorization { user: leaf, password: "right-pw-1" }'] });
    const good = await startLeafService(t, [{ urls: [hub.leafUrl], user: 'leaf', password: 'right-pw-1' }]);
    await remotesUp(good);
    const bad = await startLeafService(t, [{ urls: [hub.leafUrl], user: 'leaf', password: 'wrong-pw-2' }]);
    const err = await refusedBy(bad, 'EUPLINK_HUB_ERROR');
    assert.match(err.message, /Authorization Violation/);
    assert.doesNotMatch(err.message, /wrong-pw-2/);
  });

  it('a .creds file: the nonce signed with its seed is accepted by an operator-mode hub; an unknown account and a wrong seed are refused', async (t: TestContext) => {
    const operator = createNatsOperator();
    const account = operator.account('events');
    const stranger = createNatsOperator('other').account('elsewhere');
    const hub = await startHub(t, { extra: operator.serverLines([account]) });
    const dir = tmpDir(t);
    const file = (name: string, content: string) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content, { mode: 0o600 });
      return p;
    };
    const leafCreds = file('leaf.creds', account.user('event-service'));
    const svc = await startLeafService(t, [{ urls: [hub.leafUrl], credentials: leafCreds }]);
    await remotesUp(svc);
    // The link is bound to the creds' account: a client of that account at the hub sees the service's messages.
    const nc = await client(t, hub.clientPort, {
      authenticator: credsAuthenticator(new TextEncoder().encode(account.user('hub-client'))),
    });
    const subject = uniqueSubject('creds');
    const got = collect(nc.subscribe(subject));
    await untilFlows(
      () => svc.publish(subject, 'signed'),
      () => got.includes('signed'),
      'messages cross the creds link',
    );

    const unknown = await startLeafService(t, [
      { urls: [hub.leafUrl], credentials: file('u.creds', stranger.user('x')) },
    ]);
    assert.match((await refusedBy(unknown, 'EUPLINK_HUB_ERROR')).message, /Authorization Violation/);
    // The JWT of one user with the seed of another: the signature does not verify.
    const [jwtOf] = /-----\n(.+)\n-/.exec(account.user('a'))!.slice(1);
    const [seedOf] = /SEED-----\n(.+)\n-/.exec(account.user('b'))!.slice(1);
    const mismatched = await startLeafService(t, [
      { urls: [hub.leafUrl], credentials: file('m.creds', credsText(jwtOf!, seedOf!)) },
    ]);
    const err = await refusedBy(mismatched, 'EUPLINK_HUB_ERROR');
    assert.match(err.message, /Authorization Violation/);
    assert.doesNotMatch(err.message, new RegExp(seedOf!));
  });

  it('a .creds file that is not one stops the start naming the setting, never the content', async (t: TestContext) => {
    const dir = tmpDir(t);
    const bad = path.join(dir, 'bad.creds');
    fs.writeFileSync(bad, 'SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n');
    await assert.rejects(
      startEventService({
        service: { host: HOST, port: 0 },
        leafnodes: { remotes: [{ urls: ['nats://127.0.0.1:4'], credentials: bad }] },
        log: { level: 'silent' },
      }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EUPLINK_CREDENTIALS');
        assert.match(err.message, /leafnodes\.remotes\[0\]\.credentials: .*bad\.creds: not a \.creds file/);
        assert.doesNotMatch(err.message, /SUAIB/);
        return true;
      },
    );
    await assert.rejects(
      startEventService({
        service: { host: HOST, port: 0 },
        leafnodes: { remotes: [{ urls: ['nats://127.0.0.1:4'], credentials: path.join(dir, 'missing.creds') }] },
        log: { level: 'silent' },
      }),
      /leafnodes\.remotes\[0\]\.credentials: .*missing\.creds cannot be read \(ENOENT\)/,
    );
  });

  it("a token: accepted by another event service's [leafnodes.authorization] token, a wrong one refused", async (t: TestContext) => {
    const hubSvc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: { host: HOST, port: 0, authorization: { token: 'leaf-token-ok' } },
      log: { level: 'silent' },
    });
    t.after(() => hubSvc.close());
    const url = `nats://${HOST}:${hubSvc.leafnodePort}`;
    const svc = await startLeafService(t, [{ urls: [url], token: 'leaf-token-ok' }]);
    await remotesUp(svc);
    const subject = uniqueSubject('token');
    const got: string[] = [];
    hubSvc.subscribe(subject, { callback: (m) => void got.push(sc.decode(m.data)) });
    await untilFlows(
      () => svc.publish(subject, 'tok'),
      () => got.includes('tok'),
      'messages cross the token link',
    );
    const bad = await startLeafService(t, [{ urls: [url], token: 'leaf-token-bad' }]);
    const err = await refusedBy(bad, 'EUPLINK_HUB_ERROR');
    assert.match(err.message, /Authorization Violation/);
    assert.doesNotMatch(err.message, /leaf-token-bad/);
  });

  it('TLS with a client certificate: accepted by nats-server leafnodes tls { verify }, refused without one', async (t: TestContext) => {
    const dir = tmpDir(t);
    const ca = await createCertificateAuthority({ commonName: 'remotes-test CA' });
    const caPath = writePem(dir, 'ca', ca).cert;
    const server = writePem(dir, 'hub', await createServerCertificate(ca));
    const leaf = writePem(dir, 'leaf', await createClientCertificate(ca, 'event-service-leaf'));
    const hub = await startHub(t, {
      leafLines: [`tls { cert_file: "${server.cert}", key_file: "${server.key}", ca_file: "${caPath}", verify: true }`],
    });
    const svc = await startLeafService(t, [
      { urls: [hub.leafUrl], cert_path: leaf.cert, key_path: leaf.key, root_ca_path: caPath },
    ]);
    await remotesUp(svc);
    assert.equal(svc.remotes()[0]!.hub!.tls, true);
    const nc = await client(t, hub.clientPort);
    const subject = uniqueSubject('tls');
    const got = collect(nc.subscribe(subject));
    await untilFlows(
      () => svc.publish(subject, 'sealed'),
      () => got.includes('sealed'),
      'messages cross the TLS link',
    );
    // Trusting the CA but presenting no certificate: the hub's verify refuses the handshake.
    const anonymous = await startLeafService(t, [{ urls: [hub.leafUrl], root_ca_path: caPath }]);
    await until(() => anonymous.remotes()[0]!.lastError !== undefined, 'the certificate-less remote fails', LINK_MS);
    assert.notEqual(anonymous.remotes()[0]!.state, 'up');
    assert.equal((await monitor(anonymous.monitorPort!, '/healthz')).status, 503);
  });
});
