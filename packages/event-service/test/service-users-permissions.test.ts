// [[service.users]] publish and subscribe permissions beside nats-server 2.9 given the same users
// (helpers/service-users.ts), with nats-server's texts: allow/deny and queue entries, deny on delivery to a wildcard
// subscription, and allow_responses (max and expires). Changing them on a reload is service-users-reload.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '@event-broker/test-support/wait';
import type { ServiceUser } from '../src/config-types.js';
import { WAIT_MS, exchange, login, sides } from './helpers/service-users.js';

test("publish and subscribe permissions: allow, deny and queue entries refuse with nats-server's texts, and the connection stays open", async (t) => {
  const users: ServiceUser[] = [
    {
      user: 'p',
      password: 'p',
      permissions: {
        publish: { allow: ['orders.>', 'audit.*', 'q"uote.*'], deny: ['orders.secret.>'] },
        subscribe: {
          allow: ['orders.*', 'audit.>', 'foo', 'foo v1', 'bar *.dev'],
          deny: ['audit.secret.>', '> *.prod'],
        },
      },
    },
    { user: 'list', password: 'l', permissions: { publish: { allow: ['only.this'] }, subscribe: { deny: ['>'] } } },
  ];
  const pubs = [
    'orders.new',
    'orders.eu.new',
    'orders',
    'audit.created',
    'audit.a.b',
    'billing.paid',
    'orders.secret.key',
    'q"uote.x',
    'a"b\\c',
  ];
  const subs = [
    'orders.new',
    'orders.*',
    'audit.x',
    'audit.secret.k',
    'foo',
    'foo v1',
    'foo v2',
    'bar',
    'bar eu.dev',
    'bar eu.prod',
    'audit.x q.prod',
    '>',
  ];
  const ops = [...pubs.map((s) => `PUB ${s} 0\r\n`), ...subs.map((s, i) => `SUB ${s} ${i + 1}`)];
  const transcripts: string[][] = [];
  for (const side of await sides(t, users)) {
    const conn = await login(t, side, 'p', 'p');
    const got = await exchange(conn, ops);
    transcripts.push(got);
    assert.equal(conn.closed, false, `${side.name}: still open`);
    const other = await login(t, side, 'list', 'l');
    assert.deepEqual(
      await exchange(other, ['PUB only.this 0\r\n', 'PUB not.this 0\r\n', 'SUB anything 1', 'SUB anything q 2']),
      [
        `-ERR 'Permissions Violation for Publish to "not.this"'`,
        `-ERR 'Permissions Violation for Subscription to "anything"'`,
        `-ERR 'Permissions Violation for Subscription to "anything" using queue "q"'`,
      ],
      `${side.name}: deny [">"] allows no subscription`,
    );
  }
  const [mine, theirs] = transcripts;
  assert.ok(mine!.length >= 10, `the cases exercise refusals: ${mine!.join('\n')}`);
  assert.ok(mine!.includes(`-ERR 'Permissions Violation for Subscription to "audit.x" using queue "q.prod"'`));
  assert.ok(mine!.includes(`-ERR 'Permissions Violation for Publish to "a\\"b\\\\c"'`), 'Go-quoted');
  if (theirs !== undefined) assert.deepEqual(mine, theirs);
});

test('a wildcard subscription is not sent a subject the deny list names, on both servers', async (t) => {
  const users: ServiceUser[] = [
    { user: 'watcher', password: 'w', permissions: { subscribe: { deny: ['secret.>'] } } },
    { user: 'pub', password: 'p' },
  ];
  for (const side of await sides(t, users)) {
    const watcher = await login(t, side, 'watcher', 'w');
    assert.deepEqual(
      await exchange(watcher, ['SUB > 1', 'SUB secret.* 2', 'SUB public.* 3']),
      [`-ERR 'Permissions Violation for Subscription to "secret.*"'`],
      side.name,
    );
    const pub = await login(t, side, 'pub', 'p');
    await exchange(pub, [
      'PUB secret.a 1\r\nx',
      'PUB public.a 1\r\ny',
      'PUB secret.b.c 1\r\nz',
      'PUB public.end 0\r\n',
    ]);
    // public.end, published last, reaches both subscriptions: everything before it has been delivered by then.
    await until(
      () => (watcher.buffered.match(/MSG public\.end/g) ?? []).length === 2,
      `${side.name}: public.end delivered twice`,
      WAIT_MS,
      () => watcher.buffered,
    );
    const got = await exchange(watcher, []);
    // nats-server may order one message's copies for two subscriptions either way: compared sorted.
    assert.deepEqual(
      got.sort(),
      ['MSG public.a 1 1', 'MSG public.a 3 1', 'MSG public.end 1 0', 'MSG public.end 3 0', 'y', 'y'].sort(),
      `${side.name}: secret.* reached no subscription`,
    );
  }
});

test('allow_responses: a responder answers a request it received, up to max and within expires, and publishes nothing else', async (t) => {
  const users: ServiceUser[] = [
    { user: 'asker', password: 'a' },
    {
      user: 'svc',
      password: 's',
      permissions: { subscribe: { allow: ['svc.>'] }, allow_responses: { max: 2, expires: 60_000 } },
    },
    {
      user: 'quick',
      password: 'q',
      permissions: { subscribe: { allow: ['quick.>'] }, allow_responses: { max: 5, expires: 300 } },
    },
  ];
  const transcripts: string[][] = [];
  for (const side of await sides(t, users)) {
    const asker = await login(t, side, 'asker', 'a');
    const svc = await login(t, side, 'svc', 's');
    const quick = await login(t, side, 'quick', 'q');
    await exchange(svc, ['SUB svc.echo 1']);
    await exchange(quick, ['SUB quick.echo 1']);
    await exchange(asker, [
      'SUB _INBOX.r1 1',
      'SUB _INBOX.r2 2',
      'PUB svc.echo _INBOX.r1 2\r\nhi',
      'PUB quick.echo _INBOX.r2 2\r\nhi',
    ]);
    await svc.expect(/^MSG svc\.echo 1 _INBOX\.r1 2\r\nhi\r\n/, WAIT_MS);
    const delivered = Date.now();
    await quick.expect(/^MSG quick\.echo 1 _INBOX\.r2 2\r\nhi\r\n/, WAIT_MS);
    const got = await exchange(svc, [
      'PUB _INBOX.r1 1\r\na',
      'PUB _INBOX.r1 1\r\nb',
      'PUB _INBOX.r1 1\r\nc',
      'PUB _INBOX.never 0\r\n',
      'PUB svc.echo 0\r\n',
    ]);
    // After expires (300 ms), the grant is gone.
    await until(() => Date.now() - delivered > 400, 'the reply grant expired', WAIT_MS);
    got.push(...(await exchange(quick, ['PUB _INBOX.r2 1\r\nz'])));
    const replies = await asker.expect(/^(MSG _INBOX\.r1 1 1\r\na\r\nMSG _INBOX\.r1 1 1\r\nb\r\n)/, WAIT_MS);
    assert.ok(replies);
    assert.deepEqual(await exchange(asker, []), [], `${side.name}: no third reply, no late one`);
    transcripts.push(got);
  }
  assert.deepEqual(transcripts[0], [
    `-ERR 'Permissions Violation for Publish to "_INBOX.r1"'`,
    `-ERR 'Permissions Violation for Publish to "_INBOX.never"'`,
    `-ERR 'Permissions Violation for Publish to "svc.echo"'`,
    `-ERR 'Permissions Violation for Publish to "_INBOX.r2"'`,
  ]);
  if (transcripts[1] !== undefined) assert.deepEqual(transcripts[0], transcripts[1]);
});
