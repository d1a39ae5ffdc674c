// Token authentication on the wire, against every target: what a client without the right token sees, and when.
// Recorded from nats-server 2.9.10: with auth on, any first op but CONNECT (even PING or an unknown op) is an
// Authorization Violation, and silence or an unfinished CONNECT ends at auth_timeout.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { esc, type RawConn, RawPool } from '@event-broker/test-support/raw';
import { targets, type RunningTarget } from './helpers/targets.js';

const TOKEN = 's3cret';
const AUTH_TIMEOUT_MS = 500;

async function expectErrAndClose(conn: RawConn, text: string, timeoutMs?: number): Promise<void> {
  await conn.expect(new RegExp(`^-ERR '${esc(text)}'\r\n`), timeoutMs);
  const closed = await conn.expectClosed();
  assert.equal(closed.rest, '', 'nothing follows the -ERR');
}

for (const target of targets()) {
  describe(`token authentication (${target.name})`, () => {
    let server: RunningTarget;
    const pool = new RawPool();
    before(async () => {
      server = await target.start({ token: TOKEN, authTimeoutMs: AUTH_TIMEOUT_MS });
    });
    afterEach(() => pool.closeAll());
    after(async () => {
      pool.closeAll();
      await server?.stop();
    });

    it('INFO says auth_required', async () => {
      const c = await pool.connect(server);
      assert.equal(c.info.auth_required, true);
    });

    it('the right token is accepted: PONG, and messages flow', async () => {
      const c = await pool.handshake(server, { verbose: false, pedantic: false, auth_token: TOKEN });
      c.send('SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n');
      await c.expect(/^MSG foo 1 2\r\nhi\r\nPONG\r\n/);
    });

    it('the right token with verbose gets +OK for the CONNECT', async () => {
      const c = await pool.connect(server);
      c.send(`CONNECT {"auth_token":"${TOKEN}"}\r\nPING\r\n`);
      await c.expect(/^\+OK\r\nPONG\r\n/);
    });

    for (const [what, connect] of [
      ['a wrong token', { verbose: false, auth_token: 'nope' }],
      ['no token', { verbose: false }],
      ['the token in the password field', { verbose: false, pass: TOKEN }],
    ] as const) {
      it(`${what} gets -ERR 'Authorization Violation' and is closed`, async () => {
        const c = await pool.connect(server);
        c.send(`CONNECT ${JSON.stringify(connect)}\r\nPING\r\n`);
        await expectErrAndClose(c, 'Authorization Violation');
      });
    }

    for (const [what, bytes] of [
      ['PING', 'PING\r\n'],
      ['SUB', 'SUB foo 1\r\n'],
      ['PUB', 'PUB foo 2\r\nhi\r\n'],
      ['an unknown op', 'FOO\r\n'],
    ] as const) {
      it(`${what} before CONNECT gets -ERR 'Authorization Violation' and is closed`, async () => {
        const c = await pool.connect(server);
        c.send(bytes);
        await expectErrAndClose(c, 'Authorization Violation');
      });
    }

    it('unparsable CONNECT JSON is closed without -ERR', async () => {
      const c = await pool.connect(server);
      c.send('CONNECT {x\r\n');
      const closed = await c.expectClosed();
      assert.equal(closed.rest, '');
    });

    it("no CONNECT within auth_timeout gets -ERR 'Authentication Timeout' and is closed", async () => {
      const c = await pool.connect(server);
      const started = Date.now();
      await c.expectNothing(AUTH_TIMEOUT_MS - 200);
      await expectErrAndClose(c, 'Authentication Timeout', 2000);
      const took = Date.now() - started;
      assert.ok(took >= AUTH_TIMEOUT_MS - 100 && took < AUTH_TIMEOUT_MS + 1500, `timed out after ${took} ms`);
    });

    it("a CONNECT left unfinished past auth_timeout gets -ERR 'Authentication Timeout' and is closed", async () => {
      const c = await pool.connect(server);
      c.send(`CONNECT {"verbose":false,"auth_token":"${TOKEN}"`);
      await expectErrAndClose(c, 'Authentication Timeout', 2000);
    });

    it('an authenticated connection outlives auth_timeout', async () => {
      const c = await pool.handshake(server, { verbose: false, auth_token: TOKEN });
      await c.expectNothing(AUTH_TIMEOUT_MS + 200);
      await c.flush();
    });
  });
}
