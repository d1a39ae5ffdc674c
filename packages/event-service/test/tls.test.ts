// TLS for NATS clients, the same file against our event service and nats-server: the INFO goes out in plaintext
// with tls_required, then the client upgrades (nats-server's default; handshake_first is not modelled). Certificates
// come from shared's dev PKI into a temporary directory. WebSocket over TLS (wss://) runs against both as well.
//
// Observed from nats-server 2.9.10 and recorded here so a change shows up:
// - a plaintext client that answers INFO with CONNECT is closed with no bytes at all (no -ERR, no PONG); the same
//   from ours, which also logs 'TLS handshake failed' (warn) with the client's address.
// - verify = true, no client certificate: nats-server's handshake fails with alert 42 (bad certificate), ours
//   with alert 116 (certificate required, TLS 1.3); a certificate from another CA: nats-server resets the
//   connection (the client sees ECONNRESET). Only "the client cannot connect" is asserted.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import tls from 'node:tls';
import path from 'node:path';
import * as v2 from 'nats';
import * as natsWs from 'nats.ws';
import WebSocket from 'ws';
import { uniqueSubject } from '@event-broker/test-support/flow';
import { connectRaw } from '@event-broker/test-support/raw';
import { until, within } from '@event-broker/test-support/wait';
import { targets, type RunningTarget } from './helpers/targets.js';
import { tmpDir } from '@event-broker/test-support/tmp';
import {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type CertificatePem,
} from '@event-broker/dev-tools';

interface PairFiles {
  cert: string;
  key: string;
}

interface PkiFiles {
  caPath: string;
  server: PairFiles;
  /** Issued by the server's CA. */
  client: PairFiles;
  /** Issued by an unrelated CA with the same kind of certificate. */
  foreign: PairFiles;
}

const pkiDir = tmpDir({ after }, 'event-service-tls-');

let pkiMade: Promise<PkiFiles> | undefined;
/** One PKI for the whole file (made on first use): a CA, its server and client certificates, a foreign client. */
function pki(): Promise<PkiFiles> {
  pkiMade ??= (async () => {
    const write = (name: string, pem: CertificatePem): PairFiles => {
      const cert = path.join(pkiDir, `${name}.pem`);
      const key = path.join(pkiDir, `${name}-key.pem`);
      fs.writeFileSync(cert, pem.cert);
      fs.writeFileSync(key, pem.key, { mode: 0o600 });
      return { cert, key };
    };
    const ca = await createCertificateAuthority({ commonName: 'tls-test CA' });
    const otherCa = await createCertificateAuthority({ commonName: 'unrelated CA' });
    return {
      caPath: write('ca', ca).cert,
      server: write('server', await createServerCertificate(ca)),
      client: write('client', await createClientCertificate(ca, 'alice')),
      foreign: write('foreign', await createClientCertificate(otherCa, 'mallory')),
    };
  })();
  return pkiMade;
}

const CONNECT_MS = 3000;
const clientBase = { reconnect: false, timeout: CONNECT_MS } as const;

/** Connects the official v2 client with `tls`; closes it after the test. */
async function connectV2(t: TestContext, url: string, tls: v2.TlsOptions): Promise<v2.NatsConnection> {
  const nc = await within(
    v2.connect({ ...clientBase, servers: url, tls }),
    `nats v2 connects over TLS to ${url}`,
    CONNECT_MS + 1000,
  );
  t.after(() => (nc.isClosed() ? undefined : within(nc.close(), 'close')));
  return nc;
}

/** The error a v2 connect fails with; fails the test when it connects (or neither happens in time). */
async function connectFailure(t: TestContext, url: string, tls: v2.TlsOptions): Promise<Error> {
  const outcome = await within(
    v2.connect({ ...clientBase, servers: url, tls }).then(
      async (nc) => {
        await nc.close();
        return undefined;
      },
      (err: unknown) => err as Error,
    ),
    `nats v2 connect to ${url} settles`,
    CONNECT_MS + 1000,
  );
  if (outcome === undefined) assert.fail('the client connected; expected the server to refuse it');
  t.diagnostic(`refused with ${(outcome as { code?: string }).code ?? '?'}: ${outcome.message.split('\n')[0]}`);
  return outcome;
}

/** Subscribes, publishes one message and reads it back through the server. */
async function roundTrip(nc: v2.NatsConnection, tag: string): Promise<void> {
  const subject = uniqueSubject(tag);
  const sub = nc.subscribe(subject, { max: 1 });
  nc.publish(subject, 'over tls');
  const got = await within(
    (async () => {
      for await (const m of sub) return m.string();
      return undefined;
    })(),
    `a message on ${subject}`,
  );
  assert.equal(got, 'over tls');
}

for (const target of targets()) {
  describe(`${target.name} with TLS (server certificate)`, () => {
    let server: RunningTarget;
    let files: PkiFiles;
    before(async () => {
      files = await pki();
      server = await target.start({ tls: { certPath: files.server.cert, keyPath: files.server.key } });
    });
    after(() => server?.stop());

    it('sends INFO in plaintext with tls_required, and no tls_verify', async (t) => {
      const raw = await connectRaw(server);
      t.after(() => raw.close());
      assert.equal(raw.info.tls_required, true);
      assert.equal(raw.info.tls_verify, undefined);
    });

    it('delivers every message a client sent in several TLS records just before it closed', async (t) => {
      // Ours passes the records one read brought on together after the read (server/transport.ts): what was read
      // before the peer's close must still be parsed before the close is handled.
      const sub = await connectV2(t, server.url, { caFile: files.caPath });
      const subject = uniqueSubject('tls-before-close');
      const n = 600;
      let got = 0;
      const s = sub.subscribe(subject);
      void (async () => {
        for await (const _ of s) got++;
      })();
      await sub.flush();
      const plain = net.connect(server.port, server.host);
      t.after(() => plain.destroy());
      await within(once(plain, 'data'), 'INFO');
      const secure = tls.connect({ socket: plain, ca: fs.readFileSync(files.caPath), servername: 'localhost' });
      t.after(() => secure.destroy());
      await within(once(secure, 'secureConnect'), 'TLS handshake');
      const payload = 'x'.repeat(100);
      const pubs = Array.from({ length: n }, () => `PUB ${subject} ${payload.length}\r\n${payload}\r\n`).join('');
      // ~70 KB in one write: five TLS records, then the close.
      secure.end(`CONNECT {"verbose":false,"pedantic":false}\r\n${pubs}`);
      await until(() => got === n, `all ${n} messages delivered (got ${got})`);
    });

    it('lets the nats v2 client trusting the CA (caFile) connect and publish/subscribe', async (t) => {
      const nc = await connectV2(t, server.url, { caFile: files.caPath });
      assert.equal(nc.info?.tls_required, true);
      await roundTrip(nc, 'tls-pubsub');
    });

    it('ignores a client certificate when verify is off', async (t) => {
      const nc = await connectV2(t, server.url, {
        caFile: files.caPath,
        certFile: files.foreign.cert,
        keyFile: files.foreign.key,
      });
      await roundTrip(nc, 'tls-ignored-cert');
    });

    it('is refused by a nats v2 client that does not trust the CA', async (t) => {
      // The client's own check (Node's default roots): the server's certificate is not among them.
      await connectFailure(t, server.url, {});
    });

    it('closes a plaintext client that answers INFO with CONNECT, sending no PONG and no -ERR', async (t) => {
      const raw = await connectRaw(server);
      t.after(() => raw.close());
      raw.send('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n');
      const closed = await raw.expectClosed(CONNECT_MS);
      t.diagnostic(`closed by ${closed.kind}, ${closed.rest.length} bytes before the close`);
      assert.doesNotMatch(closed.rest, /PONG|-ERR|\+OK/);
    });
  });

  describe(`${target.name} with TLS verify = true (client certificates)`, () => {
    let server: RunningTarget;
    let files: PkiFiles;
    before(async () => {
      files = await pki();
      server = await target.start({
        tls: { certPath: files.server.cert, keyPath: files.server.key, caPath: files.caPath, verify: true },
      });
    });
    after(() => server?.stop());

    it('advertises tls_required and tls_verify in INFO', async (t) => {
      const raw = await connectRaw(server);
      t.after(() => raw.close());
      assert.equal(raw.info.tls_required, true);
      assert.equal(raw.info.tls_verify, true);
    });

    it('lets a client with a certificate from the configured CA connect and publish/subscribe', async (t) => {
      const nc = await connectV2(t, server.url, {
        caFile: files.caPath,
        certFile: files.client.cert,
        keyFile: files.client.key,
      });
      assert.equal(nc.info?.tls_verify, true);
      await roundTrip(nc, 'mtls-pubsub');
    });

    it('refuses a client without a certificate', async (t) => {
      await connectFailure(t, server.url, { caFile: files.caPath });
    });

    it('refuses a client whose certificate another CA issued', async (t) => {
      await connectFailure(t, server.url, {
        caFile: files.caPath,
        certFile: files.foreign.cert,
        keyFile: files.foreign.key,
      });
    });

    it('still answers a good client after refusing a bad one', async (t) => {
      await connectFailure(t, server.url, {
        caFile: files.caPath,
        certFile: files.foreign.cert,
        keyFile: files.foreign.key,
      });
      const nc = await connectV2(t, server.url, {
        caFile: files.caPath,
        certFile: files.client.cert,
        keyFile: files.client.key,
      });
      await roundTrip(nc, 'mtls-after-refusal');
    });
  });

  describe(`${target.name} with WebSocket over TLS (wss)`, () => {
    let server: RunningTarget;
    let files: PkiFiles;
    let ca: Buffer;
    before(async () => {
      files = await pki();
      ca = fs.readFileSync(files.caPath);
      server = await target.start({
        websocket: true,
        websocketTls: true,
        tls: { certPath: files.server.cert, keyPath: files.server.key },
      });
      assert.ok(server.wsPort, 'the target reports its WebSocket port');
    });
    after(() => server?.stop());

    /**
     * nats.ws in Node: the `ws` package stands in for the browser WebSocket. The browser API takes no CA, so
     * nats.ws's `wsFactory` hook (ws_transport.ts) builds the socket with `{ ca }` instead of a global WebSocket.
     */
    async function connectWss(t: TestContext): Promise<natsWs.NatsConnection> {
      const url = `wss://127.0.0.1:${server.wsPort}`;
      const opts: natsWs.ConnectionOptions & {
        wsFactory: (u: string) => Promise<{ socket: unknown; encrypted: boolean }>;
      } = {
        ...clientBase,
        servers: url,
        wsFactory: async (u) => ({ socket: new WebSocket(u, { ca }), encrypted: true }),
      };
      const nc = await within(natsWs.connect(opts), `nats.ws connects to ${url}`, CONNECT_MS + 1000);
      t.after(() => (nc.isClosed() ? undefined : within(nc.close(), 'close')));
      return nc;
    }

    it('lets nats.ws trusting the CA connect over wss and exchange messages with a TLS TCP client', async (t) => {
      const wsc = await connectWss(t);
      const tcp = await connectV2(t, server.url, { caFile: files.caPath });
      const subject = uniqueSubject('wss');
      const sub = wsc.subscribe(subject, { max: 1 });
      await wsc.flush();
      tcp.publish(subject, 'from tcp');
      const got = await within(
        (async () => {
          for await (const m of sub) return m.string();
          return undefined;
        })(),
        'the TCP message over wss',
      );
      assert.equal(got, 'from tcp');
    });

    it('sends INFO as the first binary frame over wss', async (t) => {
      const socket = new WebSocket(`wss://127.0.0.1:${server.wsPort}`, { ca });
      t.after(() => socket.terminate());
      const [data, isBinary] = await within(
        new Promise<[Buffer, boolean]>((resolve, reject) => {
          socket.once('message', (d, binary) =>
            resolve([Buffer.isBuffer(d) ? d : Buffer.from(d as ArrayBuffer), binary]),
          );
          socket.once('error', reject);
        }),
        'the first frame',
      );
      assert.equal(isBinary, true);
      const m = /^INFO\s+(\{.*\})\s*\r\n/.exec(data.toString('utf8'));
      assert.ok(m, `expected INFO, got ${JSON.stringify(data.toString('utf8').slice(0, 200))}`);
      const info = JSON.parse(m[1]!) as Record<string, unknown>;
      t.diagnostic(`INFO over wss: tls_required=${String(info.tls_required)}`);
      assert.equal(info.headers, true);
    });

    it('refuses a WebSocket client that does not trust the CA', async (t) => {
      const socket = new WebSocket(`wss://127.0.0.1:${server.wsPort}`);
      t.after(() => socket.terminate());
      const err = await within(
        new Promise<Error | undefined>((resolve) => {
          socket.once('open', () => resolve(undefined));
          socket.once('error', (e) => resolve(e));
        }),
        'the wss handshake settles',
      );
      assert.ok(err, 'the handshake succeeded without the CA');
      t.diagnostic(`refused with ${(err as { code?: string }).code ?? '?'}: ${err.message}`);
    });
  });
}
