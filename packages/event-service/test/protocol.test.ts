// The client protocol on the wire, byte for byte, against every target: our service must answer exactly as
// nats-server 2.9.10 does (texts, byte counts, and whether the connection survives), because clients depend on it.
// Expectations were recorded from the real nats-server; where they extend shared/NATS-NOTES.md the test says so.
// The same streams split at every byte and at random points are protocol-split-reads.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { esc, type RawConn } from '@event-broker/test-support/raw';
import { rawSuite } from './helpers/raw-suite.js';
import { targets } from './helpers/targets.js';

/** A CONNECT that turns verbose and pedantic off (both default to true). */
const QUIET = { verbose: false, pedantic: false };
const HDRS = { ...QUIET, headers: true };

async function expectErrAndClose(conn: RawConn, text: string): Promise<void> {
  await conn.expect(new RegExp(`^-ERR '${esc(text)}'\r\n`));
  const closed = await conn.expectClosed();
  assert.equal(closed.rest, '', 'nothing follows the -ERR');
}

/** nats-server closes on malformed arguments without writing anything. */
async function expectSilentClose(conn: RawConn): Promise<void> {
  const closed = await conn.expectClosed();
  assert.equal(closed.rest, '', 'closed without a -ERR');
}

async function expectErrAndStayOpen(conn: RawConn, text: string): Promise<void> {
  await conn.expect(new RegExp(`^-ERR '${esc(text)}'\r\n`));
  conn.send('PING\r\n');
  await conn.expect(/^PONG\r\n/);
  assert.equal(conn.closed, false);
}

for (const target of targets()) {
  describe(`client protocol on the wire (${target.name})`, () => {
    const { server, pool } = rawSuite(target);

    describe('INFO and CONNECT', () => {
      it('INFO carries server_id, a semver version, proto 1, headers, max_payload and a distinct client_id', async () => {
        const a = await pool.connect(server);
        const b = await pool.connect(server);
        for (const info of [a.info, b.info]) {
          assert.equal(typeof info.server_id, 'string');
          assert.ok((info.server_id as string).length > 0);
          assert.match(String(info.version), /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/);
          assert.equal(info.proto, 1);
          assert.equal(info.headers, true);
          assert.equal(info.max_payload, 1024 * 1024);
          assert.equal(typeof info.client_id, 'number');
          assert.equal(info.auth_required, undefined, 'no auth_required without auth');
        }
        assert.notEqual(a.info.client_id, b.info.client_id);
        assert.equal(a.info.server_id, b.info.server_id);
      });

      it('CONNECT {} means verbose and pedantic: +OK after CONNECT, SUB, PUB and UNSUB, none after PING', async () => {
        const c = await pool.connect(server);
        c.send('CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n');
        await c.expect(/^\+OK\r\n\+OK\r\n\+OK\r\nMSG foo 1 2\r\nhi\r\n\+OK\r\nPONG\r\n/);
        c.send('PUB foo.* 2\r\nhi\r\nPING\r\n');
        // Pedantic: the wildcard publish draws an -ERR, and verbose still acknowledges it after the -ERR.
        await c.expect(/^-ERR 'Invalid Publish Subject'\r\n\+OK\r\nPONG\r\n/);
        await c.expectNothing(50);
      });

      it('verbose acknowledges an UNSUB of an unknown sid and replaces +OK with -ERR for an invalid SUB', async () => {
        const c = await pool.connect(server);
        c.send('CONNECT {"verbose":true}\r\nUNSUB 99\r\nSUB foo..bar 1\r\nPING\r\n');
        await c.expect(/^\+OK\r\n\+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n/);
        assert.equal(c.closed, false);
      });

      it('without auth, PING before CONNECT gets PONG and the connection stays open', async () => {
        const c = await pool.connect(server);
        c.send('PING\r\n');
        await c.expect(/^PONG\r\n/);
        await c.expectNothing(100);
      });

      it('without auth, SUB and PUB before any CONNECT are served with the verbose default', async () => {
        const c = await pool.connect(server);
        c.send('SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n');
        await c.expect(/^\+OK\r\n\+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n/);
      });

      it('a second CONNECT replaces the options', async () => {
        const c = await pool.connect(server);
        c.send('CONNECT {"verbose":false}\r\nCONNECT {"verbose":true}\r\nPING\r\n');
        await c.expect(/^\+OK\r\nPONG\r\n/);
      });

      it('unknown CONNECT fields are ignored', async () => {
        const c = await pool.handshake(server, { ...QUIET, zzz: 1, lang: 'raw', version: '0.0.0', name: 'x' });
        await c.expectNothing(50);
      });
    });

    describe('control line syntax', () => {
      it('operation names are case-insensitive', async () => {
        const c = await pool.connect(server);
        c.send('connect {"verbose":false,"pedantic":false,"headers":true}\r\nsub foo 1\r\npUb foo 2\r\nhi\r\n');
        c.send('hpub foo 12 14\r\nNATS/1.0\r\n\r\nho\r\nUnSub 1\r\nPUB foo 1\r\nx\r\nPiNg\r\n');
        await c.expect(/^MSG foo 1 2\r\nhi\r\nHMSG foo 1 12 14\r\nNATS\/1\.0\r\n\r\nho\r\nPONG\r\n/);
      });

      it('runs of spaces and tabs separate arguments, before, between and after them', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send(
          'SUB \t foo\t\t 1\r\nSUB   bar  q \t2 \r\nPUB  foo \t r  2 \r\nhi\r\nPUB\tbar\t3\t\r\nbye\r\nUNSUB 1 \r\nPUB foo 1\r\nx\r\nPING\r\n',
        );
        await c.expect(/^MSG foo 1 r 2\r\nhi\r\nMSG bar 2 3\r\nbye\r\nPONG\r\n/);
      });

      it('a tab inside what looks like a subject splits it: `SUB foo\\tbar 1` subscribes foo in queue bar', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo\tbar 1\r\nPUB foo 1\r\nx\r\nPING\r\n');
        await c.expect(/^MSG foo 1 1\r\nx\r\nPONG\r\n/);
      });

      it('a control line may end in a bare LF', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo 1\nPUB foo 2\nhi\r\nPING\n');
        await c.expect(/^MSG foo 1 2\r\nhi\r\nPONG\r\n/);
      });

      it('+OK, PONG and INFO from a client are ignored', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('+OK\r\nPONG\r\nINFO {}\r\nPING\r\n');
        await c.expect(/^PONG\r\n/);
        await c.expectNothing(50);
      });
    });

    describe('PUB, HPUB and delivery', () => {
      it('PUB is delivered as MSG with and without a reply subject, empty and binary payloads intact', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send(
          'SUB foo 1\r\nPUB foo 2\r\nhi\r\nPUB foo reply.to 3\r\nabc\r\nPUB foo 0\r\n\r\nPUB foo 4\r\n\r\n\x00\xff\r\nPING\r\n',
        );
        await c.expect(
          /^MSG foo 1 2\r\nhi\r\nMSG foo 1 reply\.to 3\r\nabc\r\nMSG foo 1 0\r\n\r\nMSG foo 1 4\r\n\r\n\x00\xff\r\nPONG\r\n/,
        );
      });

      it('a queue subscription and a plain one both receive, each with its own sid', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo q 7\r\nPING\r\n');
        await c.expect(/^PONG\r\n/);
        c.send('SUB foo 8\r\nPUB foo 1\r\nx\r\nPING\r\n');
        const m = await c.expect(/^(MSG foo (\d) 1\r\nx\r\n){2}PONG\r\n/);
        assert.ok(m[0].includes('MSG foo 7 1') && m[0].includes('MSG foo 8 1'), m[0]);
      });

      it('HPUB is delivered as HMSG with the header and total byte counts as sent', async () => {
        const c = await pool.handshake(server, HDRS);
        const hdr = 'NATS/1.0\r\nA: b\r\n\r\n';
        assert.equal(hdr.length, 18);
        c.send(`SUB foo 1\r\nHPUB foo r 18 20\r\n${hdr}hi\r\nHPUB foo 18 18\r\n${hdr}\r\nPING\r\n`);
        await c.expect(
          new RegExp(`^HMSG foo 1 r 18 20\r\n${esc(hdr)}hi\r\nHMSG foo 1 18 18\r\n${esc(hdr)}\r\nPONG\r\n`),
        );
      });

      it('HPUB with a zero header size is delivered as a plain MSG', async () => {
        const c = await pool.handshake(server, HDRS);
        c.send('SUB foo 1\r\nHPUB foo 0 2\r\nhi\r\nPING\r\n');
        await c.expect(/^MSG foo 1 2\r\nhi\r\nPONG\r\n/);
      });

      it('the header block is passed through unvalidated', async () => {
        const c = await pool.handshake(server, HDRS);
        c.send('SUB foo 1\r\nHPUB foo 4 6\r\nab\r\nhi\r\nPING\r\n');
        await c.expect(/^HMSG foo 1 4 6\r\nab\r\nhi\r\nPONG\r\n/);
      });

      it('a subscriber that sent headers:false gets a plain MSG with the payload only for an HPUB', async () => {
        const sub = await pool.handshake(server, { ...QUIET, headers: false });
        sub.send('SUB foo 1\r\nPING\r\n');
        await sub.expect(/^PONG\r\n/);
        const pub = await pool.handshake(server, HDRS);
        pub.send('HPUB foo r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n');
        await pub.expect(/^PONG\r\n/);
        await sub.expect(/^MSG foo 1 r 2\r\nhi\r\nMSG foo 1 0\r\n\r\n/);
        await sub.expectNothing(50);
      });

      it('sids are opaque strings echoed as sent', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo abc\r\nSUB bar 123456789012345678901234567890\r\nPUB foo 1\r\na\r\nPUB bar 1\r\nb\r\nPING\r\n');
        await c.expect(/^MSG foo abc 1\r\na\r\nMSG bar 123456789012345678901234567890 1\r\nb\r\nPONG\r\n/);
      });

      it("echo:false keeps a connection from receiving its own messages, not others'", async () => {
        const c = await pool.handshake(server, { ...QUIET, echo: false });
        const other = await pool.handshake(server, QUIET);
        c.send('SUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n');
        await c.expect(/^PONG\r\n/);
        other.send('PUB foo 1\r\nb\r\nPING\r\n');
        await other.expect(/^PONG\r\n/);
        await c.expect(/^MSG foo 1 1\r\nb\r\n/);
        await c.expectNothing(50);
      });
    });

    describe('SUB and UNSUB', () => {
      it('UNSUB with a max delivers that many more messages, then ends the subscription', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n');
        await c.expect(/^MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n/);
      });

      it('UNSUB max counts messages already delivered: max reached ends it at once', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nUNSUB 1 2\r\nPUB foo 1\r\nc\r\nPING\r\n');
        await c.expect(/^MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n/);
      });

      it('UNSUB with max 0 or a non-numeric max unsubscribes at once, connection open', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo 1\r\nSUB foo 2\r\nUNSUB 1 0\r\nUNSUB 2 x\r\nPUB foo 1\r\na\r\nPING\r\n');
        await c.expect(/^PONG\r\n/);
        await c.expectNothing(50);
      });

      it('UNSUB of an unknown sid is a silent no-op', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('UNSUB 99\r\nUNSUB 98 5\r\nPING\r\n');
        await c.expect(/^PONG\r\n/);
        await c.expectNothing(50);
      });

      it('a SUB reusing a live sid is ignored: the first subscription stays', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo 1\r\nSUB bar 1\r\nPUB foo 1\r\na\r\nPUB bar 1\r\nb\r\nPING\r\n');
        await c.expect(/^MSG foo 1 1\r\na\r\nPONG\r\n/);
      });

      for (const subject of ['foo..bar', 'foo.>.bar', '.foo', 'foo.', '>.foo']) {
        it(`SUB ${subject} gets -ERR 'Invalid Subject' and the connection stays open`, async () => {
          const c = await pool.handshake(server, QUIET);
          c.send(`SUB ${subject} 1\r\n`);
          await expectErrAndStayOpen(c, 'Invalid Subject');
        });
      }

      it('queue group names are not checked as subjects: `SUB foo q.* 1` joins queue q.*', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo q.* 1\r\nPUB foo 1\r\nx\r\nPING\r\n');
        await c.expect(/^MSG foo 1 1\r\nx\r\nPONG\r\n/);
      });

      it('wildcards as whole tokens and `*` inside a token are valid SUB subjects', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB > 1\r\nSUB *.* 2\r\nSUB foo.*.> 3\r\nSUB foo* 4\r\nSUB foo.*bar 5\r\nPING\r\n');
        await c.expect(/^PONG\r\n/);
        await c.expectNothing(50);
      });
    });

    describe('no responders', () => {
      const NR = { ...HDRS, no_responders: true };
      const STATUS_503 = 'HMSG r 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n';

      it('a request with no subscriber gets the exact 503 HMSG on the reply subject, for PUB and HPUB', async () => {
        const c = await pool.handshake(server, NR);
        c.send('SUB r 1\r\nPUB nobody r 2\r\nhi\r\nHPUB nobody r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n');
        await c.expect(new RegExp(`^${esc(STATUS_503)}${esc(STATUS_503)}PONG\r\n`));
      });

      it('no 503 when a responder exists, or when no_responders was not asked for', async () => {
        const c = await pool.handshake(server, NR);
        c.send('SUB r 1\r\nSUB svc 2\r\nPUB svc r 2\r\nhi\r\nPING\r\n');
        await c.expect(/^MSG svc 2 r 2\r\nhi\r\nPONG\r\n/);
        const d = await pool.handshake(server, HDRS);
        d.send('SUB r 1\r\nPUB nobody r 2\r\nhi\r\nPING\r\n');
        await d.expect(/^PONG\r\n/);
        await d.expectNothing(50);
      });

      it("no_responders without headers gets -ERR 'no responders requires headers support' and is closed", async () => {
        const c = await pool.connect(server);
        c.send('CONNECT {"verbose":false,"no_responders":true}\r\nPING\r\n');
        await expectErrAndClose(c, 'no responders requires headers support');
      });
    });

    describe('publish subjects', () => {
      // nats-server processPub only reports the bad subject (no return), so delivery then goes ahead as usual.
      for (const subject of ['foo.*', 'foo.>']) {
        it(`pedantic PUB ${subject} gets -ERR 'Invalid Publish Subject' and is still delivered literally; the connection stays open`, async () => {
          const c = await pool.handshake(server, { verbose: false, pedantic: true, headers: true });
          c.send(`SUB > 1\r\nPUB ${subject} 2\r\nhi\r\nHPUB ${subject} 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n`);
          const s = esc(subject);
          await c.expect(
            new RegExp(
              `^-ERR 'Invalid Publish Subject'\r\nMSG ${s} 1 2\r\nhi\r\n-ERR 'Invalid Publish Subject'\r\nHMSG ${s} 1 12 12\r\nNATS/1\\.0\r\n\r\n\r\nPONG\r\n`,
            ),
          );
          assert.equal(c.closed, false);
        });
      }

      it("pedantic PUB to a subject with an empty token gets -ERR 'Invalid Publish Subject' and is not delivered", async () => {
        const c = await pool.handshake(server, { verbose: false, pedantic: true });
        c.send('SUB > 1\r\nPUB foo..x 2\r\nhi\r\n');
        await expectErrAndStayOpen(c, 'Invalid Publish Subject');
        await c.expectNothing(50);
      });

      it('pedantic and verbose: a refused publish gets -ERR and then +OK', async () => {
        const c = await pool.connect(server);
        c.send('CONNECT {"verbose":true,"pedantic":true}\r\nPUB foo..x 2\r\nhi\r\nPING\r\n');
        await c.expect(/^\+OK\r\n-ERR 'Invalid Publish Subject'\r\n\+OK\r\nPONG\r\n/);
      });

      it('without pedantic, a subject with an empty token is accepted silently and matches nothing', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB > 1\r\nPUB foo..x 2\r\nhi\r\nPUB .x 1\r\na\r\nPUB x. 1\r\nb\r\nPING\r\n');
        await c.expect(/^PONG\r\n/);
        await c.expectNothing(50);
      });

      it('without pedantic, a wildcard publish subject is delivered as a literal subject', async () => {
        const c = await pool.handshake(server, QUIET);
        c.send('SUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\nPING\r\n');
        await c.expect(/^MSG foo\.\* 1 2\r\nhi\r\nPONG\r\n/);
      });

      it('a pedantic publish with a wildcard reply subject is accepted', async () => {
        const c = await pool.handshake(server, { verbose: false, pedantic: true });
        c.send('SUB foo 1\r\nPUB foo r.* 1\r\na\r\nPING\r\n');
        await c.expect(/^MSG foo 1 r\.\* 1\r\na\r\nPONG\r\n/);
      });
    });

    describe('errors that close the connection', () => {
      const unknownOp: [string, string][] = [
        ['an unknown operation', 'FOO bar\r\n'],
        ['a near-miss operation (PUBX)', 'PUBX foo 1\r\n'],
        ['MSG from a client', 'MSG foo 1 2\r\nhi\r\n'],
        ['a bare SUB', 'SUB\r\n'],
        ['a bare PUB', 'PUB\r\n'],
        ['a bare UNSUB', 'UNSUB\r\n'],
        ['an empty line', '\r\n'],
        ['a payload not followed by CRLF at the declared size', 'PUB foo 2\r\nhix\r\n'],
        ['a payload shorter than declared (the next line is read as payload)', 'PUB foo 5\r\nhi\r\nPING\r\n'],
        ['an HPUB whose payload overruns the total', 'HPUB foo 12 12\r\nNATS/1.0\r\n\r\nhi\r\n'],
      ];
      for (const [what, bytes] of unknownOp) {
        it(`${what} gets -ERR 'Unknown Protocol Operation' and is closed`, async () => {
          const c = await pool.handshake(server, HDRS);
          c.send(bytes);
          await expectErrAndClose(c, 'Unknown Protocol Operation');
        });
      }

      it("an unknown operation before CONNECT gets -ERR 'Unknown Protocol Operation' and is closed", async () => {
        const c = await pool.connect(server);
        c.send('FOO\r\n');
        await expectErrAndClose(c, 'Unknown Protocol Operation');
      });

      it("a CONNECT with protocol above 1 (or negative) gets -ERR 'invalid client protocol' and is closed", async () => {
        for (const protocol of [2, -1]) {
          const c = await pool.connect(server);
          c.send(`CONNECT {"verbose":false,"protocol":${protocol}}\r\nPING\r\n`);
          await expectErrAndClose(c, 'invalid client protocol');
        }
        const ok = await pool.handshake(server, { ...QUIET, protocol: 0 });
        assert.equal(ok.closed, false);
      });

      // nats-server logs these ("processPub Bad or Missing Size", "message headers not supported", JSON errors)
      // and closes without writing anything to the client.
      const silent: [string, string, Record<string, unknown>][] = [
        ['SUB with only a subject', 'SUB foo\r\n', QUIET],
        ['SUB with four arguments', 'SUB foo q 1 x\r\n', QUIET],
        ['PUB with only a subject', 'PUB foo\r\n', QUIET],
        ['PUB with a negative size', 'PUB foo -1\r\n', QUIET],
        ['PUB with a non-numeric size', 'PUB foo x\r\n', QUIET],
        ['PUB with a signed size', 'PUB foo +1\r\nx\r\n', QUIET],
        ['PUB with four arguments', 'PUB foo a b 2\r\nhi\r\n', QUIET],
        ['UNSUB with three arguments', 'UNSUB 1 2 3\r\n', QUIET],
        ['HPUB from a client that did not send headers:true', 'HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n', QUIET],
        ['HPUB with a header size over the total', 'HPUB foo 14 12\r\nNATS/1.0\r\n\r\nhi\r\n', HDRS],
        ['HPUB with one size', 'HPUB foo 12\r\n', HDRS],
        ['-ERR from a client', "-ERR 'x'\r\n", QUIET],
      ];
      for (const [what, bytes, connect] of silent) {
        it(`${what} is closed without -ERR`, async () => {
          const c = await pool.handshake(server, connect);
          c.send(bytes);
          await expectSilentClose(c);
        });
      }

      const badConnect: [string, string][] = [
        ['unparsable CONNECT JSON', 'CONNECT {verbose\r\n'],
        ['a CONNECT that is not JSON', 'CONNECT nope\r\n'],
        ['a CONNECT without arguments', 'CONNECT\r\n'],
        ['a CONNECT with a JSON array', 'CONNECT []\r\n'],
        ['a CONNECT with a wrongly typed field', 'CONNECT {"verbose":"yes"}\r\n'],
        ['HPUB before any CONNECT', 'HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n'],
      ];
      for (const [what, bytes] of badConnect) {
        it(`${what} is closed without -ERR`, async () => {
          const c = await pool.connect(server);
          c.send(bytes);
          await expectSilentClose(c);
        });
      }
    });
  });
}
