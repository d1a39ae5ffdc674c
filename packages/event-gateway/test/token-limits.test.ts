// Per-client limits from the token's `nats` claim, as nats-server applies a user JWT's (client.go
// applyAccountLimits): `subs` bounds the subscriptions of one connection (the next SUB gets `maximum subscriptions
// exceeded`, the connection stays), `payload` the largest message (`Maximum Payload Violation`, closed); each only
// lowers [gateway]'s max_subscriptions and max_payload; tokens without them get [gateway]'s defaults; `data` is read
// but, as by nats-server, not enforced. The official `nats` client through a real gateway, raw sockets for the exact
// wire, and nats-server given the same limits server-wide for the texts side by side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NatsError, type NatsConnection } from 'nats';
import { AUTH_STAMP_MAX_BYTES } from '@event-broker/shared';
import { type DevTokenPermissions } from '@event-broker/dev-tools';
import { connectionLimits, tokenLimitsFromClaims } from '../src/auth/limits.js';
import { requireNatsServer, startNatsServer } from '@event-broker/test-support/nats-server';
import { exchange, exchangeToClose } from '@event-broker/test-support/raw';
import { until, within } from '@event-broker/test-support/wait';
import {
  LogCapture,
  connectLine,
  getJson,
  rawTls,
  record,
  startBridge,
  type Bridge,
  type RawTls,
} from './helpers/bridge.js';

const FEED: DevTokenPermissions = { pub: { allow: ['feed.>'] }, sub: { allow: ['feed.>'] } };
const MiB = 1024 * 1024;
const SUBS_4 = ['SUB feed.a 1', 'SUB feed.b 2', 'SUB feed.c 3', 'SUB feed.d 4'];

/** A raw TLS client of the gateway, admitted with `token` (CONNECT, with `more` fields, and PING answered). */
async function rawClient(
  t: { after(fn: () => void): void },
  b: Bridge,
  token: string,
  more: Record<string, unknown> = {},
): Promise<RawTls> {
  const raw = await rawTls(b.gateway.port, { ca: b.pki.ca, ...b.pki.client });
  t.after(() => raw.socket.destroy());
  raw.socket.write(`${connectLine({ auth_token: token, ...more })}PING\r\n`);
  assert.equal(await raw.readUntil('PONG\r\n'), 'PONG\r\n');
  return raw;
}

/** What the server answers `lines` with, up to the PONG of a PING sent after them. */
async function answer(raw: RawTls, lines: string[]): Promise<string> {
  raw.socket.write(`${lines.map((l) => `${l}\r\n`).join('')}PING\r\n`);
  return raw.readUntil('PONG\r\n');
}

/** A PUB of `size` bytes, whole. */
function pub(subject: string, size: number): string {
  return `PUB ${subject} ${size}\r\n${'x'.repeat(size)}`;
}

/** The status events a nats connection reports, as `type:data`. */
function statuses(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) seen.push(`${s.type}:${String(s.data)}`);
  })();
  return seen;
}

// --- reading the claim ---------------------------------------------------------------------------------------------

test('nats.subs, payload and data are read as a user JWT writes them; anything but -1 or a whole number ≥ 0 refuses the token', () => {
  assert.deepEqual(tokenLimitsFromClaims({}), { ok: true, limits: {} });
  assert.deepEqual(tokenLimitsFromClaims({ nats: { pub: {} } }), { ok: true, limits: {} });
  assert.deepEqual(tokenLimitsFromClaims({ nats: { subs: 3, payload: 0, data: -1 } }), {
    ok: true,
    limits: { subs: 3, payload: 0, data: -1 },
  });
  // null is what Go's decoder reads as the field left out.
  assert.deepEqual(tokenLimitsFromClaims({ nats: { subs: null } }), { ok: true, limits: {} });
  for (const [nats, why] of [
    [{ subs: '3' }, /^nats claim: subs must be -1 \(no limit\) or a whole number of at least 0, got "3"$/],
    [{ payload: 1.5 }, /payload .* got 1\.5$/],
    [{ data: -2 }, /data .* got -2$/],
    [{ subs: 2 ** 60 }, /subs .* got/],
    [{ payload: [1] }, /payload .* got an array$/],
    [{ subs: { n: 1 } }, /subs .* got an object$/],
  ] as const) {
    const r = tokenLimitsFromClaims({ nats });
    assert.ok(!r.ok, JSON.stringify(nats));
    assert.match(r.reason, why);
  }
});

test('property: a limit is accepted exactly when it is -1 or a safe whole number ≥ 0, and a connection never gets more than it says (fixed seed)', () => {
  const value = fc.oneof(
    fc.integer({ min: -5, max: 1_000_000 }),
    fc.double(),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(2 ** 53),
  );
  fc.assert(
    fc.property(
      value,
      fc.nat({ max: 50 }),
      fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
      (v, defSubs, defPayload) => {
        const r = tokenLimitsFromClaims({ nats: { subs: v, payload: v } });
        const good = v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= -1);
        assert.equal(r.ok, good, String(v));
        if (!r.ok) return;
        const own = connectionLimits(r.limits, { default_max_subscriptions: defSubs, default_max_payload: defPayload });
        if (typeof v === 'number' && v >= 0) assert.deepEqual(own, { maxSubscriptions: v, maxPayloadBytes: v });
        if (v === -1) assert.deepEqual(own, {});
        if (v === null) {
          assert.equal(own.maxSubscriptions, defSubs > 0 ? defSubs : undefined);
          assert.equal(own.maxPayloadBytes, defPayload);
        }
      },
    ),
    { seed: 12, numRuns: 2000 },
  );
});

// --- enforced through a gateway ------------------------------------------------------------------------------------

test('nats.subs = 3: three subscriptions deliver, the fourth gets maximum subscriptions exceeded and the connection stays', async (t) => {
  const b = await startBridge(t);
  const token = await b.pki.devToken('sara', { ...FEED, subs: 3 });
  const nc = await b.external(token);
  const seen = statuses(nc);
  const got = ['a', 'b', 'c', 'd'].map((s) => record(nc, `feed.${s}`));
  await nc.flush();
  await until(
    () => seen.includes('error:NATS_PROTOCOL_ERR'),
    'the client hears of the refused fourth subscription',
    5000,
    () => seen.join(', '),
  );

  const inside = await b.internal();
  await until(() => {
    for (const s of ['d', 'a', 'b', 'c']) inside.publish(`feed.${s}`, s);
    return got.slice(0, 3).every((r) => r.msgs.length > 0);
  }, 'the first three subscriptions receive');
  assert.equal(got[3]!.msgs.length, 0, 'the refused one never does');
  await nc.flush();
  assert.equal(nc.isClosed(), false, 'the connection stays open, as nats-server leaves it');

  // The wire: the fourth SUB refused, and a freed slot taken again.
  const raw = await rawClient(t, b, token);
  assert.equal(await answer(raw, SUBS_4), "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
  assert.equal(await answer(raw, ['UNSUB 1', 'SUB feed.d 5']), 'PONG\r\n');
  assert.equal(await answer(raw, ['SUB feed.e 6']), "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
});

test("nats.payload = 100: 100 bytes pass, 101 get Maximum Payload Violation and the close; INFO still says the gateway's max_payload", async (t) => {
  const b = await startBridge(t);
  const token = await b.pki.devToken('paul', { ...FEED, payload: 100 });
  const inside = await b.internal();
  const got = record(inside, 'feed.>');
  await inside.flush();
  const nc = await b.external(token);
  // INFO precedes CONNECT: the client is told the gateway's limit, as nats-server tells a user JWT's client its own
  // max_payload, so nats.js's local size check passes and the server refuses.
  // The service's max_payload less the room the identity stamp may take (Gateway-Auth).
  assert.equal(nc.info?.max_payload, MiB - AUTH_STAMP_MAX_BYTES);
  const closed = nc.closed();
  await until(() => {
    nc.publish('feed.ok', 'x'.repeat(100));
    return got.msgs.length > 0;
  }, 'a 100-byte message arrives');
  nc.publish('feed.big', 'x'.repeat(101));
  const err = await within(closed, 'the client is closed');
  assert.ok(err instanceof NatsError, `closed with ${String(err)}`);
  assert.match(err.message, /Maximum Payload Violation/);
  await inside.flush();
  assert.ok(!got.msgs.some((m) => m.subject === 'feed.big'), 'the large message went nowhere');

  // The wire: refused before its payload is read; headers count toward it, as nats-server counts HPUB's total.
  const raw = await rawClient(t, b, token);
  assert.equal(await answer(raw, [pub('feed.x', 100)]), 'PONG\r\n');
  raw.socket.write('PUB feed.x 101\r\n');
  assert.equal(await raw.readToClose(), "-ERR 'Maximum Payload Violation'\r\n");
  const hraw = await rawClient(t, b, token, { headers: true });
  hraw.socket.write('HPUB feed.x 12 101\r\n');
  assert.equal(await hraw.readToClose(), "-ERR 'Maximum Payload Violation'\r\n");
});

test('side by side: the same refusals from nats-server given max_subscriptions 3 and max_payload 100, same texts, same closes', async (t) => {
  if (!requireNatsServer(t)) return;
  const b = await startBridge(t);
  const token = await b.pki.devToken('side', { ...FEED, subs: 3, payload: 100 });
  const natsd = await startNatsServer(t, 'max_subscriptions: 3\nmax_payload: 100');

  const theirsSubs = await exchange(natsd, {}, SUBS_4);
  const oursSubs = (await answer(await rawClient(t, b, token), SUBS_4)).split('\r\n').slice(0, -2);
  assert.deepEqual(oursSubs, theirsSubs);
  assert.deepEqual(theirsSubs, ["-ERR 'maximum subscriptions exceeded'"]);

  const theirsPay = await exchangeToClose(natsd, {}, ['PUB feed.x 101']);
  const raw = await rawClient(t, b, token);
  raw.socket.write('PUB feed.x 101\r\n');
  assert.equal(await raw.readToClose(), theirsPay);
  assert.equal(theirsPay, "-ERR 'Maximum Payload Violation'\r\n");
});

test("[gateway] default_max_subscriptions and default_max_payload hold tokens without the claims; a token's own value or -1 replaces them", async (t) => {
  const b = await startBridge(t, { config: { gateway: { default_max_subscriptions: 2, default_max_payload: 50 } } });
  const plain = await b.pki.devToken('plain', FEED);

  // The official client under the defaults: the third subscription refused, a 51-byte message closes it.
  const nc = await b.external(plain);
  const seen = statuses(nc);
  const closed = nc.closed();
  for (const s of ['a', 'b', 'c']) nc.subscribe(`feed.${s}`);
  await nc.flush();
  await until(
    () => seen.includes('error:NATS_PROTOCOL_ERR'),
    'the third subscription is refused',
    5000,
    () => seen.join(', '),
  );
  nc.publish('feed.a', 'x'.repeat(50));
  await nc.flush();
  nc.publish('feed.a', 'x'.repeat(51));
  assert.match(String(await within(closed, 'closed over the default payload')), /Maximum Payload Violation/);

  const raw = await rawClient(t, b, plain);
  assert.equal(await answer(raw, SUBS_4.slice(0, 3)), "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
  // A token's own limit, above the default (the gateway sets no maximum here): its own.
  const own = await rawClient(t, b, await b.pki.devToken('own', { ...FEED, subs: 4, payload: 80 }));
  assert.equal(await answer(own, [...SUBS_4, pub('feed.x', 80)]), 'PONG\r\n');
  assert.equal(await answer(own, ['SUB feed.e 5']), "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
  own.socket.write('PUB feed.x 81\r\n');
  assert.equal(await own.readToClose(), "-ERR 'Maximum Payload Violation'\r\n");
  // -1: no limit of the token's own, and no default either.
  const free = await rawClient(t, b, await b.pki.devToken('free', { ...FEED, subs: -1, payload: -1 }));
  const ten = Array.from({ length: 10 }, (_, i) => `SUB feed.n${i} ${i + 1}`);
  assert.equal(await answer(free, [...ten, pub('feed.x', 4096)]), 'PONG\r\n');
});

test('a token never raises [gateway] max_subscriptions or max_payload; /connz shows the limits in force', async (t) => {
  const b = await startBridge(t, { config: { gateway: { max_subscriptions: 2, max_payload: 64 } } });
  const token = await b.pki.devToken('greedy', { ...FEED, subs: 10, payload: 1000 });
  const nc = await b.external(token);
  assert.equal(nc.info?.max_payload, 64);
  const raw = await rawClient(t, b, token);
  assert.equal(await answer(raw, SUBS_4.slice(0, 3)), "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
  const lower = await rawClient(t, b, await b.pki.devToken('modest', { ...FEED, subs: 1, payload: 10 }));

  const connz = await getJson<{ connections: { who: string; limits: unknown }[] }>(
    `http://127.0.0.1:${b.gateway.monitorPort}/connz`,
  );
  const limitsOf = (who: string) => connz.connections.find((c) => c.who === who)?.limits;
  assert.deepEqual(limitsOf('greedy'), { subs: 2, payload: 64 });
  assert.deepEqual(limitsOf('modest'), { subs: 1, payload: 10 });

  raw.socket.write('PUB feed.x 65\r\n');
  assert.equal(await raw.readToClose(), "-ERR 'Maximum Payload Violation'\r\n");
  lower.socket.write('PUB feed.x 11\r\n');
  assert.equal(await lower.readToClose(), "-ERR 'Maximum Payload Violation'\r\n");
});

test("a reload moving [gateway] max_payload and max_subscriptions applies to live clients and never lifts a token's own limits", async (t) => {
  const b = await startBridge(t);
  const token = await b.pki.devToken('steady', { ...FEED, subs: 3, payload: 100 });
  const before = await rawClient(t, b, token);
  const running = b.gateway.config;

  // Lowered under the token's: the gateway's now bind the client admitted before.
  b.gateway.applyConfig({ ...running, gateway: { ...running.gateway, max_payload: 50, max_subscriptions: 1 } });
  assert.equal(await answer(before, SUBS_4.slice(0, 2)), "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
  before.socket.write('PUB feed.x 60\r\n');
  assert.equal(await before.readToClose(), "-ERR 'Maximum Payload Violation'\r\n");

  // Raised again: the token's own 3 and 100 still hold for a client admitted in between.
  const between = await rawClient(t, b, token);
  b.gateway.applyConfig({ ...running, gateway: { ...running.gateway, max_payload: MiB, max_subscriptions: 0 } });
  assert.equal(
    await answer(between, [...SUBS_4, pub('feed.x', 100)]),
    "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n",
  );
  between.socket.write('PUB feed.x 101\r\n');
  assert.equal(await between.readToClose(), "-ERR 'Maximum Payload Violation'\r\n");
});

test('a malformed limit refuses the token at admission (counted token_invalid); nats.data is admitted, not enforced, and logged once', async (t) => {
  const logs = new LogCapture();
  const b = await startBridge(t, { logs });
  for (const [name, nats] of [
    ['str', { ...FEED, subs: '3' }],
    ['frac', { ...FEED, payload: 1.5 }],
    ['neg', { ...FEED, data: -2 }],
  ] as const) {
    const bad = await b.pki.devToken(name, nats as unknown as DevTokenPermissions);
    await assert.rejects(
      b.external(bad),
      (e: unknown) => e instanceof NatsError && e.code === 'AUTHORIZATION_VIOLATION',
      name,
    );
  }
  assert.equal(b.gateway.stats().auth_failures.token_invalid, 3);
  assert.ok(
    logs.find((l) => l.msg === 'client refused' && /^nats claim: payload must be -1/.test(String(l['reason']))),
  );

  const inside = await b.internal();
  const got = record(inside, 'feed.>');
  await inside.flush();
  const token = await b.pki.devToken('dana', { ...FEED, data: 10 });
  const [one, two] = [await b.external(token), await b.external(token)];
  await until(() => {
    one.publish('feed.one', 'x'.repeat(100));
    two.publish('feed.two', 'x'.repeat(100));
    return (
      got.msgs.filter((m) => m.subject === 'feed.one').length >= 3 && got.msgs.some((m) => m.subject === 'feed.two')
    );
  }, 'far more than 10 bytes pass');
  assert.equal(one.isClosed() || two.isClosed(), false);
  const warned = logs.lines.filter((l) => l.msg.startsWith('token carries a nats.data limit'));
  assert.equal(warned.length, 1, 'logged once, not per connection');
  assert.equal(warned[0]!['data_limit'], 10);
});
