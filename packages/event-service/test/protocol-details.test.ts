// Issue 11, finding 10: protocol details where the service differed from nats-server 2.9.10, on the wire against
// both targets (nats-server's answers are the expectation), plus the service's own rule for subjects that are not
// UTF-8 (nats-server compares raw bytes; the service keeps subjects as strings, so it refuses such bytes rather
// than let two different byte strings decode to one subject).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RawPool } from '@event-broker/test-support/raw';
import { eventService, targets, type RunningTarget } from './helpers/targets.js';

const QUIET = { verbose: false, pedantic: false };

for (const target of targets()) {
  describe(`protocol details as nats-server has them (${target.name})`, () => {
    let server: RunningTarget;
    const pool = new RawPool();
    before(async () => {
      server = await target.start();
    });
    afterEach(() => pool.closeAll());
    after(async () => {
      pool.closeAll();
      await server?.stop();
    });

    it('reads PING, PONG and +OK followed by anything up to the line end as PING, PONG and +OK', async () => {
      const c = await pool.handshake(server, QUIET);
      c.send('PING foo\r\nPINGfoo\r\nping\tbar baz\r\nPONG bar\r\n+OK junk\r\nPING\r\n');
      await c.expect(/^PONG\r\nPONG\r\nPONG\r\nPONG\r\n/);
      await c.expectNothing(100);
    });

    it('keeps the options a second CONNECT omits (verbose, pedantic and echo stay as the first set them)', async () => {
      const c = await pool.connect(server);
      c.send('CONNECT {"verbose":false,"pedantic":false,"echo":false}\r\nCONNECT {"name":"again"}\r\n');
      c.send('SUB foo 1\r\nPUB foo 2\r\nhi\r\nPUB foo.* 2\r\nhi\r\nPING\r\n');
      // verbose kept: no +OK; pedantic kept: no -ERR for the wildcard publish; echo kept: no MSG of its own.
      await c.expect(/^PONG\r\n/);
      await c.expectNothing(100);
    });

    it('refuses a client INFO longer than max_control_line with maximum control line exceeded', async () => {
      for (const preamble of ['', 'CONNECT {"verbose":false}\r\n']) {
        const c = await pool.connect(server);
        c.send(`${preamble}INFO {"x":"${'a'.repeat(100_000)}"}\r\nPING\r\n`);
        await c.expect(/^-ERR 'maximum control line exceeded'\r\n/);
        await c.expectClosed();
      }
    });

    it('accepts a client INFO within max_control_line and ignores it', async () => {
      const c = await pool.handshake(server, QUIET);
      c.send(`INFO {"x":"${'a'.repeat(3000)}"}\r\nPING\r\n`);
      await c.expect(/^PONG\r\n/);
    });

    it('never delivers a message published to one invalid UTF-8 subject to a subscription on another', async () => {
      const c = await pool.handshake(server, QUIET);
      c.send('SUB a.\xfe 2\r\nPUB a.\xff 1\r\nx\r\nPUB a.\xc0\xaf 1\r\ny\r\nPING\r\n');
      const m = await c.expect(/PONG\r\n/);
      assert.doesNotMatch(
        m.input.slice(0, m.index + m[0].length),
        /MSG/,
        'no subscription matched bytes it did not name',
      );
    });
  });
}

describe('subjects, replies, queues and sids that are not UTF-8 (event service)', () => {
  let server: RunningTarget;
  const pool = new RawPool();
  before(async () => {
    server = await eventService.start();
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    pool.closeAll();
    await server?.stop();
  });

  it('refuses them with Invalid Subject or Invalid Publish Subject, routes nothing, and keeps the connection open', async () => {
    const c = await pool.handshake(server, { ...QUIET, headers: true });
    c.send('SUB a.> 1\r\n');
    c.send('SUB a.\xff 2\r\nSUB a.b q\xff 3\r\nSUB a.b \xff\r\nUNSUB \xfe\r\n');
    c.send('PUB a.\xff 1\r\nx\r\nPUB a.b r.\xff 1\r\ny\r\nHPUB a.\xfe 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n');
    // The `a.>` subscription would show any of them routed: nothing but the refusals and the PONG come back.
    await c.expect(
      new RegExp(
        `^${"-ERR 'Invalid Subject'\\r\\n".repeat(4)}${"-ERR 'Invalid Publish Subject'\\r\\n".repeat(3)}PONG\\r\\n`,
      ),
    );
    await c.expectNothing(100);
  });

  it('keeps valid UTF-8 subjects byte for byte, and with verbose acknowledges a refused publish after its -ERR', async () => {
    const c = await pool.handshake(server, { verbose: true, pedantic: false });
    const subject = Buffer.from('a.é.日本', 'utf8');
    c.send(
      Buffer.concat([Buffer.from('SUB '), subject, Buffer.from(' 1\r\nPUB '), subject, Buffer.from(' 2\r\nhi\r\n')]),
    );
    c.send('PUB a.\xff 2\r\nhi\r\nPING\r\n');
    const m = await c.expect(
      /^\+OK\r\n\+OK\r\nMSG (\S+) 1 2\r\nhi\r\n-ERR 'Invalid Publish Subject'\r\n\+OK\r\nPONG\r\n/,
    );
    assert.deepEqual(Buffer.from(m[1]!, 'latin1'), subject);
  });
});
