// loadServerTlsOptions / loadClientTlsOptions against real node:tls servers with dev-PKI certificates: mutual TLS
// accepts the right client and rejects foreign, expired and not-yet-valid ones; bad files fail naming key and file.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  TLS_ERROR_CODES,
  TlsConfigError,
  certificateSubject,
  certificateThumbprintS256,
  loadClientTlsOptions,
  loadServerTlsOptions,
  type TlsErrorCode,
} from '../src/index.js';
import { tmpDir } from '@event-broker/test-support/tmp';
import {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type CertificatePem,
} from '@event-broker/dev-tools';

const WAIT_MS = 5000;
const DAY_MS = 86_400_000;

/** Writes a pair as <name>.pem / <name>-key.pem and returns the paths. */
function writePair(dir: string, name: string, pem: CertificatePem): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  fs.writeFileSync(cert, pem.cert);
  fs.writeFileSync(key, pem.key, { mode: 0o600 });
  return { cert, key };
}

interface Pki {
  dir: string;
  ca: { cert: string; key: string };
  server: { cert: string; key: string };
  client: { cert: string; key: string };
  caPem: CertificatePem;
}

// One CA and its server/client pair for the whole file: key generation is cheap but not free.
let shared: Promise<{ caPem: CertificatePem; server: CertificatePem; client: CertificatePem }> | undefined;

async function pki(t: TestContext): Promise<Pki> {
  shared ??= (async () => {
    const caPem = await createCertificateAuthority({ commonName: 'tls-test CA' });
    return {
      caPem,
      server: await createServerCertificate(caPem),
      client: await createClientCertificate(caPem, 'alice'),
    };
  })();
  const made = await shared;
  const dir = tmpDir(t);
  return {
    dir,
    caPem: made.caPem,
    ca: writePair(dir, 'ca', made.caPem),
    server: writePair(dir, 'server', made.server),
    client: writePair(dir, 'client', made.client),
  };
}

/** Listens on 127.0.0.1:0; cleanup destroys every accepted socket (close alone would wait for them) and closes. */
async function listen(t: TestContext, server: tls.Server): Promise<number> {
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface Outcome {
  /** Set when the server completed a handshake: the client's certificate subject. */
  serverSawSubject?: string;
  /** Set when the server refused the client during the handshake. */
  serverError?: string;
}

/** An mTLS server on 127.0.0.1:0; connects one client and reports what the server saw. */
async function handshake(t: TestContext, p: Pki, client: { cert: string; key: string } | undefined): Promise<Outcome> {
  const opts = loadServerTlsOptions({
    cert_path: p.server.cert,
    key_path: p.server.key,
    root_ca_path: p.ca.cert,
    verify: true,
  });
  const server = tls.createServer(opts);
  const outcome = new Promise<Outcome>((resolve) => {
    server.on('secureConnection', (socket) => {
      resolve({ serverSawSubject: certificateSubject(socket.getPeerCertificate()) });
      socket.end('ok');
    });
    // Node finishes the handshake, then destroys a socket whose certificate failed verification: the reason is
    // the socket's authorizationError (the error itself is only "socket hang up").
    server.on('tlsClientError', (err, socket) => {
      const reason = socket.authorizationError;
      resolve({
        serverError: reason === undefined ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(reason),
      });
    });
  });
  const port = await listen(t, server);

  const clientOpts = loadClientTlsOptions({ cert_path: client?.cert, key_path: client?.key, root_ca_path: p.ca.cert });
  const socket = tls.connect({ ...clientOpts, host: '127.0.0.1', port });
  socket.on('error', () => {}); // a refused client sees a reset or an alert; the server's view is what we assert
  t.after(() => socket.destroy());
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('handshake did not finish in time')), WAIT_MS);
  });
  try {
    return await Promise.race([outcome, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('a client with a certificate from the configured CA connects and the server sees its subject', async (t) => {
  const p = await pki(t);
  const outcome = await handshake(t, p, p.client);
  assert.deepEqual(outcome, { serverSawSubject: 'CN=alice' });
});

test('the client verifies the server certificate for 127.0.0.1 against root_ca_path', async (t) => {
  const p = await pki(t);
  const server = tls.createServer(
    loadServerTlsOptions({ cert_path: p.server.cert, key_path: p.server.key, verify: false }),
  );
  server.on('secureConnection', (s) => s.end());
  const port = await listen(t, server);

  const connect = (opts: tls.ConnectionOptions) =>
    new Promise<string>((resolve) => {
      const socket = tls.connect({ ...opts, host: '127.0.0.1', port });
      socket.setTimeout(WAIT_MS, () => socket.destroy(new Error('timeout')));
      socket.once('secureConnect', () => {
        resolve('authorized');
        socket.destroy();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  assert.equal(await connect(loadClientTlsOptions({ root_ca_path: p.ca.cert })), 'authorized');
  // Without the dev CA the same certificate is unknown to Node's bundled roots.
  assert.equal(await connect(loadClientTlsOptions({})), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('a client certificate from an unrelated CA is rejected', async (t) => {
  const p = await pki(t);
  const otherCa = await createCertificateAuthority({ commonName: 'someone else' });
  const foreign = writePair(p.dir, 'foreign', await createClientCertificate(otherCa, 'alice'));
  const outcome = await handshake(t, p, foreign);
  assert.equal(outcome.serverSawSubject, undefined);
  assert.match(
    outcome.serverError ?? '',
    /UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_SIGNATURE_FAILURE/,
  );
});

test('an expired client certificate is rejected', async (t) => {
  const p = await pki(t);
  const now = Date.now();
  const expired = await createClientCertificate(p.caPem, 'alice', {
    notBefore: new Date(now - 10 * DAY_MS),
    notAfter: new Date(now - DAY_MS),
  });
  const outcome = await handshake(t, p, writePair(p.dir, 'expired', expired));
  assert.deepEqual(outcome, { serverError: 'CERT_HAS_EXPIRED' });
});

test('a client certificate that is not yet valid is rejected', async (t) => {
  const p = await pki(t);
  const now = Date.now();
  const early = await createClientCertificate(p.caPem, 'alice', {
    notBefore: new Date(now + DAY_MS),
    notAfter: new Date(now + 10 * DAY_MS),
  });
  const outcome = await handshake(t, p, writePair(p.dir, 'early', early));
  assert.deepEqual(outcome, { serverError: 'CERT_NOT_YET_VALID' });
});

test('a client without a certificate is rejected when verify = true', async (t) => {
  const p = await pki(t);
  const outcome = await handshake(t, p, undefined);
  assert.equal(outcome.serverSawSubject, undefined);
  assert.ok(outcome.serverError, 'the server refuses the handshake');
});

test('loadServerTlsOptions returns PEM buffers and the verify flags', async (t) => {
  const p = await pki(t);
  const plain = loadServerTlsOptions({ cert_path: p.server.cert, key_path: p.server.key, verify: false });
  assert.equal(plain.requestCert, false);
  assert.equal(plain.rejectUnauthorized, false);
  assert.equal(plain.minVersion, 'TLSv1.2');
  assert.equal(plain.ca, undefined);
  assert.equal(plain.cert.toString(), fs.readFileSync(p.server.cert, 'utf8'));
  const verifying = loadServerTlsOptions({
    cert_path: p.server.cert,
    key_path: p.server.key,
    root_ca_path: p.ca.cert,
    verify: true,
  });
  assert.equal(verifying.requestCert, true);
  assert.equal(verifying.rejectUnauthorized, true);
  assert.ok(verifying.ca);
  // The same object feeds createSecureContext (how the service upgrades after its plaintext INFO).
  assert.ok(tls.createSecureContext(verifying));
});

function assertTlsError(
  fn: () => unknown,
  code: TlsErrorCode,
  key: string,
  file: string | undefined,
  reason: RegExp,
): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TlsConfigError, `a TlsConfigError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.key, key);
    assert.equal(err.file, file);
    assert.ok(err.message.startsWith(file === undefined ? `${key}: ` : `${key}: ${file}: `), err.message);
    assert.match(err.message, reason);
    return true;
  });
}

test('a missing file names the key and the file', async (t) => {
  const p = await pki(t);
  const missing = path.join(p.dir, 'nope.pem');
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: missing, key_path: p.server.key, verify: false }),
    'ETLS_FILE',
    'tls.cert_path',
    missing,
    /no such file/,
  );
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: p.server.cert, key_path: missing, verify: false }),
    'ETLS_FILE',
    'tls.key_path',
    missing,
    /no such file/,
  );
  assertTlsError(
    () =>
      loadServerTlsOptions({ cert_path: p.server.cert, key_path: p.server.key, root_ca_path: missing, verify: true }),
    'ETLS_FILE',
    'tls.root_ca_path',
    missing,
    /no such file/,
  );
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: p.dir, key_path: p.server.key, verify: false }),
    'ETLS_FILE',
    'tls.cert_path',
    p.dir,
    /directory/,
  );
});

test('a file that is not the expected PEM is named with what is wrong', async (t) => {
  const p = await pki(t);
  const junk = path.join(p.dir, 'junk.pem');
  fs.writeFileSync(junk, 'hello\n');
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: junk, key_path: p.server.key, verify: false }),
    'ETLS_PEM',
    'tls.cert_path',
    junk,
    /not a PEM certificate/,
  );
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: p.server.cert, key_path: junk, verify: false }),
    'ETLS_PEM',
    'tls.key_path',
    junk,
    /not a PEM private key/,
  );
  // Swapped cert and key: the cert file holds a key.
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: p.server.key, key_path: p.server.cert, verify: false }),
    'ETLS_PEM',
    'tls.cert_path',
    p.server.key,
    /swapped/,
  );
  const broken = path.join(p.dir, 'broken.pem');
  fs.writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: broken, key_path: p.server.key, verify: false }),
    'ETLS_PEM',
    'tls.cert_path',
    broken,
    /does not parse/,
  );
});

test('a key that belongs to another certificate is refused', async (t) => {
  const p = await pki(t);
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: p.server.cert, key_path: p.client.key, verify: false }),
    'ETLS_KEY_MISMATCH',
    'tls.key_path',
    p.client.key,
    /does not belong to the certificate/,
  );
  assertTlsError(
    () => loadClientTlsOptions({ cert_path: p.client.cert, key_path: p.server.key }, { section: 'upstream.tls' }),
    'ETLS_KEY_MISMATCH',
    'upstream.tls.key_path',
    p.server.key,
    /does not belong/,
  );
});

test('an incomplete section is refused: verify without a CA, a certificate without a key', async (t) => {
  const p = await pki(t);
  assertTlsError(
    () => loadServerTlsOptions({ cert_path: p.server.cert, key_path: p.server.key, verify: true }),
    'ETLS_CONFIG',
    'tls.root_ca_path',
    undefined,
    /verify = true/,
  );
  assertTlsError(
    () => loadClientTlsOptions({ cert_path: p.client.cert }),
    'ETLS_CONFIG',
    'tls.key_path',
    undefined,
    /cert_path is set/,
  );
  assertTlsError(
    () => loadClientTlsOptions({ key_path: p.client.key }),
    'ETLS_CONFIG',
    'tls.cert_path',
    undefined,
    /key_path is set/,
  );
});

test('every TLS error code has a description', () => {
  assert.deepEqual(Object.keys(TLS_ERROR_CODES).sort(), ['ETLS_CONFIG', 'ETLS_FILE', 'ETLS_KEY_MISMATCH', 'ETLS_PEM']);
});

test('the S256 thumbprint is the base64url SHA-256 fingerprint of the DER', async (t) => {
  const p = await pki(t);
  const x509 = new crypto.X509Certificate(fs.readFileSync(p.client.cert));
  const expected = Buffer.from(x509.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url');
  assert.equal(certificateThumbprintS256(x509.raw), expected);
  assert.match(expected, /^[A-Za-z0-9_-]{43}$/);
});

test('certificateSubject formats an X509Certificate like a peer certificate', async (t) => {
  const p = await pki(t);
  assert.equal(certificateSubject(new crypto.X509Certificate(fs.readFileSync(p.client.cert))), 'CN=alice');
});
