// [[service.users]] admission beside nats-server 2.9 given the same users (helpers/service-users.ts): user/password
// and bcrypt with the official client, the same Authorization Violation for every refusal, the shared token's
// clients, and hostile input (CONNECTs of every wrong shape, a flood of wrong bcrypt passwords that must not stall the
// event loop). What an admitted user may do is service-users-permissions.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import * as nats from 'nats';
import { createLogger } from '@event-broker/shared';
import { resolveServiceConfig } from '../src/config.js';
import type { ServiceUser } from '../src/config-types.js';
import { EventServer } from '../src/server.js';
import {
  AUTH_VIOLATION,
  HOST,
  WAIT_MS,
  exchange,
  hash,
  login,
  ours,
  raw,
  refusal,
  sides,
  type Side,
} from './helpers/service-users.js';

test('user and password, plain or bcrypt ($2a$, $2b$, $2y$): the official client connects on both; a wrong password, an unknown user and none get the same Authorization Violation', async (t) => {
  const users: ServiceUser[] = [
    { user: 'alice', password: 'pa55' },
    { user: 'bob-a', password: hash('s3cret', '2a') },
    { user: 'bob-b', password: hash('s3cret', '2b') },
    { user: 'bob-y', password: hash('s3cret', '2y') },
  ];
  const all = await sides(t, users);
  for (const side of all) {
    const probe = await raw(t, side);
    assert.equal(probe.info.auth_required, true, `${side.name}: INFO says auth_required`);
    const url = `nats://${HOST}:${side.endpoint.port}`;
    for (const [user, pass] of [
      ['alice', 'pa55'],
      ['bob-a', 's3cret'],
      ['bob-b', 's3cret'],
      ['bob-y', 's3cret'],
    ] as const) {
      const nc = await nats.connect({ servers: url, user, pass, reconnect: false });
      await nc.flush();
      await nc.close();
    }
    for (const creds of [
      { user: 'alice', pass: 'wrong' },
      { user: 'bob-a', pass: 'wrong' },
      { user: 'eve', pass: 'pa55' },
      {},
    ]) {
      await assert.rejects(
        nats.connect({ servers: url, ...creds, reconnect: false }),
        (err: nats.NatsError) => err.code === nats.ErrorCode.AuthorizationViolation,
        `${side.name}: ${JSON.stringify(creds)}`,
      );
      const rest = await refusal(t, side, creds);
      assert.equal(rest, AUTH_VIOLATION, `${side.name}: ${JSON.stringify(creds)} on the wire`);
    }
    // A token is no user.
    assert.equal(await refusal(t, side, { auth_token: 'pa55' }), AUTH_VIOLATION, side.name);
  }

  // Ours: who the connection is, for logs and for the events it publishes; the password in neither.
  const [svc] = all;
  const conn = await login(t, svc, 'bob-y', 's3cret');
  await exchange(conn, []);
  const client = [...svc.server.clients.values()].find((c) => c.identity === 'bob-y');
  assert.deepEqual(client?.auth, { authtype: 'service_account', authid: 'bob-y' });
  assert.ok(!svc.logs().includes('pa55') && !svc.logs().includes('s3cret'), 'no password in the log');
});

test("the shared token's clients are recorded as an api_key, compared in constant time whatever its length", async (t) => {
  const logger = createLogger({ level: 'silent' });
  const server = new EventServer(resolveServiceConfig({ service: { host: HOST, port: 0, token: 'tok-3' } }), logger, {
    handlers: false,
  });
  await server.listen();
  t.after(() => server.close());
  const side: Side = { name: 'event-service', endpoint: { host: HOST, port: server.port }, reload: async () => {} };
  assert.equal(await refusal(t, side, { auth_token: 'tok-3-and-more' }), AUTH_VIOLATION);
  assert.equal(await refusal(t, side, { auth_token: '' }), AUTH_VIOLATION);
  const conn = await raw(t, side);
  assert.deepEqual(await exchange(conn, [`CONNECT ${JSON.stringify({ verbose: false, auth_token: 'tok-3' })}`]), []);
  assert.deepEqual([...server.clients.values()][0]?.auth, { authtype: 'api_key' });
});

test('hostile CONNECTs: a huge password, a user name with control characters, fields of the wrong type: the same outcome as nats-server, nothing echoed to the log', async (t) => {
  const users: ServiceUser[] = [
    { user: 'alice', password: 'pa55' },
    { user: 'bob', password: hash('s3cret') },
  ];
  const all = await sides(t, users);
  const huge = 'p'.repeat(3900);
  const cases: [Record<string, unknown>, string][] = [
    [{ user: 'alice', pass: huge }, AUTH_VIOLATION],
    [{ user: 'bob', pass: huge }, AUTH_VIOLATION],
    [{ user: 'evil\u0000\r\n-ERR \u001b[31mname-canary', pass: 'x' }, AUTH_VIOLATION],
    [{ user: 'alice\u0000', pass: 'pa55' }, AUTH_VIOLATION],
    [{ user: '', pass: '' }, AUTH_VIOLATION],
    // A field of the wrong type fails the CONNECT itself: closed without a readable -ERR.
    [{ user: 42, pass: 'pa55' }, ''],
    [{ user: 'alice', pass: { $gt: '' } }, ''],
    // Past max_control_line (4096) the CONNECT is not even read.
    [{ user: 'alice', pass: 'p'.repeat(5000) }, "-ERR 'maximum control line exceeded'\r\n"],
  ];
  for (const side of all) {
    for (const [connect, outcome] of cases) {
      assert.equal(await refusal(t, side, connect), outcome, `${side.name}: ${JSON.stringify(connect).slice(0, 80)}`);
    }
  }
  const logs = all[0].logs();
  assert.ok(
    !logs.includes('name-canary') && !logs.includes(huge.slice(0, 100)),
    'neither the name nor the password reached the log',
  );
  assert.match(logs, /"reason":"unknown user"/);
});

test('a flood of wrong bcrypt passwords: the event loop keeps running, and checks of connections gone before their turn are never computed', async (t) => {
  // Cost 12: one compare takes hundreds of ms, so one on the event loop would show in its delay at once.
  const costly = bcrypt.hashSync('right', 12);
  const started = process.hrtime.bigint();
  bcrypt.compareSync('calibrate', costly);
  const compareMs = Number(process.hrtime.bigint() - started) / 1e6;
  const svc = await ours(t, [{ user: 'u', password: costly }], { auth_timeout: 2000 });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // More compares than fit in auth_timeout: those still waiting when their connection times out must be dropped.
  const FLOOD = Math.max(20, Math.ceil((3 * 2000) / compareMs));
  const connect = `CONNECT ${JSON.stringify({ verbose: false, user: 'u', pass: 'wrong' })}\r\nPING\r\n`;
  const flood = await Promise.all(
    Array.from({ length: FLOOD }, async () => {
      const c = await raw(t, svc);
      c.send(connect);
      return c;
    }),
  );
  const outcomes = new Map<string, number>();
  for (const c of flood) {
    const { rest } = await c.expectClosed(3 * WAIT_MS);
    outcomes.set(rest, (outcomes.get(rest) ?? 0) + 1);
  }
  delay.disable();
  const maxDelayMs = delay.max / 1e6;
  t.diagnostic(
    `one cost-12 compare ${compareMs.toFixed(0)} ms; ${FLOOD} wrong passwords: ${JSON.stringify([...outcomes])}; event loop delay max ${maxDelayMs.toFixed(0)} ms`,
  );
  assert.deepEqual(
    [...outcomes.keys()].sort(),
    ["-ERR 'Authentication Timeout'\r\n", AUTH_VIOLATION].sort(),
    'some refused by their compare, the rest timed out waiting',
  );
  assert.ok(
    maxDelayMs < compareMs / 2,
    `the loop never waited for a compare (max delay ${maxDelayMs.toFixed(0)} ms, one compare ${compareMs.toFixed(0)} ms)`,
  );
  // Had the timed-out connections' compares stayed queued, the worker would be busy far past this one's auth_timeout.
  const asked = Date.now();
  await login(t, svc, 'u', 'right');
  t.diagnostic(`the right password was admitted ${Date.now() - asked} ms after its CONNECT`);
});
