// Review of issue 16's one-pass PUB reader (shared protocol/fast-pub.ts) on the wire, against every target: PUB lines
// it takes (op word in any case, a reply, a size of 0, several in one read right behind CONNECT, SUB and
// PING) and one beside them it leaves to the general path (two blanks) must be answered as nats-server 2.9.10 does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rawSuite } from './helpers/raw-suite.js';
import { targets } from './helpers/targets.js';

for (const target of targets()) {
  describe(`one-pass PUB lines on the wire (${target.name})`, () => {
    const { server, pool } = rawSuite(target);

    it('delivers lower-case, reply, empty and two-blank PUBs sent in one read behind CONNECT', async () => {
      const c = await pool.connect(server);
      c.send(
        'CONNECT {"verbose":false,"pedantic":false}\r\nSUB f.> 1\r\nPING\r\n' +
          'pub f.a 2\r\nhi\r\nPuB f.b _INBOX.r 0\r\n\r\nPUB f.c  1\r\nx\r\nPUB f.d 0000000003\r\nabc\r\nPING\r\n',
      );
      // The last PUB's size has ten digits: nats-server closes without -ERR; everything before it is delivered.
      await c.expect(/^PONG\r\nMSG f\.a 1 2\r\nhi\r\nMSG f\.b 1 _INBOX\.r 0\r\n\r\nMSG f\.c 1 1\r\nx\r\n/);
      const closed = await c.expectClosed();
      assert.equal(closed.rest, '', 'nothing after the malformed size');
    });

    // nats-server 2.9.10 writes a message's size as the publisher spelled it, leading zeros included (observed: it
    // keeps the size's bytes); we write the number. Found in review, older than the one-pass reader (the general path does the
    // same), and no client sends such sizes: recorded here, not fixed.
    it(
      'a size with leading zeros is delivered as spelled (nats-server), not as its number',
      { todo: target.name === 'nats-server' ? false : 'we write the parsed number' },
      async () => {
        const c = await pool.connect(server);
        c.send('CONNECT {"verbose":false,"pedantic":false}\r\nSUB f 1\r\nPUB f 002\r\nhi\r\nPING\r\n');
        const m = await c.expect(/^(MSG f 1 \d+)\r\nhi\r\nPONG\r\n/);
        assert.equal(m[1], 'MSG f 1 002');
      },
    );
  });
}
