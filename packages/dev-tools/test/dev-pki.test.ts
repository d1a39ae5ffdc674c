// The dev PKI: certificates carry the names, key usages and validity asked for; writeDevPki is idempotent, keeps
// keys private (0600), re-issues only what is missing or no longer chains; dev tokens verify against jwks.json.
// That the files load as the processes' TLS sections name them is shared's test (dev-pki-tls.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import {
  DEV_PKI_FILES,
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  mintDevToken,
  writeDevPki,
} from '../src/index.js';
import { tmpDir } from '@event-broker/test-support/tmp';

const DAY_MS = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

function snapshot(dir: string): Map<string, string> {
  return new Map(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]),
  );
}

const allFiles = Object.values(DEV_PKI_FILES).flatMap((group) => Object.values(group) as string[]);
const keyFiles: string[] = Object.values(DEV_PKI_FILES).map((g) => ('key' in g ? g.key : g.privateKey));

test('a server certificate names localhost, 127.0.0.1, ::1 and the extra names, for serverAuth', async () => {
  const ca = await createCertificateAuthority();
  const pem = await createServerCertificate(ca, {
    commonName: 'svc',
    dnsNames: ['broker.internal'],
    ipAddresses: ['10.0.0.7'],
  });
  const cert = new crypto.X509Certificate(pem.cert);
  assert.equal(cert.subject, 'CN=svc');
  assert.equal(
    cert.subjectAltName,
    'DNS:localhost, DNS:broker.internal, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.7',
  );
  assert.deepEqual(cert.keyUsage, [SERVER_AUTH]);
  assert.equal(cert.ca, false);
  assert.ok(cert.checkIssued(new crypto.X509Certificate(ca.cert)));
  assert.ok(cert.verify(new crypto.X509Certificate(ca.cert).publicKey));
  assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(pem.key)));
  assert.match(pem.key, /^-{5}BEGIN PRIVATE KEY-{5}\n/);
  assert.equal(crypto.createPrivateKey(pem.key).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.equal(cert.checkIP('::1'), '::1');
});

test('a client certificate carries the common name given and clientAuth', async () => {
  const ca = await createCertificateAuthority();
  const cert = new crypto.X509Certificate((await createClientCertificate(ca, 'orders-worker')).cert);
  assert.equal(cert.subject, 'CN=orders-worker');
  assert.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
  assert.equal(cert.subjectAltName, undefined);
  assert.ok(new crypto.X509Certificate(ca.cert).ca);
});

test('validity follows notBefore/notAfter, and an empty window is refused', async () => {
  const ca = await createCertificateAuthority({ commonName: 'other CA' });
  assert.equal(new crypto.X509Certificate(ca.cert).subject, 'CN=other CA');
  const notBefore = new Date(Date.UTC(2020, 0, 1));
  const notAfter = new Date(Date.UTC(2020, 0, 2));
  const cert = new crypto.X509Certificate((await createClientCertificate(ca, 'old', { notBefore, notAfter })).cert);
  assert.equal(Date.parse(cert.validFrom), notBefore.getTime());
  assert.equal(Date.parse(cert.validTo), notAfter.getTime());
  await assert.rejects(createClientCertificate(ca, 'x', { notBefore: notAfter, notAfter: notBefore }), RangeError);
  await assert.rejects(createClientCertificate(ca, ''), RangeError);
  await assert.rejects(createServerCertificate(ca, { ipAddresses: ['not-an-ip'] }), RangeError);
  // By default a leaf is valid from a little before now, so a peer with a lagging clock accepts it.
  const fresh = new crypto.X509Certificate((await createClientCertificate(ca, 'now')).cert);
  assert.ok(Date.parse(fresh.validFrom) < Date.now() - 60_000);
  assert.ok(Date.parse(fresh.validTo) > Date.now() + 365 * DAY_MS);
});

test('writeDevPki writes every file once, keys mode 0600, and a second run changes nothing', async (t) => {
  const dir = path.join(tmpDir(t), 'certs'); // also checks that the directory is created
  const first = await writeDevPki(dir);
  assert.deepEqual(fs.readdirSync(dir).sort(), [...allFiles].sort());
  assert.deepEqual(first.written.map((f) => path.basename(f)).sort(), [...allFiles].sort());
  assert.deepEqual(first.kept, []);
  for (const f of allFiles) {
    const mode = fs.statSync(path.join(dir, f)).mode & 0o777;
    assert.equal(mode, keyFiles.includes(f) ? 0o600 : 0o644, `${f} mode ${mode.toString(8)}`);
  }
  const before = snapshot(dir);
  const second = await writeDevPki(dir);
  assert.deepEqual(second.written, []);
  assert.deepEqual(second.kept.map((f) => path.basename(f)).sort(), [...allFiles].sort());
  assert.deepEqual(second.warnings, []);
  assert.deepEqual(snapshot(dir), before);
});

test('writeDevPki restores only what is missing, and re-issues leaves when the CA is new', async (t) => {
  const dir = tmpDir(t);
  await writeDevPki(dir);
  const before = snapshot(dir);

  fs.rmSync(path.join(dir, DEV_PKI_FILES.client.key));
  fs.rmSync(path.join(dir, DEV_PKI_FILES.jwt.jwks));
  const partial = await writeDevPki(dir);
  assert.deepEqual(partial.written.map((f) => path.basename(f)).sort(), ['client-key.pem', 'client.pem', 'jwks.json']);
  const after = snapshot(dir);
  for (const f of allFiles) {
    if (!['client.pem', 'client-key.pem'].includes(f)) assert.equal(after.get(f), before.get(f), `${f} kept`);
  }

  fs.rmSync(path.join(dir, DEV_PKI_FILES.ca.cert));
  const renewed = await writeDevPki(dir);
  const written = renewed.written.map((f) => path.basename(f));
  for (const f of ['ca.pem', 'ca-key.pem', 'event-service.pem', 'gateway.pem', 'gateway-upstream.pem', 'client.pem']) {
    assert.ok(written.includes(f), `${f} re-issued`);
  }
  assert.ok(!written.includes('jwt-signing-key.pem'), 'the JWT key does not depend on the CA');
  const ca = new crypto.X509Certificate(fs.readFileSync(path.join(dir, 'ca.pem')));
  for (const leaf of ['event-service.pem', 'gateway.pem', 'gateway-upstream.pem', 'client.pem']) {
    assert.ok(
      new crypto.X509Certificate(fs.readFileSync(path.join(dir, leaf))).checkIssued(ca),
      `${leaf} chains to the new CA`,
    );
  }
});

test('a dev token verifies against jwks.json and carries NATS-shaped permissions', async (t) => {
  const dir = tmpDir(t);
  await writeDevPki(dir);
  const jwks = JSON.parse(fs.readFileSync(path.join(dir, 'jwks.json'), 'utf8')) as jose.JSONWebKeySet;
  const token = await mintDevToken(
    fs.readFileSync(path.join(dir, 'jwt-signing-key.pem'), 'utf8'),
    {
      sub: 'alice',
      nats: {
        pub: { allow: ['orders.>'], deny: ['orders.secret'] },
        sub: { allow: ['_INBOX.>'] },
        resp: { max: 1, ttl: 0 },
      },
    },
    { ttlSeconds: 120 },
  );
  const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
    issuer: 'event-broker-dev',
    audience: 'event-broker-dev',
    algorithms: ['ES256'],
  });
  assert.equal(protectedHeader.kid, jwks.keys[0]!.kid);
  assert.equal(payload.sub, 'alice');
  assert.deepEqual(payload['nats'], {
    pub: { allow: ['orders.>'], deny: ['orders.secret'] },
    sub: { allow: ['_INBOX.>'] },
    resp: { max: 1, ttl: 0 },
    type: 'user',
    version: 2,
  });
  const left = payload.exp! - Math.floor(Date.now() / 1000);
  assert.ok(left > 100 && left <= 120, `exp in ${left}s`);
  // The public PEM is the same key as the JWKS entry.
  const pub = crypto.createPublicKey(fs.readFileSync(path.join(dir, 'jwt-signing-pub.pem')));
  assert.deepEqual(
    pub.export({ format: 'jwk' }),
    crypto.createPublicKey({ key: jwks.keys[0]!, format: 'jwk' }).export({ format: 'jwk' }),
  );
});
