// Who may attach to the [leafnodes] port (issue 11, finding 2): a leaf is trusted with every message, so the port
// admits only the credentials ([leafnodes.authorization] user/password, users, token) or the certificate identities
// ([leafnodes.tls] verify_and_map) it was told to, and answers everything else as nats-server 2.9.10 does:
// `-ERR 'Authorization Violation'`, closed. Raw sockets for the exact wire, Debian's nats-server as a real leaf with
// credentials, the real store for "nothing was stored". The config rules are in leaf-admission-config.test.ts, the
// bounds on unauthenticated sockets in leaf-admission-unauthenticated.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connect, StringCodec } from 'nats';
import { createCertificateAuthority, createClientCertificate, createServerCertificate } from '@event-broker/dev-tools';
import { resolveServiceConfig } from '../src/config.js';
import { startEventService, type EventService } from '../src/index.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { LeafAuthorizer, dnKey, mapCertificate } from '../src/leafnode/auth.js';
import { uniqueSubject } from '@event-broker/test-support/flow';
import { type NatsLeaf, natsLeafLinks, natsServerSkip, startNatsLeaf } from '@event-broker/test-support/nats-server';
import { connectRaw, connectRawTls, RawPool } from '@event-broker/test-support/raw';
import { until, within } from '@event-broker/test-support/wait';
import {
  S3CRET_BCRYPT,
  assertAdmitted,
  assertRefused,
  intrusion,
  leafConnect,
  makePki,
  type Pki,
} from './helpers/leaf-admission.js';

const sc = StringCodec();
const HOST = '127.0.0.1';

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
