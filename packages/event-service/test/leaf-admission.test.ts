// Who may attach to the [leafnodes] port (issue 11, finding 2): a leaf is trusted with every message, so the port
// admits only the credentials ([leafnodes.authorization] user/password, users, token) or the certificate identities
// ([leafnodes.tls] verify_and_map) it was told to, and answers everything else as nats-server 2.9.10 does:
// `-ERR 'Authorization Violation'`, closed. Raw sockets for the exact wire, Debian's nats-server as a real leaf with
// credentials, the real store for "nothing was stored", and the config rules (loopback by default; a port that
// names nobody on another address is refused with file:line). Unauthenticated sockets are bounded in count and time.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connect, StringCodec } from 'nats';
import { ConfigError, configChanges } from '@event-broker/shared';
import {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type CertificatePem,
} from '@event-broker/dev-tools';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { startEventService, type EventService } from '../src/index.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { LeafAuthorizer, dnKey, mapCertificate } from '../src/leafnode/auth.js';
import { logLine, signal } from '@event-broker/test-support/child';
import { uniqueSubject } from '@event-broker/test-support/flow';
import {
  type NatsLeaf,
  natsLeafLinks,
  natsServerSkip,
  requireNatsServer,
  startNatsLeaf,
  startNatsServer,
} from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { connectRaw, connectRawTls, RawConn, RawPool } from '@event-broker/test-support/raw';
import { until, within } from '@event-broker/test-support/wait';
import { runToExit, startCli } from './helpers/cli.js';
import { tmpDir } from '@event-broker/test-support/tmp';

const sc = StringCodec();
const HOST = '127.0.0.1';
// bcrypt of "s3cret" (cost 10) in the $2a$ spelling `nats server passwd` prints (made with bcryptjs, $2b$ → $2a$:
// the same hash for a password under 72 bytes).
const S3CRET_BCRYPT = '$2a$10$P3PRfLVxh/JQvidla7bMhOOJQ3oLTcjh7YMn.lKIQCcBAxOFLoQ4e';

/** A leaf's CONNECT as nats-server 2.9 sends it (no `lang`), with credentials when given. */
function leafConnect(creds: Record<string, unknown> = {}): string {
  return `CONNECT ${JSON.stringify({ version: '2.9.10', server_id: 'NRAWLEAF', name: 'raw-leaf', headers: true, ...creds })}\r\n`;
}

/** A valid event (a catalogue type) the intake stores when it arrives as a plain publish on events.<type>. */
function eventBody(id: string): string {
  return JSON.stringify({
    specversion: '1.0',
    id,
    source: '/leaf-test',
    type: 'scanJobCreated',
    producer: { id: 'p', name: 'leaf-test', type: 'service' },
    data: {},
  });
}

/** What a would-be leaf sends once it thinks it is in: interest in everything, an event for the store, a PING. */
function intrusion(id: string): string {
  const body = eventBody(id);
  return `LS+ >\r\nLMSG events.scanJobCreated ${Buffer.byteLength(body)}\r\n${body}\r\nPING\r\n`;
}

/** Refused as nats-server refuses: the -ERR and the close, and nothing of ours (no LS+, LMSG or PONG) before it. */
async function assertRefused(conn: RawConn, what: string): Promise<void> {
  const closed = await conn.expectClosed(3000);
  assert.match(closed.rest, /^-ERR 'Authorization Violation'\r\n$/, `${what}: exactly the -ERR, then closed`);
}

async function assertAdmitted(conn: RawConn, what: string): Promise<void> {
  // Our loop-detection interest comes first after an admitted CONNECT; the PONG answers the leaf's PING.
  await conn.expect(/LS\+ \$LDS\.\S+\r\n/, 3000).catch((err: Error) => assert.fail(`${what}: ${err.message}`));
  await conn.expect(/PONG\r\n/, 3000);
}

// --- credentials ------------------------------------------------------------------------------------------------

describe('[leafnodes.authorization]: credentials in the leaf CONNECT', () => {
  const pool = new RawPool();
  after(() => pool.closeAll());

  const cases: Array<{
    name: string;
    authorization: Record<string, unknown>;
    good: Record<string, unknown>;
    bad: Array<Record<string, unknown>>;
  }> = [
    {
      name: 'user and password',
      authorization: { user: 'leaf', password: 's3cret' },
      good: { user: 'leaf', pass: 's3cret' },
      bad: [
        {},
        { user: 'leaf' },
        { user: 'leaf', pass: 'wrong' },
        { user: 'other', pass: 's3cret' },
        { auth_token: 's3cret' },
      ],
    },
    {
      name: 'a bcrypt password',
      authorization: { user: 'leaf', password: S3CRET_BCRYPT },
      good: { user: 'leaf', pass: 's3cret' },
      bad: [{}, { user: 'leaf', pass: 'wrong' }, { user: 'leaf', pass: S3CRET_BCRYPT }],
    },
    {
      name: 'users',
      authorization: {
        users: [
          { user: 'gw-a', password: 'pa' },
          { user: 'gw-b', password: S3CRET_BCRYPT },
        ],
      },
      good: { user: 'gw-b', pass: 's3cret' },
      bad: [{}, { user: 'gw-a', pass: 's3cret' }, { user: 'gw-c', pass: 'pa' }, { user: 'gw-b', pass: 'pa' }],
    },
    {
      name: 'a token',
      authorization: { token: 'leaf-token-1' },
      good: { auth_token: 'leaf-token-1' },
      bad: [{}, { auth_token: 'leaf-token-2' }, { user: 'leaf-token-1' }, { pass: 'leaf-token-1' }],
    },
  ];

  for (const c of cases) {
    describe(c.name, () => {
      let svc: EventService;
      before(async () => {
        svc = await startEventService({
          service: { host: HOST, port: 0 },
          leafnodes: { host: HOST, port: 0, authorization: c.authorization } as never,
          log: { level: 'silent' },
        });
      });
      after(() => svc?.close());
      const target = () => ({ host: HOST, port: svc.leafnodePort! });

      it('INFO says auth_required, as nats-server does for a leafnode port with authorization', async () => {
        const conn = pool.track(await connectRaw(target()));
        assert.equal(conn.info.auth_required, true);
      });

      it('a missing or wrong credential gets Authorization Violation and the close, and nothing of ours', async () => {
        for (const creds of c.bad) {
          const conn = pool.track(await connectRaw(target()));
          conn.send(leafConnect(creds) + intrusion(`refused-${Math.random()}`));
          await assertRefused(conn, JSON.stringify(creds));
        }
      });

      it('the right credential attaches', async () => {
        const conn = pool.track(await connectRaw(target()));
        conn.send(leafConnect(c.good) + 'PING\r\n');
        await assertAdmitted(conn, JSON.stringify(c.good));
      });
    });
  }
});

// --- certificates -----------------------------------------------------------------------------------------------

interface Pki {
  dir: string;
  ca: string;
  server: { cert: string; key: string };
  /** The gateway's upstream identity: the one listed leaf. */
  upstream: { cert: string; key: string };
  /** A client certificate of the same CA, as `npm start` hands to gateway clients (certs/client.pem). */
  client: { cert: string; key: string };
}

async function makePki(t: { after: (fn: () => void) => void }): Promise<Pki> {
  const dir = tmpDir(t, 'leaf-admission-');
  const write = (name: string, pem: CertificatePem) => {
    const cert = path.join(dir, `${name}.pem`);
    const key = path.join(dir, `${name}-key.pem`);
    fs.writeFileSync(cert, pem.cert);
    fs.writeFileSync(key, pem.key, { mode: 0o600 });
    return { cert, key };
  };
  const ca = await createCertificateAuthority({ commonName: 'leaf-admission CA' });
  return {
    dir,
    ca: write('ca', ca).cert,
    server: write('server', await createServerCertificate(ca, { commonName: 'event-service' })),
    upstream: write('upstream', await createClientCertificate(ca, 'event-gateway-upstream')),
    client: write('client', await createClientCertificate(ca, 'dev-client')),
  };
}

describe('[leafnodes.tls] verify_and_map: only listed certificate identities attach', () => {
  let pki: Pki;
  let svc: EventService;
  let storePath: string;
  const pool = new RawPool();
  const cleanups: Array<() => void> = [];

  before(async () => {
    pki = await makePki({ after: (fn) => cleanups.push(fn) });
    storePath = path.join(pki.dir, 'data', 'events.db');
    svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: {
        host: HOST,
        port: 0,
        tls: { cert_path: pki.server.cert, key_path: pki.server.key, root_ca_path: pki.ca, verify_and_map: true },
        authorization: { users: [{ user: 'CN=event-gateway-upstream' }] },
      } as never,
      store: { path: storePath },
      monitor: { host: HOST, port: 0 },
      log: { level: 'silent' },
    });
  });
  after(async () => {
    pool.closeAll();
    await svc?.close();
    for (const fn of cleanups) fn();
  });

  const tlsTo = (who: { cert: string; key: string }) =>
    connectRawTls(
      { host: HOST, port: svc.leafnodePort! },
      { ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(who.cert), key: fs.readFileSync(who.key) },
    );

  it("a client certificate of the service's CA that is not a listed leaf is refused: no LS+ or LMSG, nothing stored", async () => {
    const conn = pool.track(await tlsTo(pki.client));
    assert.equal(conn.info.auth_required, true);
    // Internal traffic the intruder would have seen after `LS+ >`.
    const timer = setInterval(() => svc.publish('internal.secret', 'not for you'), 5);
    try {
      conn.send(leafConnect() + intrusion('intruder-1'));
      await assertRefused(conn, 'client.pem on the leaf port');
    } finally {
      clearInterval(timer);
    }
    // Even claiming the listed identity as a user name changes nothing: the certificate decides.
    const again = pool.track(await tlsTo(pki.client));
    again.send(leafConnect({ user: 'CN=event-gateway-upstream' }) + intrusion('intruder-2'));
    await assertRefused(again, 'client.pem claiming the listed user');
  });

  it('the listed certificate attaches and its event is stored (the store check above can fail)', async () => {
    const conn = pool.track(await tlsTo(pki.upstream));
    conn.send(leafConnect() + 'PING\r\n');
    await assertAdmitted(conn, 'the upstream certificate');
    conn.send(intrusion('from-the-gateway'));
    const reader = new SqliteEventStore(storePath);
    try {
      await until(() => reader.get('from-the-gateway') !== undefined, 'the admitted leaf stores its event');
      assert.equal(reader.get('intruder-1'), undefined, 'the refused certificate stored nothing');
      assert.equal(reader.get('intruder-2'), undefined, 'the refused certificate stored nothing');
    } finally {
      reader.close();
    }
  });

  it('/leafz?auth=1 shows who each link authenticated as, and no secret', async () => {
    const get = async (q: string) => {
      const res = await within(fetch(`http://${HOST}:${svc.monitorPort}/leafz${q}`), `/leafz${q}`);
      return (await res.json()) as { leafs: Array<Record<string, unknown>> };
    };
    const z = await get('?auth=1');
    assert.ok(z.leafs.length >= 1);
    for (const l of z.leafs) {
      assert.equal(l.authorized_user, 'CN=event-gateway-upstream');
      assert.equal(l.auth_method, 'certificate');
    }
    // Without ?auth=1 the entries keep nats-server's shape (as /connz shows authorized_user only with auth=1).
    for (const l of (await get('')).leafs) assert.equal('auth_method' in l || 'authorized_user' in l, false);
  });
});

describe('certificate identities and refusal reasons (leafnode/auth.ts)', () => {
  it('a DN matches in any RDN order and spacing, escapes decoded; SANs match before the subject', async () => {
    assert.equal(dnKey('CN=gw,O=acme'), dnKey('O=acme, CN=gw'));
    assert.notEqual(dnKey('CN=gw,O=acme'), dnKey('CN=gw,O=other'));
    assert.equal(dnKey('CN=a\\,b'), dnKey('cn=a\\2cb'));
    const ca = await createCertificateAuthority();
    const odd = new X509Certificate((await createClientCertificate(ca, 'a,b + c=d')).cert);
    assert.equal(mapCertificate(odd, [{ user: 'CN=a\\,b \\+ c\\=d' }])?.user, 'CN=a\\,b \\+ c\\=d');
    assert.equal(mapCertificate(odd, [{ user: 'CN=a' }]), undefined);
    const withSan = new X509Certificate(
      (await createServerCertificate(ca, { commonName: 'svc', dnsNames: ['leaf.example'] })).cert,
    );
    assert.equal(mapCertificate(withSan, [{ user: 'CN=svc' }, { user: 'leaf.example' }])?.user, 'leaf.example');
    assert.equal(mapCertificate(withSan, [{ user: 'CN=svc' }])?.user, 'CN=svc');
  });

  it('a refusal reason never carries what the peer sent (a misplaced secret) or the configured secret', async () => {
    const authz = new LeafAuthorizer(
      resolveServiceConfig({
        leafnodes: { authorization: { users: [{ user: 'gw', password: 'configured-pw' }] } } as never,
      }).leafnodes!,
    );
    const reasons: string[] = [];
    for (const creds of [{ user: 'pasted-token-1', pass: 'x' }, { user: 'gw', pass: 'pasted-token-2' }, {}]) {
      const v = await authz.authorize(creds, undefined);
      assert.equal(v.ok, false);
      if (!v.ok) reasons.push(v.reason);
    }
    await authz.close();
    assert.doesNotMatch(reasons.join(' '), /pasted-token|configured-pw/);
  });
});

// --- a real nats-server leaf ------------------------------------------------------------------------------------

describe('nats-server 2.9 as a leaf with credentials', { skip: natsServerSkip() }, () => {
  let svc: EventService;
  const leaves: NatsLeaf[] = [];
  before(async () => {
    svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: {
        host: HOST,
        port: 0,
        authorization: { users: [{ user: 'edge', password: S3CRET_BCRYPT }] },
      } as never,
      log: { level: 'silent' },
    });
  });
  after(async () => {
    for (const l of leaves) await l.stop();
    await svc?.close();
  });

  it('attaches with the right user and password in its remote URL, and messages cross both ways', async () => {
    const leaf = await startNatsLeaf(svc.leafnodePort!, { userInfo: 'edge:s3cret@' });
    leaves.push(leaf);
    const nc = await within(connect({ servers: `${HOST}:${leaf.clientPort}` }), 'leaf client');
    try {
      const up = uniqueSubject('cred.up');
      const got: string[] = [];
      svc.subscribe(up, { callback: (m) => got.push(m.string()) });
      await until(
        () => {
          nc.publish(up, sc.encode('from the leaf'));
          return got.length > 0;
        },
        'leaf → hub',
        10_000,
      );
      const down = uniqueSubject('cred.down');
      const back: string[] = [];
      nc.subscribe(down, { callback: (_e, m) => back.push(sc.decode(m.data)) });
      await nc.flush();
      await until(
        () => {
          svc.publish(down, 'from the hub');
          return back.length > 0;
        },
        'hub → leaf',
        10_000,
      );
    } finally {
      await nc.close();
    }
  });

  it('with a wrong password it never attaches, and says why in its log', async () => {
    const leaf = await startNatsLeaf(svc.leafnodePort!, { userInfo: 'edge:wrong@' });
    leaves.push(leaf);
    await until(
      () => /Authorization Violation/.test(leaf.log()),
      'the leaf logs the refusal',
      10_000,
      () => leaf.log(),
    );
    assert.deepEqual(await natsLeafLinks(leaf), []);
  });
});

// --- configuration ----------------------------------------------------------------------------------------------

describe('[leafnodes] configuration', () => {
  it('binds loopback unless told otherwise', async (t: TestContext) => {
    assert.equal(resolveServiceConfig({ leafnodes: {} }).leafnodes?.host, '127.0.0.1');
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: { port: 0 },
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const conn = await connectRaw({ host: '127.0.0.1', port: svc.leafnodePort! });
    t.after(() => conn.close());
    assert.equal(conn.socket.remoteAddress, '127.0.0.1');
  });

  function load(t: TestContext, lines: string[]): { file: string; run: () => unknown } {
    const dir = tmpDir(t, 'leaf-config-');
    const file = path.join(dir, 'service.toml');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return { file, run: () => loadServiceConfig({ configPath: file }) };
  }

  it('a port that authenticates nobody on a non-loopback address is refused, naming file, line and key', (t: TestContext) => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'leaf.example']) {
      const { file, run } = load(t, [
        '[service]',
        'token = "client-token"',
        '',
        '[leafnodes]',
        `host = "${host}"`,
        'port = 7422',
      ]);
      assert.throws(
        run,
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: leafnodes\\.host: `));
          assert.match(err.message, /\[leafnodes\.authorization\]/);
          return true;
        },
        host,
      );
    }
  });

  it('TLS alone (any certificate of the CA) does not count as naming who may attach off loopback', (t: TestContext) => {
    const { file, run } = load(t, [
      '[leafnodes]',
      'host = "0.0.0.0"',
      '',
      '[leafnodes.tls]',
      'cert_path = "s.pem"',
      'key_path = "k.pem"',
      'root_ca_path = "ca.pem"',
    ]);
    assert.throws(
      run,
      (err: unknown) => err instanceof ConfigError && err.message.includes(`${file}:2: leafnodes.host: `),
    );
  });

  it('off loopback, credentials or verify_and_map make the port acceptable', (t: TestContext) => {
    const a = load(t, [
      '[leafnodes]',
      'host = "0.0.0.0"',
      '[leafnodes.authorization]',
      'user = "gw"',
      'password = "pw"',
    ]);
    assert.doesNotThrow(a.run);
    const b = load(t, [
      '[leafnodes]',
      'host = "0.0.0.0"',
      '[leafnodes.tls]',
      'cert_path = "s.pem"',
      'key_path = "k.pem"',
      'root_ca_path = "ca.pem"',
      'verify_and_map = true',
      '[[leafnodes.authorization.users]]',
      'user = "CN=event-gateway-upstream"',
    ]);
    assert.doesNotThrow(b.run);
  });

  it('authorization settings that cannot work are refused with their line', (t: TestContext) => {
    const cases: Array<[string[], RegExp]> = [
      [['[leafnodes.authorization]', 'user = "gw"'], /:3: leafnodes\.authorization\.password: /],
      [['[leafnodes.authorization]', 'password = "pw"'], /:3: leafnodes\.authorization\.user: /],
      [
        ['[leafnodes.authorization]', 'token = "t"', 'user = "gw"', 'password = "pw"'],
        /:3: leafnodes\.authorization\.token: /,
      ],
      [
        [
          '[leafnodes.authorization]',
          'user = "gw"',
          'password = "pw"',
          '[[leafnodes.authorization.users]]',
          'user = "b"',
          'password = "x"',
        ],
        /leafnodes\.authorization\.users: /,
      ],
      [['[[leafnodes.authorization.users]]', 'user = "b"'], /:2: leafnodes\.authorization\.users\[0\]\.password: /],
      [
        [
          '[[leafnodes.authorization.users]]',
          'user = "b"',
          'password = "1"',
          '[[leafnodes.authorization.users]]',
          'user = "b"',
          'password = "2"',
        ],
        /:6: leafnodes\.authorization\.users\[1\]\.user: .*twice/,
      ],
      [
        [
          '[leafnodes.tls]',
          'cert_path = "s.pem"',
          'key_path = "k.pem"',
          'root_ca_path = "ca.pem"',
          'verify_and_map = true',
        ],
        /:6: leafnodes\.tls\.verify_and_map: /,
      ],
    ];
    for (const [lines, re] of cases) {
      const { run } = load(t, ['[leafnodes]', ...lines]);
      assert.throws(
        run,
        (err: unknown) => err instanceof ConfigError && re.test(err.message),
        `${lines.join(' / ')} → ${re}`,
      );
    }
  });

  it('the CLI refuses the open non-loopback port (exit 2, file:line: key: reason on stderr)', async (t: TestContext) => {
    const { file } = load(t, ['[service]', 'port = 0', '[leafnodes]', 'host = "0.0.0.0"', 'port = 0']);
    const r = await runToExit(t, ['--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${path.basename(file)}:4: leafnodes\\.host: `));
  });

  it('--print-config redacts the leaf password and token but keeps user names', async (t: TestContext) => {
    const { file } = load(t, [
      '[leafnodes.authorization]',
      'token = "tok-visible-nowhere"',
      '[leafnodes.tls]',
      'cert_path = "s.pem"',
      'key_path = "k.pem"',
      'root_ca_path = "ca.pem"',
    ]);
    const r = await runToExit(t, ['--config', file, '--print-config']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /tok-visible-nowhere/);
    assert.match(r.stdout, /token = "<redacted>"/);
    const { file: f2 } = load(t, [
      '[[leafnodes.authorization.users]]',
      'user = "gw-b"',
      'password = "pw-visible-nowhere"',
    ]);
    const r2 = await runToExit(t, ['--config', f2, '--print-config']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.doesNotMatch(r2.stdout, /pw-visible-nowhere/);
    assert.match(r2.stdout, /gw-b/);
  });
});

describe('[leafnodes] settings in reload diffs', () => {
  it('a changed users list is shown with each password redacted (config reload and `config patch` print these)', () => {
    const before = resolveServiceConfig({
      leafnodes: { authorization: { users: [{ user: 'gw', password: 'old-secret' }] } } as never,
    });
    const next = resolveServiceConfig({
      leafnodes: {
        authorization: {
          users: [
            { user: 'gw', password: 'new-secret' },
            { user: 'b', password: 'b-secret' },
          ],
        },
      } as never,
    });
    const { restart, applied } = configChanges(before, next, { inForce: before });
    const shown = JSON.stringify([...restart, ...applied]);
    assert.match(shown, /leafnodes\.authorization\.users/);
    assert.doesNotMatch(shown, /secret/);
    assert.match(shown, /"user":"b"/);
  });
});

// --- unauthenticated connections are bounded ---------------------------------------------------------------------

/**
 * A peer that goes on sending after `first` and never closes its side: how much the service read from it after its
 * -ERR. A socket ended gracefully keeps reading (and throwing away) the burst until the peer stops or the 2 s grace
 * ends; a dropped one is reset. Writes stop at the reset or at `limit` bytes.
 */
async function burstAfterRefusal(
  port: number,
  first: string,
  limit: number,
): Promise<{ answer: string; sent: number; reset: boolean }> {
  const socket = net.connect({ port, host: HOST, allowHalfOpen: true });
  let input = '';
  let failed = false;
  socket.on('data', (d: Buffer) => (input += d.toString('latin1')));
  socket.on('error', () => (failed = true));
  try {
    await until(() => input.includes('\r\n') || failed, 'the INFO', 3000);
    input = '';
    socket.write(first);
    await until(
      () => input.includes('-ERR') || failed,
      'the -ERR',
      3000,
      () => JSON.stringify(input),
    );
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    while (sent < limit && !failed) {
      const ok = await new Promise<boolean>((resolve) => socket.write(chunk, (err) => resolve(err == null)));
      if (!ok) break;
      sent += chunk.length;
    }
    return { answer: input, sent, reset: failed };
  } finally {
    socket.destroy();
  }
}

describe('refused leaves are dropped once their -ERR is out', () => {
  // Far more than the kernel's socket buffers hold on loopback: a peer still sending that much after its -ERR was
  // being read by the service.
  const LIMIT = 32 * 1024 * 1024;
  const USER = { user: 'leaf', password: 's3cret' };

  for (const [what, first, expected, conf] of [
    ['an operation before CONNECT', 'LMSG foo 10\r\n', 'Authorization Violation', { authorization: USER }],
    [
      'a CONNECT with a wrong password',
      leafConnect({ user: 'leaf', pass: 'wrong' }),
      'Authorization Violation',
      { authorization: USER },
    ],
    [
      'a CONNECT whose bcrypt check fails',
      leafConnect({ user: 'leaf', pass: 'wrong' }),
      'Authorization Violation',
      { authorization: { user: 'leaf', password: S3CRET_BCRYPT } },
    ],
    [
      'a client CONNECT on the leaf port',
      'CONNECT {"lang":"node","verbose":false}\r\n',
      'attempted to connect to leaf node port',
      {},
    ],
  ] as const) {
    it(`${what}: the -ERR, then the connection reset, nothing more read`, async (t: TestContext) => {
      const svc = await startEventService({
        service: { host: HOST, port: 0 },
        leafnodes: { host: HOST, port: 0, ...conf } as never,
        log: { level: 'silent' },
      });
      t.after(() => svc.close());
      const r = await burstAfterRefusal(svc.leafnodePort!, first, LIMIT);
      assert.match(r.answer, new RegExp(`^-ERR '${expected}'\\r\\n`));
      assert.ok(
        r.reset && r.sent < LIMIT,
        `the peer wrote ${r.sent} bytes after its -ERR${r.reset ? ' before the reset' : ' and was never reset'}`,
      );
    });
  }
});

describe('nothing behind a CONNECT is read before its verdict', () => {
  it('a wrong bcrypt password with a bad operation behind it in the same write is an Authorization Violation, as on nats-server', async (t: TestContext) => {
    if (!requireNatsServer(t)) return;
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: { host: HOST, port: 0, authorization: { user: 'leaf', password: S3CRET_BCRYPT } } as never,
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const [port, leafPort] = [await freePort(), await freePort()];
    await startNatsServer(
      t,
      [
        `listen: "${HOST}:${port}"`,
        `leafnodes { listen: "${HOST}:${leafPort}", authorization { user: leaf, password: "${S3CRET_BCRYPT}" } }`,
      ],
      port,
    );
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    for (const behind of ['FOO bar\r\n', `LMSG foo ${'9'.repeat(9)}\r\n`, 'LS+ foo\r\nLMSG foo 2\r\nhiXX']) {
      const answers: string[] = [];
      for (const target of [leafPort, svc.leafnodePort!]) {
        const conn = pool.track(await connectRaw({ host: HOST, port: target }));
        conn.send(leafConnect({ user: 'leaf', pass: 'wrong' }) + behind);
        answers.push((await conn.expectClosed(3000)).rest);
      }
      assert.equal(answers[0], "-ERR 'Authorization Violation'\r\n", `nats-server, ${JSON.stringify(behind)}`);
      assert.equal(answers[1], answers[0], `ours, ${JSON.stringify(behind)}`);
    }
  });

  it('the right bcrypt password with interest, a message and a PING behind it in the same write: all handled, in order, once admitted', async (t: TestContext) => {
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: { host: HOST, port: 0, authorization: { user: 'leaf', password: S3CRET_BCRYPT } } as never,
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const subject = uniqueSubject('behind');
    const got: string[] = [];
    svc.subscribe(subject, { callback: (m) => got.push(m.string()) });
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    const conn = pool.track(await connectRaw({ host: HOST, port: svc.leafnodePort! }));
    conn.send(
      `${leafConnect({ user: 'leaf', pass: 's3cret' })}LS+ ${subject}.back\r\nLMSG ${subject} 5\r\nhello\r\nPING\r\n`,
    );
    await assertAdmitted(conn, 'bcrypt, with operations behind the CONNECT');
    assert.deepEqual(got, ['hello'], 'the message behind the CONNECT was published before the PONG');
    // The LS+ behind the CONNECT made the leaf's interest: a message to it comes down the link.
    svc.publish(`${subject}.back`, 'down');
    await conn.expect(new RegExp(`LMSG ${subject.replace(/\./g, '\\.')}\\.back 4\\r\\ndown\\r\\n`), 3000);
  });
});

describe('unauthenticated connections on the leaf port', () => {
  it('are bounded in number (max_unauthenticated) and in time (the authorization timeout); a real leaf gets in after', async (t: TestContext) => {
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: {
        host: HOST,
        port: 0,
        max_unauthenticated: 3,
        authorization: { user: 'leaf', password: 's3cret', timeout: '400ms' },
      } as never,
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    const target = { host: HOST, port: svc.leafnodePort! };
    const silent = [await pool.connect(target), await pool.connect(target), await pool.connect(target)];
    // The fourth is turned away at once, before any INFO.
    const fourth = pool.track(new RawConn(net.connect(target.port, target.host)));
    const closed = await fourth.expectClosed(2000);
    assert.equal(closed.rest, "-ERR 'maximum connections exceeded'\r\n");
    // The silent ones end with nats-server's timeout text.
    for (const s of silent) {
      const c = await s.expectClosed(3000);
      assert.equal(c.rest, "-ERR 'Authentication Timeout'\r\n");
    }
    const leaf = pool.track(await connectRaw(target));
    leaf.send(leafConnect({ user: 'leaf', pass: 's3cret' }) + 'PING\r\n');
    await assertAdmitted(leaf, 'after the flood');
    // An admitted link no longer counts: three more may wait again, and a fourth is the one turned away.
    const again = [await pool.connect(target), await pool.connect(target), await pool.connect(target)];
    const fifth = pool.track(new RawConn(net.connect(target.port, target.host)));
    assert.equal((await fifth.expectClosed(2000)).rest, "-ERR 'maximum connections exceeded'\r\n");
    for (const s of again) assert.equal(s.closed, false);
  });

  it('a loop of connect, a wrong bcrypt password and close queues no compares behind a real leaf: it is admitted within its timeout', async (t: TestContext) => {
    // Each wrong password costs the worker one bcrypt compare (~75 ms at cost 10); a socket gone before its compare
    // started must not leave it queued, or a real leaf's check waits behind all of them past its timeout.
    const MAX_UNAUTHENTICATED = 4;
    const FLOOD = 150;
    const FLOOD_MS = 4000;
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: {
        host: HOST,
        port: 0,
        max_unauthenticated: MAX_UNAUTHENTICATED,
        authorization: { user: 'leaf', password: S3CRET_BCRYPT, timeout: '2s' },
      } as never,
      monitor: { host: HOST, port: 0 },
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const handlerz = async () =>
      (
        (await (await fetch(`http://${HOST}:${svc.monitorPort}/handlerz`)).json()) as {
          leafnodes: { bcrypt_waiting: number; unauthenticated: number };
        }
      ).leafnodes;
    const wrong = leafConnect({ user: 'leaf', pass: 'wrong' });
    const started = Date.now();
    let sent = 0;
    let peak = 0;
    while (sent < FLOOD && Date.now() - started < FLOOD_MS) {
      const s = net.connect(svc.leafnodePort!, HOST);
      s.on('error', () => {});
      s.resume();
      s.end(wrong);
      await within(new Promise((r) => s.once('close', r)), 'a flood socket closes');
      if (++sent % 25 === 0) peak = Math.max(peak, (await handlerz()).bcrypt_waiting);
    }
    const after = await handlerz();
    peak = Math.max(peak, after.bcrypt_waiting);
    t.diagnostic(
      `${sent} wrong passwords in ${Date.now() - started} ms; bcrypt checks waiting: peak ${peak}, ${after.bcrypt_waiting} after the loop`,
    );
    assert.ok(
      peak <= MAX_UNAUTHENTICATED,
      `at most max_unauthenticated (${MAX_UNAUTHENTICATED}) bcrypt checks wait, saw ${peak}`,
    );
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    const leaf = pool.track(await connectRaw({ host: HOST, port: svc.leafnodePort! }));
    const asked = Date.now();
    leaf.send(leafConnect({ user: 'leaf', pass: 's3cret' }) + 'PING\r\n');
    await assertAdmitted(leaf, 'the real leaf after the flood');
    t.diagnostic(`the real leaf was admitted ${Date.now() - asked} ms after its CONNECT`);
  });

  it('have one deadline from accept, read as each socket arrives: a reload of auth_timeout reaches the TLS handshake and the CONNECT', async (t: TestContext) => {
    const pki = await makePki(t);
    const conf = path.join(pki.dir, 'svc.toml');
    const lines = (authTimeout: string) => [
      '[service]',
      `host = "${HOST}"`,
      'port = 0',
      `auth_timeout = "${authTimeout}"`,
      '[leafnodes]',
      `host = "${HOST}"`,
      'port = 0',
      '[leafnodes.tls]',
      `cert_path = "${pki.server.cert}"`,
      `key_path = "${pki.server.key}"`,
      `root_ca_path = "${pki.ca}"`,
      '[log]',
      'format = "json"',
    ];
    fs.writeFileSync(conf, lines('10s').join('\n'));
    const { run } = await startCli(t, ['--config', conf]);
    const leafPort = (await logLine(run, 'listening for leafnode connections')).port as number;
    fs.writeFileSync(conf, lines('500ms').join('\n'));
    await signal(run, 'SIGHUP');
    await logLine(run, 'configuration reloaded');
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    const started = Date.now();
    // Greeted in plaintext, never starts its TLS handshake.
    const noHandshake = pool.track(new RawConn(net.connect(leafPort, HOST)));
    // Handshake done, never sends CONNECT.
    const noConnect = pool.track(
      await connectRawTls(
        { host: HOST, port: leafPort },
        {
          ca: fs.readFileSync(pki.ca),
          cert: fs.readFileSync(pki.upstream.cert),
          key: fs.readFileSync(pki.upstream.key),
        },
      ),
    );
    const [a, b] = await Promise.all([noHandshake.expectClosed(3000), noConnect.expectClosed(3000)]);
    t.diagnostic(
      `both closed ${Date.now() - started} ms after accept (auth_timeout 10 s at start, 500 ms after the reload)`,
    );
    assert.match(a.rest, /^INFO /, 'the one without a handshake got its INFO, then the close');
    assert.equal(b.rest, "-ERR 'Authentication Timeout'\r\n");
  });
});
