// Configured limits as a client sees them on the wire, against every target: the -ERR text, whether the connection
// survives, and the exact boundary (recorded from nats-server 2.9.10). The service-wide listener limit is ours only.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectRaw, esc, type RawConn, RawPool } from '@event-broker/test-support/raw';
import { targets, type RunningTarget, type Target, type TargetOptions } from './helpers/targets.js';
import { pace, until } from '@event-broker/test-support/wait';

const QUIET = { verbose: false, pedantic: false };

async function expectErrAndClose(conn: RawConn, text: string): Promise<void> {
  await conn.expect(new RegExp(`^-ERR '${esc(text)}'\r\n`));
  const closed = await conn.expectClosed();
  assert.equal(closed.rest, '', 'nothing follows the -ERR');
}

async function expectPong(conn: RawConn): Promise<void> {
  conn.send('PING\r\n');
  await conn.expect(/^PONG\r\n/);
}

/** One server per describe block, connections closed after each test. */
function withServer(target: Target, opts: TargetOptions): { server: () => RunningTarget; pool: RawPool } {
  let server: RunningTarget | undefined;
  const pool = new RawPool();
  before(async () => {
    server = await target.start(opts);
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    pool.closeAll();
    await server?.stop();
  });
  return { server: () => server as RunningTarget, pool };
}

for (const target of targets()) {
  describe(`limits (${target.name})`, () => {
    describe('max_payload 100', () => {
      const { server, pool } = withServer(target, { maxPayloadBytes: 100 });

      it('INFO advertises max_payload 100', async () => {
        const c = await pool.connect(server());
        assert.equal(c.info.max_payload, 100);
      });

      it('a PUB of exactly max_payload bytes is delivered', async () => {
        const c = await pool.handshake(server(), QUIET);
        const body = 'x'.repeat(100);
        c.send(`SUB foo 1\r\nPUB foo 100\r\n${body}\r\nPING\r\n`);
        await c.expect(new RegExp(`^MSG foo 1 100\r\n${body}\r\nPONG\r\n`));
      });

      it("a PUB declaring one byte over gets -ERR 'Maximum Payload Violation' before the payload and is closed", async () => {
        const c = await pool.handshake(server(), QUIET);
        c.send('PUB foo 101\r\n');
        await expectErrAndClose(c, 'Maximum Payload Violation');
      });

      it('an HPUB whose total (headers + payload) is over max_payload is refused the same way; at the limit it passes', async () => {
        const ok = await pool.handshake(server(), { ...QUIET, headers: true });
        const hdr = 'NATS/1.0\r\n\r\n';
        const body = 'y'.repeat(100 - hdr.length);
        ok.send(`SUB foo 1\r\nHPUB foo 12 100\r\n${hdr}${body}\r\nPING\r\n`);
        await ok.expect(new RegExp(`^HMSG foo 1 12 100\r\n${esc(hdr)}${body}\r\nPONG\r\n`));
        const c = await pool.handshake(server(), { ...QUIET, headers: true });
        c.send('HPUB foo 12 101\r\n');
        await expectErrAndClose(c, 'Maximum Payload Violation');
      });
    });

    describe('max_control_line 64', () => {
      const { server, pool } = withServer(target, { maxControlLineBytes: 64 });
      // nats-server counts the arguments only: from the first byte after the op's separating whitespace up to the
      // CR (trailing blanks included), and refuses a line whose arguments are longer than max_control_line.
      const args = (n: number, tail = ' 1') => 'a'.repeat(n - tail.length) + tail;

      for (const [op, line] of [
        ['SUB', (n: number) => `SUB ${args(n)}\r\n`],
        ['UNSUB', (n: number) => `UNSUB ${'1'.repeat(n)}\r\n`],
        ['PUB', (n: number) => `PUB ${args(n)}\r\nx\r\n`],
        ['HPUB', (n: number) => `HPUB ${args(n, ' 12 12')}\r\nNATS/1.0\r\n\r\n\r\n`],
        ['CONNECT', (n: number) => `CONNECT {"verbose":false,"name":"${'x'.repeat(n - 27)}"}\r\n`],
      ] as const) {
        it(`${op} with 64 bytes of arguments is accepted`, async () => {
          const c = await pool.handshake(server(), { ...QUIET, headers: true });
          c.send(line(64));
          await expectPong(c);
        });

        it(`${op} with 65 bytes of arguments gets -ERR 'maximum control line exceeded' and is closed`, async () => {
          const c = await pool.handshake(server(), { ...QUIET, headers: true });
          c.send(line(65));
          await expectErrAndClose(c, 'maximum control line exceeded');
        });
      }

      it('the op name and the blanks after it do not count: `SUB` + 5 spaces + 64 bytes of arguments is accepted', async () => {
        const c = await pool.handshake(server(), QUIET);
        c.send(`SUB     ${args(64)}\r\n`);
        await expectPong(c);
      });

      it('blanks between and after the arguments count: 62 bytes + 2 trailing spaces pass, 64 + 2 are refused', async () => {
        const c = await pool.handshake(server(), QUIET);
        c.send(`SUB ${args(62)}  \r\n`);
        await expectPong(c);
        const d = await pool.handshake(server(), QUIET);
        d.send(`SUB ${args(64)}  \r\n`);
        await expectErrAndClose(d, 'maximum control line exceeded');
      });

      it('the limit holds across reads: 65 bytes of arguments split before the CRLF are refused, 64 pass', async () => {
        const c = await pool.handshake(server(), QUIET);
        await c.sendAndDrain(`SUB ${args(64)}`);
        // Apart, so the server reads the line in two reads.
        await pace(20);
        c.send('\r\n');
        await expectPong(c);
        const d = await pool.handshake(server(), QUIET);
        await d.sendAndDrain(`SUB ${args(65)}`);
        await pace(20);
        d.send('\r\n');
        await expectErrAndClose(d, 'maximum control line exceeded');
      });

      it('a control line that never ends is refused once it passes the limit', async () => {
        const c = await pool.handshake(server(), QUIET);
        c.send(`SUB ${'a'.repeat(300)}`);
        await expectErrAndClose(c, 'maximum control line exceeded');
      });
    });

    describe('max_connections 2', () => {
      const { server, pool } = withServer(target, { maxConnections: 2 });

      it("the connection over the limit gets INFO, then -ERR 'maximum connections exceeded', and is closed; a freed slot is reusable", async () => {
        const a = await pool.handshake(server(), QUIET);
        await pool.handshake(server(), QUIET);
        const c = await pool.connect(server());
        await expectErrAndClose(c, 'maximum connections exceeded');
        a.close();
        // The server notices the close asynchronously: retry for a bounded time.
        await until(
          async () => {
            const d = pool.track(await connectRaw(server()));
            d.send(`CONNECT ${JSON.stringify(QUIET)}\r\nPING\r\n`);
            // A refused connection may also be reset before its -ERR is read (nats-server closes with our CONNECT
            // unread): that is a refusal too.
            const got = await d
              .expect(/^(PONG|-ERR '[^']*')\r\n/)
              .catch((err: Error) => [err.message, 'closed'] as const);
            if (got[1] !== 'PONG' && got[1] !== 'closed') assert.equal(got[1], "-ERR 'maximum connections exceeded'");
            return got[1] === 'PONG';
          },
          'the closed connection freed its slot',
          2000,
        );
      });
    });

    describe('max_subscriptions 2 per connection', () => {
      const { server, pool } = withServer(target, { maxSubscriptions: 2 });

      it("the subscription over the limit gets -ERR 'maximum subscriptions exceeded'; the connection stays open and UNSUB frees room", async () => {
        const c = await pool.handshake(server(), QUIET);
        c.send('SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n');
        await c.expect(/^-ERR 'maximum subscriptions exceeded'\r\n/);
        await expectPong(c);
        c.send('PUB c 1\r\nx\r\nUNSUB 1\r\nSUB d 4\r\nPUB d 1\r\ny\r\nPING\r\n');
        await c.expect(/^MSG d 4 1\r\ny\r\nPONG\r\n/);
        assert.equal(c.closed, false);
      });

      it('verbose: the refused SUB gets -ERR instead of +OK', async () => {
        const c = await pool.connect(server());
        c.send('CONNECT {"verbose":true}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n');
        await c.expect(/^\+OK\r\n\+OK\r\n\+OK\r\n-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n/);
      });

      it('at the limit even a SUB reusing a live sid is refused (the count is checked before the sid)', async () => {
        const c = await pool.handshake(server(), QUIET);
        c.send('SUB a 1\r\nSUB b 2\r\nSUB c 2\r\n');
        await c.expect(/^-ERR 'maximum subscriptions exceeded'\r\n/);
        await expectPong(c);
      });

      it('the limit is per connection', async () => {
        const a = await pool.handshake(server(), QUIET);
        const b = await pool.handshake(server(), QUIET);
        a.send('SUB a 1\r\nSUB b 2\r\n');
        b.send('SUB a 1\r\nSUB b 2\r\n');
        await expectPong(a);
        await expectPong(b);
      });
    });

    if (target.name === 'event-service') {
      describe('listener_limit 3 (service-wide, ours only)', () => {
        const { server, pool } = withServer(target, { listenerLimit: 3 });

        it("the subscription past the service-wide limit gets -ERR 'maximum subscriptions exceeded' on a connection that stays open", async () => {
          const a = await pool.handshake(server(), QUIET);
          const b = await pool.handshake(server(), QUIET);
          a.send('SUB a 1\r\nSUB b 2\r\n');
          await expectPong(a);
          b.send('SUB c 1\r\n');
          await expectPong(b);
          b.send('SUB d 2\r\n');
          await b.expect(/^-ERR 'maximum subscriptions exceeded'\r\n/);
          await expectPong(b);
          // The refused subscription does not exist: nothing is delivered on it.
          a.send('PUB d 1\r\nx\r\n');
          await expectPong(a);
          await b.expectNothing(50);
        });

        it('UNSUB on one connection frees room for another', async () => {
          const a = await pool.handshake(server(), QUIET);
          const b = await pool.handshake(server(), QUIET);
          const c = await pool.handshake(server(), QUIET);
          a.send('SUB a 1\r\nSUB b 2\r\n');
          await expectPong(a);
          b.send('SUB c 1\r\n');
          await expectPong(b);
          c.send('SUB d 1\r\n');
          await c.expect(/^-ERR 'maximum subscriptions exceeded'\r\n/);
          a.send('UNSUB 1\r\n');
          await expectPong(a);
          c.send('SUB d 2\r\nPUB d 1\r\nx\r\nPING\r\n');
          await c.expect(/^MSG d 2 1\r\nx\r\nPONG\r\n/);
        });

        it("a closed connection's subscriptions free room", async () => {
          const a = await pool.handshake(server(), QUIET);
          a.send('SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n');
          await expectPong(a);
          const b = await pool.handshake(server(), QUIET);
          b.send('SUB d 1\r\n');
          await b.expect(/^-ERR 'maximum subscriptions exceeded'\r\n/);
          a.close();
          let sid = 1;
          await until(
            async () => {
              b.send(`SUB d ${++sid}\r\nPING\r\n`);
              return (await b.expect(/^(PONG|-ERR '[^']*'\r\nPONG)\r\n/))[1] === 'PONG';
            },
            'the closed connection freed its subscriptions',
            2000,
          );
        });
      });
    }

    describe('ping_interval 200 ms, ping_max 2', () => {
      const { server, pool } = withServer(target, { pingIntervalMs: 200, pingMax: 2 });

      it("a client that never answers PING gets -ERR 'Stale Connection' and is closed", async () => {
        const c = await pool.handshake(server(), QUIET);
        const started = Date.now();
        let pings = 0;
        for (;;) {
          const got = await c.expect(/^(PING|-ERR '[^']*')\r\n/, 2000);
          if (got[1] !== 'PING') {
            assert.equal(got[1], "-ERR 'Stale Connection'");
            break;
          }
          pings++;
          assert.ok(pings <= 2, `no more than ping_max PINGs before the close, got ${pings}`);
        }
        const closed = await c.expectClosed();
        assert.equal(closed.rest, '');
        // Both send ping_max PINGs one interval apart and close at the next tick (≈ 600 ms here).
        assert.equal(pings, 2, 'ping_max PINGs went unanswered first');
        assert.ok(Date.now() - started < 3000);
      });

      it('a client that answers every PING stays connected', async () => {
        const c = await pool.handshake(server(), QUIET);
        const end = Date.now() + 1500;
        let pongs = 0;
        while (Date.now() < end) {
          await c.expect(/^PING\r\n/, 1000);
          c.send('PONG\r\n');
          pongs++;
        }
        assert.ok(pongs >= 3, `answered ${pongs} PINGs`);
        await expectPong(c);
        assert.equal(c.closed, false);
      });
    });
  });
}
