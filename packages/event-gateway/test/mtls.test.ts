// Client certificates on a real TLS listener built from gatewayTlsOptions: what checkClientCertificate says for a
// good certificate, none, one from another CA and an expired one (the handshake itself refuses none of them, so the
// listener can answer -ERR and log why), the DER a bound token's thumbprint is taken of, min_version, and no session
// resumed while client certificates are asked for.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import tls from 'node:tls';
import { certificateThumbprintS256, TlsConfigError } from '@event-broker/shared';
import {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type CertificatePem,
} from '@event-broker/dev-tools';
import { checkClientCertificate, gatewayTlsOptions, type ClientCertificateVerdict } from '../src/auth/mtls.js';
import type { TlsSection } from '../src/config-types.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';

interface Pki {
  ca: CertificatePem;
  section: TlsSection;
}

async function pki(t: TestContext, more: Partial<TlsSection> = {}): Promise<Pki> {
  const dir = tmpDir(t, 'gateway-mtls-');
  const ca = await createCertificateAuthority();
  const server = await createServerCertificate(ca);
  return {
    ca,
    section: {
      cert_path: write(dir, 'server.pem', server.cert),
      key_path: write(dir, 'server-key.pem', server.key),
      root_ca_path: write(dir, 'ca.pem', ca.cert),
      verify: true,
      min_version: 'TLSv1.2',
      ...more,
    },
  };
}

/** A TLS server on 127.0.0.1:0 that records checkClientCertificate for each connection and answers "ok"/"no". */
async function listen(
  t: TestContext,
  section: TlsSection,
): Promise<{ port: number; verdicts: ClientCertificateVerdict[]; server: tls.Server }> {
  const verdicts: ClientCertificateVerdict[] = [];
  const server = tls.createServer(gatewayTlsOptions(section), (socket) => {
    const v = checkClientCertificate(socket, { required: section.verify });
    verdicts.push(v);
    socket.end(v.ok ? 'ok' : 'no');
  });
  server.on('tlsClientError', () => {}); // a client refusing our TLS version is the test's business
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, verdicts, server };
}

/** Connects, reads what the server says until it closes (bounded), or the handshake error. */
async function connect(port: number, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ...opts });
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer within 5 s (got ${JSON.stringify(got)})`));
    }, 5000);
    sock.on('data', (d: Buffer) => (got += d.toString()));
    sock.on('end', () => {
      clearTimeout(timer);
      sock.end();
      resolve(got);
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      resolve(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
  });
}

test('a certificate from root_ca_path is admitted with its subject and DER; the DER is what a bound token names', async (t) => {
  const { ca, section } = await pki(t);
  const { port, verdicts } = await listen(t, section);
  const client = await createClientCertificate(ca, 'alice');
  assert.equal(await connect(port, { ca: ca.cert, cert: client.cert, key: client.key }), 'ok');
  const v = verdicts[0]!;
  assert.ok(v.ok);
  assert.equal(v.certificate.present, true);
  assert.equal(v.certificate.authorized, true);
  assert.equal(v.certificate.subject, 'CN=alice');
  assert.equal(v.certificate.issuer, 'CN=event-broker dev CA');
  const der = new crypto.X509Certificate(client.cert).raw;
  assert.ok(v.certificate.der?.equals(der));
  assert.equal(certificateThumbprintS256(v.certificate.der!), certificateThumbprintS256(der));
});

test('no certificate, another CA and an expired certificate are each refused with the reason', async (t) => {
  const { ca, section } = await pki(t);
  const { port, verdicts } = await listen(t, section);

  assert.equal(await connect(port, { ca: ca.cert }), 'no');
  const none = verdicts[0]!;
  assert.ok(!none.ok);
  assert.equal(none.reason, 'no client certificate');
  assert.equal(none.certificate.present, false);
  assert.equal(none.certificate.subject, undefined);

  const otherCa = await createCertificateAuthority({ commonName: 'someone else' });
  const stranger = await createClientCertificate(otherCa, 'mallory');
  assert.equal(await connect(port, { ca: ca.cert, cert: stranger.cert, key: stranger.key }), 'no');
  const s = verdicts[1]!;
  assert.ok(!s.ok);
  assert.match(
    s.reason,
    /^client certificate refused: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)$/,
  );
  assert.equal(s.certificate.subject, 'CN=mallory', 'the subject is still there for the log line');

  const hour = 3_600_000;
  const expired = await createClientCertificate(ca, 'old', {
    notBefore: new Date(Date.now() - 48 * hour),
    notAfter: new Date(Date.now() - 24 * hour),
  });
  assert.equal(await connect(port, { ca: ca.cert, cert: expired.cert, key: expired.key }), 'no');
  const e = verdicts[2]!;
  assert.ok(!e.ok);
  assert.equal(e.reason, 'client certificate refused: CERT_HAS_EXPIRED');
  assert.equal(e.certificate.subject, 'CN=old');
});

test('verify = false without a CA asks for no certificate; with a CA a presented one must still chain', async (t) => {
  const open = await pki(t, { verify: false, root_ca_path: undefined });
  delete open.section.root_ca_path;
  const a = await listen(t, open.section);
  const client = await createClientCertificate(open.ca, 'alice');
  assert.equal(await connect(a.port, { ca: open.ca.cert, cert: client.cert, key: client.key }), 'ok');
  assert.equal(a.verdicts[0]!.certificate.present, false, 'not requested, so not sent');

  const optional = await pki(t, { verify: false });
  const b = await listen(t, optional.section);
  assert.equal(await connect(b.port, { ca: optional.ca.cert }), 'ok');
  const stranger = await createClientCertificate(await createCertificateAuthority(), 'mallory');
  assert.equal(await connect(b.port, { ca: optional.ca.cert, cert: stranger.cert, key: stranger.key }), 'no');
  const good = await createClientCertificate(optional.ca, 'alice');
  assert.equal(await connect(b.port, { ca: optional.ca.cert, cert: good.cert, key: good.key }), 'ok');
});

test('min_version TLSv1.3 turns a TLS 1.2 client away at the handshake', async (t) => {
  const { ca, section } = await pki(t, { min_version: 'TLSv1.3' });
  const { port } = await listen(t, section);
  const client = await createClientCertificate(ca, 'alice');
  assert.match(
    await connect(port, { ca: ca.cert, cert: client.cert, key: client.key, maxVersion: 'TLSv1.2' }),
    /^error: /,
  );
  assert.equal(await connect(port, { ca: ca.cert, cert: client.cert, key: client.key }), 'ok');
});

test('gatewayTlsOptions names the [tls] key and file of a bad certificate', async (t) => {
  const { section } = await pki(t);
  assert.throws(
    () => gatewayTlsOptions({ ...section, key_path: section.root_ca_path! }),
    (err: unknown) => err instanceof TlsConfigError && err.key === 'tls.key_path' && err.code === 'ETLS_PEM',
  );
});

/** Connects (offering `session` when given), reads until the server ends; whether it resumed, and the last session. */
async function connectForSession(
  port: number,
  opts: tls.ConnectionOptions,
): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ...opts });
    let session: Buffer | undefined;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no end within 5 s'));
    }, 5000);
    sock.on('session', (s: Buffer) => (session = s));
    sock.on('data', () => {});
    sock.on('end', () => {
      clearTimeout(timer);
      const reused = sock.isSessionReused();
      sock.end();
      resolve({ reused, session });
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

test('while client certificates are asked for no session is resumed (TLS 1.2 and 1.3); without, tickets resume', async (t) => {
  // The control: no certificate requested, Node's session tickets resume the second connection.
  const open = await pki(t, { verify: false });
  delete open.section.root_ca_path;
  const a = await listen(t, open.section);
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    const first = await connectForSession(a.port, { ca: open.ca.cert, maxVersion });
    assert.ok(first.session !== undefined, `${maxVersion}: a session to offer`);
    const again = await connectForSession(a.port, { ca: open.ca.cert, maxVersion, session: first.session });
    assert.equal(again.reused, true, `${maxVersion}: the control resumes`);
  }

  const { ca, section } = await pki(t);
  const b = await listen(t, section);
  const client = await createClientCertificate(ca, 'alice');
  const creds = { ca: ca.cert, cert: client.cert, key: client.key };
  const tryResume = async (maxVersion: tls.SecureVersion): Promise<void> => {
    const first = await connectForSession(b.port, { ...creds, maxVersion });
    assert.equal(first.reused, false);
    const again = await connectForSession(b.port, {
      ...creds,
      maxVersion,
      ...(first.session !== undefined && { session: first.session }),
    });
    assert.equal(again.reused, false, `${maxVersion}: a session was resumed`);
  };
  await tryResume('TLSv1.2');
  await tryResume('TLSv1.3');
  // A reload's new context keeps it so.
  b.server.setSecureContext(gatewayTlsOptions(section));
  await tryResume('TLSv1.3');
  assert.ok(b.verdicts.every((v) => v.ok && v.certificate.authorized));
});
