// The gateway's monitoring port read the way nats-top and prometheus-nats-exporter read nats-server's: the gateway
// (a leaf of the event service) beside a nats-server leaf of a nats-server hub, both with TLS client certificates
// and a token required, the same clients on each. Every field nats-server answers must be in ours with the same
// JSON type; /leafz shows the link to the hub as the nats-server leaf shows its remote. Then /connz paging and
// sorting, who the token names, /healthz while the link goes down, and 400s with nats-server's texts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { AUTH_STAMP_MAX_BYTES } from '@event-broker/shared';
import { DEV_PKI_FILES } from '@event-broker/dev-tools';
import type { EventService } from '@event-broker/event-service';
import type { EventGateway } from '../src/server.js';
import { natsServerInstalled, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { until } from '@event-broker/test-support/wait';
import { devPki, getJson, missingOrMistyped, startService, startTestGateway, type Pki } from './helpers/ops.js';

/** A server under test: where clients connect, where its monitoring answers. */
interface Monitored {
  name: string;
  url: string;
  monitor: string;
  connect(name: string): Promise<NatsConnection>;
}

/** Same clients on each server: `a` (3 subscriptions, publishes 5 to foo.bar), `b` (2, one in a queue group). */
async function populate(m: Monitored): Promise<NatsConnection[]> {
  const a = await m.connect('a');
  const b = await m.connect('b');
  a.subscribe('foo.>');
  a.subscribe('orders.*');
  a.subscribe('audit');
  b.subscribe('foo.bar', { queue: 'workers' });
  b.subscribe('foo.*');
  await b.flush();
  for (let i = 0; i < 5; i++) a.publish('foo.bar', `message ${i}`);
  await a.flush();
  await b.flush();
  return [a, b];
}

const natsThere = natsServerInstalled();
if (!natsThere && process.env['CI']) throw new Error('nats-server is not installed; .ci/run installs it');

describe('gateway monitoring beside a nats-server leaf', { skip: !natsThere && 'nats-server not installed' }, () => {
  // node:test's describe gives no TestContext to before(): cleanups collected here, run in after().
  const cleanups: (() => unknown)[] = [];
  const fakeT = { after: (f: () => unknown) => void cleanups.push(f) } as unknown as import('node:test').TestContext;
  let pki: Pki;
  let service: EventService;
  let gateway: EventGateway;
  let ours: Monitored;
  let theirs: Monitored;
  const conns: NatsConnection[] = [];

  before(async () => {
    pki = await devPki(fakeT);
    service = await startService(fakeT, pki);
    gateway = await startTestGateway(fakeT, pki, service.leafnodePort!);
    const F = DEV_PKI_FILES;
    const tlsOpts = { caFile: pki.file(F.ca.cert), certFile: pki.file(F.client.cert), keyFile: pki.file(F.client.key) };
    const token = await pki.token('monitor-test-user');
    ours = {
      name: 'gateway',
      url: `${HOST}:${gateway.port}`,
      monitor: `http://${HOST}:${gateway.monitorPort}`,
      connect: (name) => connect({ servers: `${HOST}:${gateway.port}`, name, token, tls: tlsOpts, timeout: 5000 }),
    };
    // The reference: a nats-server leaf (client TLS with verify, a token) of a nats-server hub.
    const [hubPort, hubLeafPort, leafPort, leafHttp] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    await startNatsServer(
      fakeT,
      [`listen: "${HOST}:${hubPort}"`, 'server_name: ref-hub', `leafnodes { listen: "${HOST}:${hubLeafPort}" }`],
      hubPort,
    );
    await startNatsServer(
      fakeT,
      [
        `listen: "${HOST}:${leafPort}"`,
        `http: "${HOST}:${leafHttp}"`,
        'server_name: ref-leaf',
        'authorization { token: "ref-token" }',
        `tls { cert_file: "${pki.file(F.gateway.cert)}", key_file: "${pki.file(F.gateway.key)}", ca_file: "${pki.file(F.ca.cert)}", verify: true }`,
        `leafnodes { remotes: [ { url: "nats://${HOST}:${hubLeafPort}" } ] }`,
      ],
      leafPort,
    );
    theirs = {
      name: 'nats-server',
      url: `${HOST}:${leafPort}`,
      monitor: `http://${HOST}:${leafHttp}`,
      connect: (name) =>
        connect({ servers: `${HOST}:${leafPort}`, name, token: 'ref-token', tls: tlsOpts, timeout: 5000 }),
    };
    // Both leaves linked before the clients arrive, so the figures compare.
    await until(
      async () => (await getJson(`${theirs.monitor}/leafz`)).leafnodes === 1,
      'the nats-server leaf links to its hub',
    );
    conns.push(...(await populate(ours)), ...(await populate(theirs)));
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    for (const f of cleanups.reverse()) await f();
  });

  it('/varz has every field a nats-server leaf answers (system_account aside), with the same JSON types', async () => {
    const [o, t] = await Promise.all([getJson(`${ours.monitor}/varz`), getJson(`${theirs.monitor}/varz`)]);
    assert.deepEqual(missingOrMistyped(o, t, 'varz', ['system_account']), []);
    for (const k of [
      'auth_required',
      'tls_required',
      'tls_verify',
      'leaf',
      'leafnodes',
      'connections',
      'in_msgs',
      'subscriptions',
    ])
      assert.ok(k in t, `nats-server answers ${k}`);
    assert.equal(o.ping_interval, t.ping_interval);
    assert.equal(o.write_deadline, t.write_deadline);
    // What clients are held to: the service's (the same default) less the room the identity stamp takes.
    assert.equal(o.max_payload, t.max_payload - AUTH_STAMP_MAX_BYTES);
    assert.equal(o.max_pending, t.max_pending);
    assert.equal(o.connections, 2);
    assert.equal(o.subscriptions, 5, "the clients' subscriptions");
    // Beyond the clients' traffic: the gateway's credit exchange with the service (its quota asked for at the link's
    // start), each message one in and one out; shown apart.
    const credit = o.event_credit.messages_total + o.listener_quota.messages_total;
    assert.ok(credit > 0, 'the listener quota was asked for');
    assert.equal(o.in_msgs - credit, 5);
    assert.equal(o.out_msgs - credit, t.out_msgs);
    assert.deepEqual([o.auth_required, o.tls_required, o.tls_verify], [t.auth_required, t.tls_required, t.tls_verify]);
    // The leaf side: one remote, up.
    assert.equal(o.leafnodes, t.leafnodes);
    assert.equal(o.leafnodes, 1);
    assert.deepEqual(Object.keys(o.leaf.remotes[0]).sort(), Object.keys(t.leaf.remotes[0]).sort());
    assert.deepEqual(o.leaf.remotes[0].urls, [`${HOST}:${service.leafnodePort}`]);
    assert.equal(o.http_port, gateway.monitorPort);
    assert.match(o.server_id, /^N[A-Z2-7]{55}$/);
    // Ours beyond nats-server: the link and admission figures.
    assert.equal(o.upstream.state, 'up');
    assert.equal(typeof o.auth_failures.token_expired, 'number');
  });

  it('/connz connections carry every field nats-server gives (TLS ones too), plus who the token names', async () => {
    for (const q of ['', '?subs=1', '?subs=detail', '?auth=1']) {
      const [o, t] = await Promise.all([getJson(`${ours.monitor}/connz${q}`), getJson(`${theirs.monitor}/connz${q}`)]);
      assert.deepEqual(missingOrMistyped(o, t, `connz${q}`), []);
      assert.equal(o.connections.length, 2);
      assert.equal(t.connections.length, 2);
      const [oa, ta] = [o.connections[0], t.connections[0]];
      assert.deepEqual(missingOrMistyped(oa, ta, `connz${q}.connections[0]`), []);
      // The same fields, and beyond them only ours: who the token names, its id and the limits in force for it.
      assert.deepEqual(
        Object.keys(oa)
          .filter((k) => !(k in ta))
          .sort(),
        ['limits', 'token_id', 'who'],
        `extra fields (${q})`,
      );
      assert.deepEqual(
        Object.keys(ta).filter((k) => !(k in oa)),
        [],
        `nothing missing (${q})`,
      );
      for (const k of [
        'name',
        'lang',
        'in_msgs',
        'out_msgs',
        'in_bytes',
        'out_bytes',
        'subscriptions',
        'kind',
        'type',
        'ip',
        'tls_version',
      ]) {
        assert.deepEqual(oa[k], ta[k], `${k} (${q})`);
      }
      assert.equal(oa.who, 'monitor-test-user');
      assert.match(oa.token_id, /^[0-9a-f-]{36}$/);
      // No limit in the token and no [gateway] default: max_subscriptions unset (-1, none), max_payload in force
      // (the service's less the identity stamp's room).
      assert.deepEqual(oa.limits, { subs: -1, payload: 1024 * 1024 - AUTH_STAMP_MAX_BYTES }, `limits (${q})`);
      if (q === '?auth=1') {
        assert.equal(oa.authorized_user, 'monitor-test-user', "the token's subject, never the token");
        // The client's certificate chain, in Go's subject spelling, with the same hashes.
        assert.deepEqual(oa.tls_peer_certs, ta.tls_peer_certs);
      } else {
        assert.equal(oa.tls_peer_certs, undefined, 'the chain only with auth=1, as nats-server');
      }
      if (q === '?subs=1') assert.deepEqual([...oa.subscriptions_list].sort(), [...ta.subscriptions_list].sort());
      if (q === '?subs=detail') {
        const strip = (l: any[]) =>
          l.map(({ cid: _c, ...rest }) => rest).sort((x, y) => x.subject.localeCompare(y.subject));
        assert.deepEqual(
          strip(o.connections[1].subscriptions_list_detail),
          strip(t.connections[1].subscriptions_list_detail),
        );
      }
    }
  });

  it('/connz sorts, pages and filters as nats-server does', async () => {
    const names = (z: Record<string, any>) => z.connections.map((c: any) => c.name);
    for (const m of [ours, theirs]) {
      assert.deepEqual(names(await getJson(`${m.monitor}/connz`)), ['a', 'b'], `${m.name}: cid order`);
      assert.deepEqual(
        names(await getJson(`${m.monitor}/connz?sort=subs`)),
        ['a', 'b'],
        `${m.name}: most subscriptions first`,
      );
      assert.deepEqual(
        names(await getJson(`${m.monitor}/connz?sort=msgs_to`)),
        ['b', 'a'],
        `${m.name}: most received first`,
      );
      const page = await getJson(`${m.monitor}/connz?limit=1&offset=1`);
      assert.deepEqual(
        [page.num_connections, page.total, page.offset, page.limit, names(page)],
        [1, 2, 1, 1, ['b']],
        m.name,
      );
      const bogus = await fetch(`${m.monitor}/connz?sort=bogus`);
      assert.equal(bogus.status, 400, m.name);
      assert.equal(await bogus.text(), 'invalid sorting option: bogus');
    }
  });

  it("/subsz has nats-server's figures, and with subs=1 its list fields", async () => {
    const [o, t] = await Promise.all([getJson(`${ours.monitor}/subsz`), getJson(`${theirs.monitor}/subsz`)]);
    assert.deepEqual(missingOrMistyped(o, t, 'subsz'), []);
    const [ol, tl] = await Promise.all([
      getJson(`${ours.monitor}/subsz?subs=1`),
      getJson(`${theirs.monitor}/subsz?subs=1`),
    ]);
    assert.deepEqual(missingOrMistyped(ol, tl, 'subsz?subs=1'), []);
    const [os, ts] = [
      ol.subscriptions_list.find((s: any) => s.qgroup === 'workers'),
      tl.subscriptions_list.find((s: any) => s.qgroup === 'workers'),
    ];
    assert.deepEqual(missingOrMistyped(os, ts, 'subsz.subscriptions_list[]'), []);
    assert.equal(
      ol.subscriptions_list.length,
      5,
      "the clients' subscriptions are listed, not the hub's mirrored interest",
    );
  });

  it('/leafz shows the link to the event service as a nats-server leaf shows its remote', async () => {
    const [o, t] = await Promise.all([
      getJson(`${ours.monitor}/leafz?subs=1`),
      getJson(`${theirs.monitor}/leafz?subs=1`),
    ]);
    assert.deepEqual(missingOrMistyped(o, t, 'leafz'), []);
    assert.equal(o.leafnodes, 1);
    const [ol, tl] = [o.leafs[0], t.leafs[0]];
    assert.deepEqual(missingOrMistyped(ol, tl, 'leafz.leafs[0]'), []);
    // Beyond 2.9's fields only name and is_spoke (2.10's), which a leaf sets true for its remote.
    assert.deepEqual(
      Object.keys(ol)
        .filter((k) => !(k in tl))
        .sort(),
      ['is_spoke', 'name'],
    );
    assert.equal(ol.is_spoke, true);
    assert.equal(ol.name, service.serverId, "the hub's server name (the service's id when unnamed)");
    assert.equal(ol.ip, HOST);
    assert.equal(ol.port, service.leafnodePort, "the remote's port, as a leaf shows it");
    assert.equal(ol.account, tl.account);
    // The hub's interest as it announced it: the clients' subjects come back from the service only if something
    // there wants them; its $LDS loop subject always.
    assert.ok(
      ol.subscriptions_list.some((s: string) => s.startsWith('$LDS.')),
      JSON.stringify(ol),
    );
    assert.ok(ol.out_msgs >= 0 && ol.in_msgs >= 0);
  });

  it('/healthz is 200 {"status":"ok",...} on both while linked', async () => {
    const [o, t] = await Promise.all([fetch(`${ours.monitor}/healthz`), fetch(`${theirs.monitor}/healthz`)]);
    assert.equal(o.status, 200);
    assert.equal(t.status, 200);
    const [ob, tb] = [(await o.json()) as Record<string, unknown>, (await t.json()) as Record<string, unknown>];
    assert.deepEqual(missingOrMistyped(ob, tb, 'healthz'), []);
    assert.equal(ob.status, 'ok');
    assert.equal(ob.check, 'round-trip', 'through the link to the service and back');
    const unknown = await fetch(`${ours.monitor}/nope`);
    assert.equal(unknown.status, 404);
  });
});
