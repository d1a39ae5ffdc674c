// Verified identity on stored events (issue 12, item 4): each event records who the service verified its publisher
// as (the CloudEvents authcontext attributes authtype, authid, authclaims), whatever the producer's JSON says. A
// gateway client is named by its token (the gateway stamps each of its messages with a Gateway-Auth header and
// removes a copy the client wrote), a direct client by the service's authenticator, an in-process producer as the
// system. The feed filters by it and the sinks receive it. Real service (store, an HTTP sink, monitoring) and real
// gateways over TLS, official `nats` clients, a node:http receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { headers, StringCodec, type Msg, type MsgHdrs } from 'nats';
import { AUTH_HEADER, HEALTH_SUBJECT } from '@event-broker/shared';
import { startDownSink } from '@event-broker/test-support/http';
import { freePort } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import {
  devPki,
  externalClient,
  gatewayWants,
  getJson,
  internalClient,
  record,
  startService,
  startTestGateway,
} from './helpers/bridge.js';

const sc = StringCodec();
const WAIT_MS = 10_000;
const SERVICE_TOKEN = 'identity-test-token';

interface Stored {
  id: string;
  producer?: { id: string };
  authtype?: string;
  authid?: string;
  authclaims?: string;
}

/** An event whose producer claims to be the platform itself, and to have been verified as root. */
function claimingEvent(id: string): string {
  return JSON.stringify({
    specversion: '1.0',
    id,
    source: '/automate',
    type: 'scanJobUpdated',
    producer: { id: 'automate-core', name: 'automate-core', type: 'service' },
    authtype: 'system',
    authid: 'root',
    authclaims: '{"admin":true}',
  });
}

/** Every value of the header, whatever the case of its name (as NATS compares header names). */
function stampValues(h: MsgHdrs | undefined): string[] {
  if (h === undefined) return [];
  const out: string[] = [];
  for (const k of h.keys()) if (k.toLowerCase() === AUTH_HEADER.toLowerCase()) out.push(...h.values(k));
  return out;
}

test('a stored event names its verified publisher: gateway client by token, direct client by token kind, in-process as the system; the feed filters by it, the sink receives it', async (t) => {
  const sink = await startDownSink(t);
  sink.up();
  const pki = await devPki(t);
  const service = await startService(t, pki, {
    config: {
      service: { token: SERVICE_TOKEN },
      store: { path: path.join(tmpDir(t, 'identity-'), 'events.db') },
      handlers: { event_feed: { url: sink.url } },
    },
  });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`);
  const aliceToken = await pki.devToken('alice', { pub: { allow: ['events.>'] } });
  const alice = await externalClient(t, pki, gateway.port, aliceToken);
  const bob = await externalClient(t, pki, gateway.port, await pki.devToken('bob', { pub: { allow: ['events.>'] } }));
  const internal = await internalClient(t, pki, service.port, { token: SERVICE_TOKEN });
  // An internal subscriber of what is published: it sees the gateway's stamp, once.
  const seen = record(internal, 'events.>');
  await internal.flush();
  await until(
    () => gatewayWants(gateway, 'events.scanJobUpdated'),
    "the service's interest reaches the gateway",
    WAIT_MS,
  );

  const forged = headers();
  forged.set(AUTH_HEADER, JSON.stringify({ authtype: 'system', authid: 'root' }));
  forged.set(AUTH_HEADER.toLowerCase(), JSON.stringify({ authtype: 'service_account', authid: 'automate-core' }));
  alice.publish('events.scanJobUpdated', sc.encode(claimingEvent('a-plain')));
  alice.publish('events.scanJobUpdated', sc.encode(claimingEvent('a-forged')), { headers: forged });
  bob.publish('events.scanJobUpdated', sc.encode(claimingEvent('b-plain')));
  // A direct client's header is no identity either: the service's authenticator is.
  internal.publish('events.scanJobUpdated', sc.encode(claimingEvent('i-forged')), { headers: forged });
  service.publish('events.scanJobUpdated', claimingEvent('p-inproc'));
  await Promise.all([alice.flush(), bob.flush(), internal.flush()]);

  const feed = (q: string) =>
    getJson<{ events: { event: Stored }[] }>(`http://127.0.0.1:${service.monitorPort}/events?${q}`);
  await until(async () => (await feed('')).events.length === 5, 'all five events are stored', WAIT_MS);
  const byId = new Map((await feed('')).events.map((e) => [e.event.id, e.event]));
  const auth = (id: string) => {
    const e = byId.get(id)!;
    return {
      authtype: e.authtype,
      authid: e.authid,
      claims: e.authclaims === undefined ? undefined : (JSON.parse(e.authclaims) as Record<string, unknown>),
    };
  };

  const aliceJti = decodeJwt(aliceToken).jti;
  const aliceAuth = auth('a-plain');
  assert.equal(aliceAuth.authtype, 'app_user');
  assert.equal(aliceAuth.authid, 'alice', "the token's subject, not the authid the JSON claimed");
  assert.equal(aliceAuth.claims?.iss, 'event-broker-dev');
  assert.equal(aliceAuth.claims?.jti, aliceJti);
  assert.match(String(aliceAuth.claims?.cert_subject), /CN=dev-client/);
  assert.equal(
    byId.get('a-plain')!.producer?.id,
    'automate-core',
    "the producer field is the producer's to say; who sent it is beside it",
  );
  assert.deepEqual(auth('a-forged'), aliceAuth, 'a Gateway-Auth header the client wrote changes nothing');
  assert.deepEqual(
    { ...auth('b-plain'), claims: undefined },
    { authtype: 'app_user', authid: 'bob', claims: undefined },
  );
  assert.deepEqual(auth('i-forged'), { authtype: 'api_key', authid: undefined, claims: undefined });
  assert.deepEqual(auth('p-inproc'), { authtype: 'system', authid: 'in-process', claims: undefined });

  // What the internal subscriber saw: alice's messages with exactly one stamp each, hers.
  await until(() => seen.msgs.length >= 4, 'the internal subscriber has every network publish', WAIT_MS);
  const fromAlice = seen.msgs.filter((m: Msg) => /"id":"a-/.test(sc.decode(m.data)));
  assert.equal(fromAlice.length, 2);
  for (const m of fromAlice) {
    const v = stampValues(m.headers);
    assert.equal(v.length, 1, `one ${AUTH_HEADER} value: ${JSON.stringify(v)}`);
    assert.deepEqual(JSON.parse(v[0]!), {
      authtype: 'app_user',
      authid: 'alice',
      authclaims: byId.get('a-plain')!.authclaims,
    });
  }

  // The feed by publisher: HTTP and $EVENTS.FEED.QUERY.
  const ids = (events: { event: Stored }[]) => events.map((e) => e.event.id).sort();
  assert.deepEqual(ids((await feed('authid=alice')).events), ['a-forged', 'a-plain']);
  assert.deepEqual(ids((await feed('authid=root')).events), [], 'what the JSON claimed matches nothing');
  assert.deepEqual(ids((await feed('authtype=app_user&authid=bob')).events), ['b-plain']);
  assert.deepEqual(ids((await feed('authtype=api_key')).events), ['i-forged']);
  const page = JSON.parse(
    sc.decode(
      (
        await internal.request('$EVENTS.FEED.QUERY', sc.encode(JSON.stringify({ authid: 'in-process' })), {
          timeout: WAIT_MS,
        })
      ).data,
    ),
  ) as {
    events: { event: Stored }[];
  };
  assert.deepEqual(ids(page.events), ['p-inproc']);

  // The sink gets the stored body: the verified identity with it.
  await until(() => sink.bodies.has('a-forged'), "the sink receives alice's event", WAIT_MS);
  const delivered = JSON.parse(sink.bodies.get('a-forged')!) as Stored;
  assert.equal(delivered.authid, 'alice');
  assert.equal(delivered.authtype, 'app_user');
});

test("the stamp goes up only: another gateway's clients never see it, and the gateway's own health probe carries none", async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const upstream = `tls://127.0.0.1:${service.leafnodePort}`;
  const [east, west] = [await startTestGateway(t, pki, upstream), await startTestGateway(t, pki, upstream)];
  const alice = await externalClient(t, pki, east.port, await pki.devToken('alice', { pub: { allow: ['notes.>'] } }));
  const bob = await externalClient(t, pki, west.port, await pki.devToken('bob', { sub: { allow: ['notes.>'] } }));
  const got = record(bob, 'notes.>');
  await bob.flush();
  const internal = await internalClient(t, pki, service.port);
  const probes = record(internal, HEALTH_SUBJECT);
  const atService = record(internal, 'notes.>');
  await internal.flush();
  await until(() => gatewayWants(east, 'notes.x'), "bob's interest reaches east through the service", WAIT_MS);

  const h = headers();
  h.set('X-Kept', 'yes');
  alice.publish('notes.x', sc.encode('hello'), { headers: h });
  // An internal client may write the header; it is no identity, and a gateway's clients never see it.
  const forged = headers();
  forged.set(AUTH_HEADER, JSON.stringify({ authtype: 'system', authid: 'root' }));
  internal.publish('notes.y', sc.encode('from inside'), { headers: forged });
  await until(() => got.msgs.length === 2, 'bob receives both', WAIT_MS);
  await until(() => atService.msgs.length === 2, 'the service saw both', WAIT_MS);
  // Not an event: who, without the claims (they ride on events only).
  assert.deepEqual(
    stampValues(atService.msgs.find((m) => m.subject === 'notes.x')!.headers).map((v) => JSON.parse(v) as unknown),
    [{ authtype: 'app_user', authid: 'alice' }],
    'stamped on its way up',
  );
  for (const m of got.msgs)
    assert.deepEqual(stampValues(m.headers), [], `${m.subject}: no ${AUTH_HEADER} reaches a gateway client`);
  assert.equal(
    got.msgs.find((m) => m.subject === 'notes.x')!.headers?.get('X-Kept'),
    'yes',
    "the client's own headers are kept",
  );

  const verdict = await east.health.check(WAIT_MS);
  assert.equal(verdict.ok && verdict.check, 'round-trip');
  await until(() => probes.msgs.length >= 1, 'the internal subscriber sees the probe', WAIT_MS);
  for (const m of probes.msgs) assert.deepEqual(stampValues(m.headers), [], 'the health probe is no client: no stamp');
});

test('an event a client published while the link was down (held at the gateway) is stored with its identity once the link is back', async (t) => {
  const pki = await devPki(t);
  const leafPort = await freePort();
  const dir = tmpDir(t, 'identity-outage-');
  const config = { store: { path: path.join(dir, 'events.db') }, handlers: {} };
  const first = await startService(t, pki, { leafnodePort: leafPort, config });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${leafPort}`);
  await until(
    () => gatewayWants(gateway, 'events.scanJobUpdated'),
    "the intake's interest reaches the gateway",
    WAIT_MS,
  );
  const carol = await externalClient(
    t,
    pki,
    gateway.port,
    await pki.devToken('carol', { pub: { allow: ['events.>'] } }),
  );

  await first.close();
  await until(() => !gateway.uplink.up, 'the link is down', WAIT_MS);
  // Credit died with the link: carol is held before her event (event-credit.ts), nothing of it buffered.
  carol.publish('events.scanJobUpdated', sc.encode(claimingEvent('held')));
  await until(() => gateway.eventCredit.stats().clients_held === 1, 'carol is held before her event', WAIT_MS);
  assert.equal(gateway.uplink.counters.bufferedMsgs, 0);

  const second = await startService(t, pki, { leafnodePort: leafPort, config });
  await until(() => gateway.eventCredit.stats().clients_held === 0, 'the held event goes up on new credit', WAIT_MS);
  const ask = async () =>
    JSON.parse((await second.request('$EVENTS.FEED.QUERY', JSON.stringify({ id: 'held' }))).string()) as {
      event?: Stored;
    };
  await until(async () => (await ask()).event !== undefined, 'the held event is stored', WAIT_MS);
  const e = (await ask()).event!;
  assert.deepEqual([e.authtype, e.authid], ['app_user', 'carol']);
  assert.match(e.authclaims ?? '', /"cert_subject":"[^"]*CN=dev-client/);
});

test('[upstream] auth_stamp = "events": only events go up stamped; a client\'s own copy of the header is still removed from every message', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki, {
    config: { store: { path: path.join(tmpDir(t, 'identity-events-only-'), 'events.db') } },
  });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`, {
    config: { upstream: { auth_stamp: 'events' } },
  });
  const alice = await externalClient(
    t,
    pki,
    gateway.port,
    await pki.devToken('alice', { pub: { allow: ['notes.>', 'events.>'] } }),
  );
  const internal = await internalClient(t, pki, service.port);
  const notes = record(internal, 'notes.>');
  const events = record(internal, 'events.>');
  await internal.flush();
  await until(
    () => gatewayWants(gateway, 'notes.x') && gatewayWants(gateway, 'events.scanJobUpdated'),
    'the interest reaches the gateway',
    WAIT_MS,
  );

  const forged = headers();
  forged.set(AUTH_HEADER, JSON.stringify({ authtype: 'system', authid: 'root' }));
  forged.set('X-Kept', 'yes');
  alice.publish('notes.x', sc.encode('plain'), { headers: forged });
  alice.publish('notes.y', sc.encode('bare'));
  alice.publish('events.scanJobUpdated', sc.encode(claimingEvent('e-only')), { headers: forged });
  await until(() => notes.msgs.length === 2 && events.msgs.length === 1, 'the service sees all three', WAIT_MS);
  const x = notes.msgs.find((m) => m.subject === 'notes.x')!;
  assert.deepEqual(stampValues(x.headers), [], 'not an event: no stamp, and the forged copy removed');
  assert.equal(x.headers?.get('X-Kept'), 'yes', "the client's own headers are kept");
  assert.deepEqual(stampValues(notes.msgs.find((m) => m.subject === 'notes.y')!.headers), []);
  assert.deepEqual(
    stampValues(events.msgs[0]!.headers).map((v) => (JSON.parse(v) as { authid: string }).authid),
    ['alice'],
    'an event is stamped with who the gateway verified, once',
  );
});
