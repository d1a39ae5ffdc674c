// Permissions from a token's `nats` claim, decided as nats-server decides a NATS user JWT's: allow and deny lists
// with wildcards, deny winning, queue-group entries, replies to received requests (`resp`), refused claims; and the
// exact -ERR texts the listener sends for a refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  errLine,
  goQuote,
  permissionsViolationForPublish,
  permissionsViolationForSubscription,
} from '@event-broker/shared';
import { permissionsFromClaims, type Permissions } from '../src/permissions.js';
import { requireNatsServer, startNatsServer } from '@event-broker/test-support/nats-server';
import { exchange } from '@event-broker/test-support/raw';

function perms(nats: unknown, now?: () => number): Permissions {
  const r = permissionsFromClaims(nats === undefined ? {} : { nats }, now === undefined ? {} : { now });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.permissions;
}

function refused(nats: unknown): string {
  const r = permissionsFromClaims({ nats });
  assert.ok(!r.ok, `the claim ${JSON.stringify(nats)} was accepted`);
  return r.reason;
}

test('a token without a nats claim may neither publish nor subscribe', () => {
  const p = perms(undefined);
  assert.equal(p.canPublish('orders.new'), false);
  assert.equal(p.canSubscribe('orders.new'), false);
  assert.equal(p.canSubscribe('>'), false);
  assert.equal(p.canSubscribe('orders.new', 'workers'), false);
});

test('a nats claim without lists allows everything, as a NATS user JWT does', () => {
  const p = perms({ type: 'user', version: 2 });
  assert.equal(p.canPublish('anything.at.all'), true);
  assert.equal(p.canSubscribe('>'), true);
  assert.equal(p.canSubscribe('a.b', 'q'), true);
  assert.equal(p.canDeliver('a.b'), true);
});

test('publish allow list: wildcards match as subjects do', () => {
  const p = perms({ pub: { allow: ['orders.>', 'audit.*'] } });
  assert.equal(p.canPublish('orders.new'), true);
  assert.equal(p.canPublish('orders.eu.new'), true);
  assert.equal(p.canPublish('orders'), false, '> needs at least one more token');
  assert.equal(p.canPublish('audit.created'), true);
  assert.equal(p.canPublish('audit.a.b'), false);
  assert.equal(p.canPublish('billing.paid'), false);
  // Cached decisions answer the same.
  assert.equal(p.canPublish('orders.new'), true);
  assert.equal(p.canPublish('billing.paid'), false);
});

test('deny wins over allow; a deny list alone allows everything else', () => {
  const both = perms({
    pub: { allow: ['orders.>'], deny: ['orders.secret.>'] },
    sub: { allow: ['orders.>'], deny: ['orders.secret.>'] },
  });
  assert.equal(both.canPublish('orders.new'), true);
  assert.equal(both.canPublish('orders.secret.key'), false);
  assert.equal(both.canSubscribe('orders.new'), true);
  assert.equal(both.canSubscribe('orders.secret.key'), false);
  assert.equal(both.canSubscribe('orders.secret.>'), false);

  const denyOnly = perms({ pub: { deny: ['admin.>'] } });
  assert.equal(denyOnly.canPublish('orders.new'), true);
  assert.equal(denyOnly.canPublish('admin.reset'), false);
  assert.equal(denyOnly.canSubscribe('admin.reset'), true, 'no sub lists: subscriptions are open');
});

test('an explicit empty allow list allows nothing (not read as "no list")', () => {
  const p = perms({ pub: { allow: [] }, sub: { allow: [] } });
  assert.equal(p.canPublish('orders.new'), false);
  assert.equal(p.canSubscribe('orders.new'), false);
});

test('a wildcard subscription is allowed only inside the allow list', () => {
  const p = perms({ sub: { allow: ['orders.*', 'audit.>'] } });
  assert.equal(p.canSubscribe('orders.new'), true);
  assert.equal(p.canSubscribe('orders.*'), true);
  assert.equal(p.canSubscribe('orders.>'), false, 'orders.> reaches orders.a.b, which orders.* does not allow');
  assert.equal(p.canSubscribe('>'), false);
  assert.equal(p.canSubscribe('*.new'), false);
  assert.equal(p.canSubscribe('audit.>'), true);
  assert.equal(p.canSubscribe('audit.*.x'), true);
  assert.equal(p.canSubscribe('audit.a.>'), true);
  assert.equal(p.canSubscribe('orders.new', 'workers'), true, 'no queue entries: any group');
});

test('queue entries: a queue listed for a subject decides which groups may join', () => {
  const p = perms({ sub: { allow: ['foo', 'foo v1', 'bar *.dev'] } });
  assert.equal(p.canSubscribe('foo'), true);
  assert.equal(p.canSubscribe('foo', 'v1'), true);
  assert.equal(p.canSubscribe('foo', 'v2'), false);
  assert.equal(p.canSubscribe('bar'), false, 'bar is listed only with a queue');
  assert.equal(p.canSubscribe('bar', 'eu.dev'), true);
  assert.equal(p.canSubscribe('bar', 'eu.prod'), false);
});

test('subscribe deny: queue entries refuse those groups, a wildcard over a denied subject filters deliveries', () => {
  const p = perms({ sub: { deny: ['secret.>', '> *.prod'] } });
  assert.equal(p.canSubscribe('secret.key'), false);
  assert.equal(p.canSubscribe('orders.new'), true);
  assert.equal(p.canSubscribe('orders.new', 'eu.prod'), false);
  assert.equal(p.canSubscribe('orders.new', 'eu.dev'), true);
  // nats-server admits `>` here and keeps secret.* messages from it.
  assert.equal(p.canSubscribe('>'), true);
  assert.equal(p.canDeliver('secret.key'), false);
  assert.equal(p.canDeliver('orders.new'), true);

  const plainDenyBeatsQueue = perms({ sub: { deny: ['foo', 'foo q1'] } });
  assert.equal(plainDenyBeatsQueue.canSubscribe('foo', 'q2'), false, 'a plain deny covers every group');
});

test('resp: replies to delivered requests, up to max within ttl, and nothing else', () => {
  let clock = 1_000_000;
  const p = perms({ sub: { allow: ['svc.>'] }, resp: { max: 2, ttl: 5e9 } }, () => clock);
  assert.equal(p.canPublish('svc.anything'), false, 'resp without pub.allow closes publishing');
  assert.equal(p.canPublish('_INBOX.a.1'), false, 'no request delivered yet');
  p.noteReply('_INBOX.a.1');
  p.noteReply('_INBOX.a.2');
  assert.equal(p.openReplies, 2);
  assert.equal(p.canPublish('_INBOX.a.1'), true);
  assert.equal(p.canPublish('_INBOX.a.1'), true);
  assert.equal(p.canPublish('_INBOX.a.1'), false, 'max 2');
  assert.equal(p.canPublish('_INBOX.a.3'), false, 'never delivered');
  clock += 5001;
  assert.equal(p.canPublish('_INBOX.a.2'), false, 'ttl 5s passed');
  assert.equal(p.openReplies, 0);
  p.noteReply('_INBOX.a.2');
  assert.equal(p.canPublish('_INBOX.a.2'), true, 'a new delivery opens it again');
});

test("resp with zero values takes nats-server's defaults (one reply within 2 minutes); negative means no limit", () => {
  let clock = 0;
  const d = perms({ resp: { max: 0, ttl: 0 } }, () => clock);
  d.noteReply('r.1');
  clock = 119_000;
  assert.equal(d.canPublish('r.1'), true);
  assert.equal(d.canPublish('r.1'), false);
  d.noteReply('r.2');
  clock += 120_001;
  assert.equal(d.canPublish('r.2'), false);

  const open = perms({ resp: { max: -1, ttl: -1 } }, () => clock);
  open.noteReply('r.3');
  clock += 10 * 3_600_000;
  for (let i = 0; i < 100; i++) assert.equal(open.canPublish('r.3'), true);
});

test('resp beside a pub allow list adds replies to it', () => {
  const p = perms({ pub: { allow: ['orders.>'] }, resp: { max: 1 } });
  assert.equal(p.canPublish('orders.new'), true);
  assert.equal(p.canPublish('_INBOX.x'), false);
  p.noteReply('_INBOX.x');
  assert.equal(p.canPublish('_INBOX.x'), true);
});

test('without resp, delivered reply subjects grant nothing', () => {
  const p = perms({ pub: { allow: ['orders.>'] } });
  p.noteReply('_INBOX.x');
  assert.equal(p.canPublish('_INBOX.x'), false);
  assert.equal(p.openReplies, 0);
});

test('connections with the same claim share compiled rules but not reply grants', () => {
  const claim = { pub: { allow: ['a.>'] }, resp: { max: 1 } };
  const a = perms(claim);
  const b = perms(claim);
  assert.equal(a.rules, b.rules);
  a.noteReply('_INBOX.1');
  assert.equal(b.canPublish('_INBOX.1'), false);
  assert.equal(a.canPublish('_INBOX.1'), true);
});

test('a malformed nats claim is refused, not guessed at', () => {
  assert.match(refused('everything'), /nats claim: must be an object/);
  assert.match(refused(null), /nats claim/);
  assert.match(refused({ pub: ['a'] }), /pub must be an object/);
  assert.match(refused({ pub: { allow: 'orders.>' } }), /pub\.allow must be an array/);
  assert.match(refused({ pub: { allow: ['orders..new'] } }), /pub\.allow has an invalid entry "orders\.\.new"/);
  assert.match(refused({ pub: { deny: ['a b'] } }), /pub\.deny has an invalid entry/, 'no queue form in publish lists');
  assert.match(refused({ sub: { allow: ['a b c'] } }), /sub\.allow has an invalid entry/);
  assert.match(refused({ sub: { allow: [7] } }), /sub\.allow has an invalid entry 7/);
  assert.match(refused({ resp: { max: 'one' } }), /resp\.max must be an integer/);
  assert.match(refused({ resp: { max: 1, ttl: '5s' } }), /resp\.ttl must be a number of nanoseconds/);
});

test("refusals use nats-server's exact texts, Go-quoted", () => {
  assert.equal(
    errLine(permissionsViolationForPublish('orders.new')),
    `-ERR 'Permissions Violation for Publish to "orders.new"'\r\n`,
  );
  assert.equal(
    permissionsViolationForSubscription('orders.>').text,
    'Permissions Violation for Subscription to "orders.>"',
  );
  assert.equal(
    permissionsViolationForSubscription('orders.>', 'workers').text,
    'Permissions Violation for Subscription to "orders.>" using queue "workers"',
  );
  assert.equal(permissionsViolationForPublish('orders.new').closes, false, 'the connection stays open');
  // Go's %q: quotes and backslashes escaped, control characters as \x.., other non-printables as \u....
  assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goQuote('x\x01\x7f\f'), '"x\\x01\\x7f\\f"');
  assert.equal(goQuote('été\u00a0ok'), '"été\\u00a0ok"');
});

test('the same lists decide as nats-server 2.9 does, with the same -ERR lines (one deliberate difference)', async (t) => {
  if (!requireNatsServer(t)) return;
  const lists = {
    pub: { allow: ['orders.>', 'audit.*', 'q"uote.*'], deny: ['orders.secret.>'] },
    sub: { allow: ['orders.*', 'audit.>', 'foo', 'foo v1', 'bar *.dev'], deny: ['audit.secret.>', '> *.prod'] },
  };
  const q = (list: string[]): string => `[${list.map((x) => JSON.stringify(x)).join(', ')}]`;
  const natsd = await startNatsServer(
    t,
    `authorization { users = [ { user: a, password: a, permissions: {
      publish: { allow: ${q(lists.pub.allow)}, deny: ${q(lists.pub.deny)} },
      subscribe: { allow: ${q(lists.sub.allow)}, deny: ${q(lists.sub.deny)} } } } ] }`,
  );
  const pubs = [
    'orders.new',
    'orders.eu.new',
    'orders',
    'audit.created',
    'audit.a.b',
    'billing.paid',
    'orders.secret.key',
    'q"uote.x',
    'a"b\\c\x01',
  ];
  const subs: [string, string?][] = [
    ['orders.new'],
    ['orders.*'],
    ['orders.>'],
    ['audit.x'],
    ['audit.secret.k'],
    ['foo'],
    ['foo', 'v1'],
    ['foo', 'v2'],
    ['bar'],
    ['bar', 'eu.dev'],
    ['bar', 'eu.prod'],
    ['audit.x', 'q.prod'],
    ['>'],
  ];
  const ops = [
    ...pubs.map((sub) => `PUB ${sub} 0\r\n`),
    ...subs.map(([sub, queue], i) => `SUB ${sub}${queue ? ` ${queue}` : ''} ${i + 1}`),
  ];
  const theirs = (await exchange(natsd, { user: 'a', pass: 'a' }, ops)).filter((l) => l.startsWith('-ERR'));

  const p = perms(lists);
  const ours: string[] = [];
  for (const sub of pubs) if (!p.canPublish(sub)) ours.push(errLine(permissionsViolationForPublish(sub)).trimEnd());
  for (const [sub, queue] of subs) {
    if (p.canSubscribe(sub, queue)) continue;
    // nats-server lets `orders.>` through an allow of `orders.*` (its sublist reads the subscribed `>` as a token
    // `*` matches); the gateway refuses what would reach orders.a.b.
    if (sub === 'orders.>' && queue === undefined) continue;
    ours.push(errLine(permissionsViolationForSubscription(sub, queue)).trimEnd());
  }
  assert.equal(p.canSubscribe('orders.>'), false);
  assert.deepEqual(theirs, ours);
  assert.ok(ours.length >= 10, `the case list exercises refusals (${ours.length})`);
});

test('replies only inside a private inbox grant: _INBOX.>, > and no list reach no inbox (nats-server lets them)', async (t) => {
  const own = perms({ sub: { allow: ['greet.>', '_INBOX.alice.>'] } });
  for (const s of ['_INBOX.alice.abc.*', '_INBOX.alice.>', '_INBOX.alice.abc.1', 'greet.x'])
    assert.equal(own.canSubscribe(s), true, s);
  for (const s of ['_INBOX.bob.abc.*', '_INBOX.>', '_INBOX.*', '_INBOX.*.abc', '_INBOX', '_INBOX.alice'])
    assert.equal(own.canSubscribe(s), false, s);
  assert.equal(own.canDeliver('_INBOX.alice.abc.1'), true);
  assert.equal(own.canDeliver('_INBOX.bob.abc.1'), false);
  assert.equal(own.canDeliver('greet.x'), true);
  assert.deepEqual(own.rules.broadInboxEntries, []);

  // The grant the README used to teach: honoured for nothing, and named for the admission's warning.
  const taught = perms({ sub: { allow: ['greet.>', '_INBOX.>'] } });
  assert.equal(taught.canSubscribe('_INBOX.>'), false);
  assert.equal(taught.canSubscribe('_INBOX.abc.*'), false);
  assert.equal(taught.canSubscribe('greet.x'), true);
  assert.deepEqual(taught.rules.broadInboxEntries, ['_INBOX.>']);

  // Everything, or no list: everything but the inboxes, to subscriptions and to deliveries on wildcards alike.
  for (const p of [perms({ sub: { allow: ['>'] } }), perms({ type: 'user', version: 2 })]) {
    assert.equal(p.canSubscribe('>'), true);
    assert.equal(p.canSubscribe('*.>'), true);
    assert.equal(p.canSubscribe('_INBOX.abc.*'), false);
    assert.equal(p.canDeliver('_INBOX.abc.1'), false);
    assert.equal(p.canDeliver('a.b'), true);
  }

  // A grant with a wildcard past the client's id, and a deny inside the grant.
  const pattern = perms({ sub: { allow: ['_INBOX.alice.*.reply'], deny: ['_INBOX.alice.secret.>'] } });
  assert.equal(pattern.canSubscribe('_INBOX.alice.q.reply'), true);
  assert.equal(pattern.canSubscribe('_INBOX.alice.*.reply'), true);
  assert.equal(pattern.canDeliver('_INBOX.alice.q.reply'), true);
  assert.equal(pattern.canDeliver('_INBOX.alice.q.other'), false);
  assert.equal(pattern.canSubscribe('_INBOX.alice.secret.reply'), false);

  // nats-server 2.9 accepts `SUB _INBOX.>` under that grant (and delivers every client's replies to it).
  if (!requireNatsServer(t)) return;
  const natsd = await startNatsServer(
    t,
    'authorization { users = [ { user: a, password: a, permissions: { subscribe: { allow: ["greet.>", "_INBOX.>"] } } } ] }',
  );
  const theirs = (await exchange(natsd, { user: 'a', pass: 'a' }, ['SUB _INBOX.> 1', 'SUB _INBOX.abc.* 2'])).filter(
    (l) => l.startsWith('-ERR'),
  );
  assert.deepEqual(theirs, [], 'nats-server: both accepted; the gateway refuses both');
});

test("gateway subjects (_GWH, the health probe's replies) are reached by no grant: subscribe, deliver, publish, reply grants", () => {
  const grants = [
    perms({ pub: { allow: ['>'] }, sub: { allow: ['>'] } }),
    perms({ type: 'user', version: 2 }),
    perms({ pub: { allow: ['_GWH.>'] }, sub: { allow: ['_GWH.>', '_GWH.*.*'] } }),
    perms({ sub: { allow: ['>'] }, resp: { max: -1, ttl: -1 } }),
  ];
  for (const p of grants) {
    for (const s of ['_GWH.>', '_GWH.abc.*', '_GWH.abc.1', '_GWH']) assert.equal(p.canSubscribe(s), false, s);
    assert.equal(p.canSubscribe('_GWH.abc.1', 'q'), false);
    assert.equal(p.canDeliver('_GWH.abc.1'), false);
    // A probe request delivered with its reply subject grants no reply there.
    p.noteReply('_GWH.abc.2');
    for (const s of ['_GWH.abc.1', '_GWH.abc.2', '_GWH']) assert.equal(p.canPublish(s), false, s);
  }
  // Only that first token: subjects that merely start alike, or hold _GWH further on, are decided by the lists.
  const all = grants[0]!;
  for (const s of ['_GWHX.a', '_GWHealth', 'a._GWH.b']) {
    assert.equal(all.canSubscribe(s), true, s);
    assert.equal(all.canDeliver(s), true, s);
    assert.equal(all.canPublish(s), true, s);
  }
  assert.equal(all.canSubscribe('>'), true);
  assert.equal(all.canSubscribe('*.>'), true);
});

test("the credit subjects ($EVENTS.CREDIT, asked in the name of the gateway's link) are reached by no grant: subscribe, deliver, publish, reply grants", () => {
  const grants = [
    perms({ pub: { allow: ['>'] }, sub: { allow: ['>'] } }),
    perms({ type: 'user', version: 2 }),
    perms({ pub: { allow: ['$EVENTS.>'] }, sub: { allow: ['$EVENTS.>', '$EVENTS.CREDIT.*'] } }),
    perms({ sub: { allow: ['>'] }, resp: { max: -1, ttl: -1 } }),
  ];
  for (const p of grants) {
    for (const s of [
      '$EVENTS.CREDIT.events',
      '$EVENTS.CREDIT.listeners',
      '$EVENTS.CREDIT.*',
      '$EVENTS.CREDIT.>',
      '$EVENTS.CREDIT',
    ]) {
      assert.equal(p.canSubscribe(s), false, s);
    }
    assert.equal(p.canSubscribe('$EVENTS.CREDIT.events', 'q'), false);
    // A wildcard that covers them (`>`, `$EVENTS.>`) is allowed where granted; the credit messages are not delivered to it.
    assert.equal(p.canDeliver('$EVENTS.CREDIT.events'), false);
    assert.equal(p.canDeliver('$EVENTS.CREDIT.listeners'), false);
    // A request whose reply subject is a credit subject grants no reply there: `{"return": n}` would give back the link's credit.
    p.noteReply('$EVENTS.CREDIT.events');
    for (const s of ['$EVENTS.CREDIT.events', '$EVENTS.CREDIT.listeners', '$EVENTS.CREDIT'])
      assert.equal(p.canPublish(s), false, s);
  }
  // Only that prefix: the service's other `$EVENTS` subjects are decided by the lists.
  const all = grants[0]!;
  for (const s of [
    '$EVENTS.HEALTH',
    '$EVENTS.FEED.QUERY',
    '$EVENTS.CREDITS.x',
    '$EVENTSX.CREDIT.events',
    'a.$EVENTS.CREDIT.events',
  ]) {
    assert.equal(all.canSubscribe(s), true, s);
    assert.equal(all.canDeliver(s), true, s);
    assert.equal(all.canPublish(s), true, s);
  }
});
