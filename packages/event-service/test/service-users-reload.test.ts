// What a reload of [[service.users]] does to open connections, beside nats-server 2.9 reloading the same users
// (helpers/service-users.ts): users added, removed, with a changed password or changed permissions, and all of them
// removed at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceUser } from '../src/config-types.js';
import { AUTH_VIOLATION, WAIT_MS, exchange, hash, login, raw, refusal, sides } from './helpers/service-users.js';

test('reload: an added user connects, a removed one is closed without -ERR, a changed password gets Authorization Violation, changed permissions reach the open connection and remove the subscriptions they no longer allow', async (t) => {
  const eHash = hash('pe');
  const before: ServiceUser[] = [
    {
      user: 'a',
      password: 'pa',
      permissions: { subscribe: { allow: ['foo.>', 'bar'] }, publish: { allow: ['x.>', 'bar', 'foo.>'] } },
    },
    { user: 'b', password: 'pb' },
    { user: 'c', password: 'pc' },
    { user: 'e', password: eHash },
    { user: 'f', password: hash('pf') },
  ];
  const after: ServiceUser[] = [
    {
      user: 'a',
      password: 'pa',
      permissions: { subscribe: { allow: ['bar'] }, publish: { allow: ['y.>', 'bar', 'foo.>'] } },
    },
    { user: 'c', password: 'pc2' },
    { user: 'd', password: 'pd' },
    // The same password hashed again (another salt): still the same password, so e stays.
    { user: 'e', password: hash('pe') },
    { user: 'f', password: hash('another') },
  ];
  assert.notEqual(after[3]!.password, eHash);
  for (const side of await sides(t, before)) {
    const a = await login(t, side, 'a', 'pa');
    assert.deepEqual(await exchange(a, ['SUB foo.x 1', 'SUB bar 2', 'SUB foo.> 3']), []);
    const b = await login(t, side, 'b', 'pb');
    const c = await login(t, side, 'c', 'pc');
    const e = await login(t, side, 'e', 'pe');
    const f = await login(t, side, 'f', 'pf');
    assert.equal(await refusal(t, side, { user: 'd', pass: 'pd' }), AUTH_VIOLATION, `${side.name}: d not yet`);

    // The line a publishes after the reload is kept by its parser from before it (pub-line.ts): refused all the same.
    assert.deepEqual(await exchange(a, ['PUB x.1 0\r\n', 'PUB x.1 0\r\n']), [], `${side.name}: a may publish to x.1`);
    await side.reload(after);
    assert.equal((await b.expectClosed(WAIT_MS)).rest, '', `${side.name}: b removed, closed without -ERR`);
    assert.equal((await c.expectClosed(WAIT_MS)).rest, AUTH_VIOLATION, `${side.name}: c's password changed`);
    assert.equal((await f.expectClosed(WAIT_MS)).rest, AUTH_VIOLATION, `${side.name}: f's bcrypt password changed`);
    assert.deepEqual(await exchange(e, []), [], `${side.name}: e's password hashed anew, same password: stays`);
    // nats-server removes them in map order: compared as a set.
    const removed = await exchange(a, []);
    assert.deepEqual(
      removed.sort(),
      [
        `-ERR 'Permissions Violation for Subscription to "foo.>" (sid "3")'`,
        `-ERR 'Permissions Violation for Subscription to "foo.x" (sid "1")'`,
      ],
      side.name,
    );
    const d = await login(t, side, 'd', 'pd');
    assert.deepEqual(
      await exchange(a, ['PUB x.1 0\r\n', 'PUB y.1 0\r\n', 'PUB foo.x 1\r\nf', 'PUB bar 1\r\nb']),
      [`-ERR 'Permissions Violation for Publish to "x.1"'`, 'MSG bar 2 1', 'b'],
      `${side.name}: a under its new permissions`,
    );
    assert.deepEqual(await exchange(d, ['PUB foo.x 0\r\n']), []);
    assert.deepEqual(await exchange(a, []), [], `${side.name}: foo.x reaches a no more`);
    assert.equal(a.closed || d.closed || e.closed, false);
  }
});

test('reload from users to none: every user connection is closed without -ERR, as nats-server closes a user it no longer has', async (t) => {
  for (const side of await sides(t, [{ user: 'a', password: 'pa' }])) {
    const a = await login(t, side, 'a', 'pa');
    await side.reload(undefined);
    assert.equal((await a.expectClosed(WAIT_MS)).rest, '', side.name);
    assert.equal(
      (await raw(t, side)).info.auth_required,
      undefined,
      `${side.name}: INFO no longer asks for credentials`,
    );
  }
});
