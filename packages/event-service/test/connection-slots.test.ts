// max_connections counts every socket from accept, TLS handshakes and WebSocket upgrades included, so the cap holds
// however many arrive together; and connections not yet admitted (TLS handshake, WebSocket upgrade or CONNECT
// pending) cannot lock real clients out: when the table is full a newcomer takes the slot of the oldest of them,
// while an admitted client is never closed to make room. The cap is asserted against nats-server too (it counts
// from accept: server.go createClient registers the client before its TLS handshake); the eviction is ours.
//
// Observed from nats-server 2.9.10 (same sockets, limit 10, TLS): 10 of 40 held, the other 30 greeted and refused
// with -ERR 'maximum connections exceeded'; the ten held were closed at its TLS timeout (2 s) and until then locked
// every other client out.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as v2 from 'nats';
import * as natsWs from 'nats.ws';
import WebSocket from 'ws';
import { createCertificateAuthority, createServerCertificate } from '@event-broker/dev-tools';
import { startEventService } from '../src/index.js';
import { uniqueSubject } from '@event-broker/test-support/flow';
import { connectRaw, connectRawTls, idleSockets, type RawConn } from '@event-broker/test-support/raw';
import { eventually, until, within } from '@event-broker/test-support/wait';
import { eventService, targets, type RunningTarget, type Target, type TargetOptions } from './helpers/targets.js';
import { tmpDir } from '@event-broker/test-support/tmp';

const LIMIT = 10;
const TOKEN = 's3cret';
/** Long enough that no slot is freed by a timeout while a test counts them. */
const AUTH_TIMEOUT_MS = 8000;
const WAIT_MS = 6000;

const dir = tmpDir({ after }, 'slots-test-');

let pkiMade: Promise<{ cert: string; key: string; ca: string }> | undefined;
/** A CA and a server certificate for the whole file, made on first use. */
function pki(): Promise<{ cert: string; key: string; ca: string }> {
  pkiMade ??= (async () => {
    const ca = await createCertificateAuthority({ commonName: 'slots-test CA' });
    const server = await createServerCertificate(ca);
    const file = (name: string, pem: string) => {
      fs.writeFileSync(path.join(dir, name), pem, { mode: 0o600 });
      return path.join(dir, name);
    };
    return {
      ca: file('ca.pem', ca.cert),
      cert: file('server.pem', server.cert),
      key: file('server-key.pem', server.key),
    };
  })();
  return pkiMade;
}

function started(target: Target, opts: () => Promise<TargetOptions>): () => RunningTarget {
  let server: RunningTarget | undefined;
  before(async () => {
    server = await target.start(await opts());
  });
  after(() => server?.stop());
  return () => server!;
}

async function tlsClient(t: TestContext, server: RunningTarget): Promise<v2.NatsConnection> {
  const files = await pki();
  const nc = await within(
    v2.connect({ servers: server.url, token: TOKEN, tls: { caFile: files.ca }, reconnect: false, timeout: 3000 }),
    'a TLS client connects',
    4000,
  );
  t.after(() => (nc.isClosed() ? undefined : nc.close()));
  return nc;
}

async function roundTrip(nc: {
  subscribe(s: string, o: { max: number }): AsyncIterable<{ string(): string }>;
  publish(s: string, d: string): void;
}): Promise<void> {
  const subject = uniqueSubject('slots');
  const sub = nc.subscribe(subject, { max: 1 });
  nc.publish(subject, 'in');
  const got = await within(
    (async () => {
      for await (const m of sub) return m.string();
      return undefined;
    })(),
    'a round trip',
  );
  assert.equal(got, 'in');
}

const tlsOptions = async (): Promise<TargetOptions> => {
  const files = await pki();
  return {
    tls: { certPath: files.cert, keyPath: files.key },
    token: TOKEN,
    maxConnections: LIMIT,
    authTimeoutMs: AUTH_TIMEOUT_MS,
  };
};

for (const target of targets()) {
  describe(`max_connections ${LIMIT} over TLS (${target.name})`, () => {
    const server = started(target, tlsOptions);

    it('40 sockets arriving together that never start their TLS handshake hold at most 10 slots; the others are closed', async (t) => {
      const idle = await idleSockets(t, server().port, 40);
      await until(
        () => idle.closed() >= 30,
        '30 of the 40 closed',
        WAIT_MS,
        () => `${idle.open()} still open`,
      );
      assert.equal(idle.open(), LIMIT, 'the newest ten keep their slots, no more');
      t.diagnostic(`${idle.refused()} of the closed were told 'maximum connections exceeded'`);
    });
  });
}

describe('max_connections: connections not yet admitted cannot lock clients out (event-service)', () => {
  describe('over TLS with a token', () => {
    const server = started(eventService, tlsOptions);

    it('a real client gets in while ten handshake-less sockets hold every slot: the oldest of them is closed', async (t) => {
      const idle = await idleSockets(t, server().port, LIMIT + 2);
      await until(
        () => idle.open() === LIMIT,
        'ten held',
        WAIT_MS,
        () => `${idle.open()} open`,
      );
      const nc = await tlsClient(t, server());
      await roundTrip(nc);
      assert.equal(idle.open(), LIMIT - 1, 'one handshake-less socket gave its slot');
    });

    it('admitted clients are never closed to make room: with ten admitted, a newcomer is greeted and refused', async (t) => {
      const clients = [];
      for (let i = 0; i < LIMIT; i++) clients.push(await tlsClient(t, server()));
      for (let i = 0; i < 3; i++) {
        const raw = await connectRaw(server());
        t.after(() => raw.close());
        await raw.expect(/^-ERR 'maximum connections exceeded'\r\n/);
        await raw.expectClosed();
      }
      for (const nc of clients) await roundTrip(nc);
    });
  });

  describe('plaintext with a token', () => {
    const server = started(eventService, async () => ({
      token: TOKEN,
      maxConnections: LIMIT,
      authTimeoutMs: AUTH_TIMEOUT_MS,
    }));

    it('twelve connections that never send CONNECT cannot lock a client out', async (t) => {
      const idle = await idleSockets(t, server().port, LIMIT + 2);
      await until(() => idle.closed() >= 2, 'two over the limit closed', WAIT_MS);
      const nc = await within(
        v2.connect({ servers: server().url, token: TOKEN, reconnect: false, timeout: 3000 }),
        'a client connects',
        4000,
      );
      t.after(() => nc.close());
      await roundTrip(nc);
      assert.equal(idle.open(), LIMIT - 1, 'the oldest silent connection gave its slot');
    });
  });

  describe('WebSocket', () => {
    const server = started(eventService, async () => ({
      token: TOKEN,
      maxConnections: LIMIT,
      authTimeoutMs: 1000,
      websocket: true,
    }));

    it('sockets on the WebSocket port count from accept, a client still gets in, and silent ones are closed at auth_timeout', async (t) => {
      const idle = await idleSockets(t, server().wsPort!, 40);
      await until(
        () => idle.closed() >= 30,
        '30 of the 40 closed',
        WAIT_MS,
        () => `${idle.open()} still open`,
      );
      assert.ok(idle.open() <= LIMIT, `at most ten held, got ${idle.open()}`);
      (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
      const nc = await within(
        natsWs.connect({ servers: `ws://127.0.0.1:${server().wsPort}`, token: TOKEN, reconnect: false, timeout: 3000 }),
        'nats.ws connects',
        4000,
      );
      t.after(() => nc.close());
      await roundTrip({
        subscribe: (s, o) => nc.subscribe(s, o) as AsyncIterable<{ string(): string }>,
        publish: (s, d) => nc.publish(s, natsWs.StringCodec().encode(d)),
      });
      // Never upgraded: closed by auth_timeout (1 s) from accept, not Node's 60 s header timeout.
      await until(
        () => idle.open() === 0,
        'every silent socket closed',
        WAIT_MS,
        () => `${idle.open()} still open`,
      );
    });
  });
});

// The frontend's promise when it closes a connection not yet admitted to make room (frontend.ts makeRoom): one whose
// CONNECT is pending is told why, with the text nats-server gives a connection over the limit, before the close.
describe('max_connections: the connection closed to make room is told why (event-service)', () => {
  const SMALL = 3;
  const refusedText = /-ERR 'maximum connections exceeded'\r\n$/;

  /** Fills the table with `open()`ed connections that got their INFO (TLS done), then lets one more in. */
  async function evictOldest(t: TestContext, open: () => Promise<RawConn>): Promise<string> {
    const held: RawConn[] = [];
    for (let i = 0; i < SMALL; i++) {
      const c = await open();
      t.after(() => c.close());
      held.push(c);
    }
    const newcomer = await open();
    t.after(() => newcomer.close());
    const closed = await held[0]!.expectClosed(WAIT_MS);
    for (const c of held.slice(1)) assert.equal(c.closed, false, 'only the oldest gave way');
    return closed.rest;
  }

  describe('plaintext with a token', () => {
    const server = started(eventService, async () => ({
      token: TOKEN,
      maxConnections: SMALL,
      authTimeoutMs: AUTH_TIMEOUT_MS,
    }));
    it("the oldest connection without CONNECT gets -ERR 'maximum connections exceeded', then the close", async (t) => {
      const rest = await evictOldest(t, () => connectRaw(server()));
      assert.match(rest, refusedText);
    });
  });

  describe('plaintext without a token', () => {
    const server = started(eventService, async () => ({ maxConnections: SMALL, authTimeoutMs: AUTH_TIMEOUT_MS }));
    it("the oldest connection without CONNECT gets -ERR 'maximum connections exceeded', then the close", async (t) => {
      const rest = await evictOldest(t, () => connectRaw(server()));
      assert.match(rest, refusedText);
    });
  });

  describe('over TLS with a token', () => {
    const server = started(eventService, async () => ({ ...(await tlsOptions()), maxConnections: SMALL }));
    it("the oldest connection whose handshake is done but not its CONNECT gets -ERR 'maximum connections exceeded', then the close", async (t) => {
      const files = await pki();
      const rest = await evictOldest(t, () => connectRawTls(server(), { ca: fs.readFileSync(files.ca) }));
      assert.match(rest, refusedText);
    });
  });

  describe('WebSocket with a token', () => {
    const server = started(eventService, async () => ({
      token: TOKEN,
      maxConnections: SMALL,
      authTimeoutMs: AUTH_TIMEOUT_MS,
      websocket: true,
    }));
    it("the oldest upgraded connection without CONNECT gets -ERR 'maximum connections exceeded' in a frame, then the close", async (t) => {
      const open = async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${server().wsPort}`);
        const got = { text: '', closed: false };
        ws.on('message', (d: Buffer) => (got.text += d.toString('latin1')));
        ws.on('error', () => {});
        ws.on('close', () => (got.closed = true));
        t.after(() => ws.terminate());
        await until(() => got.text.startsWith('INFO '), 'the INFO frame', WAIT_MS);
        return got;
      };
      const held: Array<{ text: string; closed: boolean }> = [];
      for (let i = 0; i < SMALL; i++) held.push(await open());
      await open();
      await until(() => held[0]!.closed, 'the oldest closed', WAIT_MS);
      assert.match(held[0]!.text, refusedText);
      assert.ok(
        held.slice(1).every((h) => !h.closed),
        'only the oldest gave way',
      );
    });
  });

  describe('plaintext without a token, the oldest still owed output', () => {
    // A client may PING before CONNECT when there is no token (nats-server answers); one that does not read holds
    // PONGs in our socket's buffer. Closed to make room, it is still owed them and the -ERR after them, as long as
    // it reads within the linger (a socket destroyed at once would drop both).
    it("gets the PONGs it was owed, then -ERR 'maximum connections exceeded', then the close", async (t) => {
      const svc = await startEventService({
        service: { host: '127.0.0.1', port: 0, max_connections: SMALL, auth_timeout: AUTH_TIMEOUT_MS },
        monitor: { host: '127.0.0.1', port: 0 },
        log: { level: 'silent' },
      });
      t.after(() => svc.close());
      const target = { host: '127.0.0.1', port: svc.port };
      const oldest = await connectRaw(target);
      t.after(() => oldest.close());
      oldest.pause();
      // Far more PONG than loopback's socket buffers hold: the rest waits in the service's.
      const PINGS = 1_000_000;
      await oldest.sendAndDrain('PING\r\n'.repeat(PINGS));
      const pending = async () => {
        const connz = (await (await fetch(`http://127.0.0.1:${svc.monitorPort}/connz`)).json()) as {
          connections: Array<{ cid: number; pending_bytes: number }>;
        };
        return connz.connections.find((c) => c.cid === oldest.info.client_id)?.pending_bytes ?? 0;
      };
      const owed = await eventually(
        pending,
        (n) => n > 0,
        'the service holds PONGs for the oldest client',
        WAIT_MS,
      ).catch(() => 0);
      assert.ok(owed > 0, 'the service holds PONGs for the oldest client');
      const others = [await connectRaw(target), await connectRaw(target)];
      const newcomer = await connectRaw(target);
      t.after(() => [...others, newcomer].forEach((c) => c.close()));
      oldest.socket.resume();
      const closed = await oldest.expectClosed(WAIT_MS);
      const pongs = closed.rest.split('PONG\r\n').length - 1;
      const tail = closed.rest.slice(pongs * 6);
      t.diagnostic(
        `${owed} bytes owed when it gave way; read ${pongs} PONGs, then ${JSON.stringify(tail)} (${closed.kind})`,
      );
      // Every PONG for the PINGs read before it gave way (those after are not read), then the -ERR.
      assert.ok(pongs > 0 && pongs <= PINGS, `${pongs} PONGs`);
      assert.equal(tail, "-ERR 'maximum connections exceeded'\r\n", `after ${pongs} PONGs, the -ERR, then the close`);
    });
  });
});
