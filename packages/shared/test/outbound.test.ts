// writeMsg is the delivery fast path: its bytes must equal the plainly built MSG/HMSG form in every case,
// including non-ASCII subjects, replies, headers, payloads passed by reference and buffers that fill up mid-way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Outbound, hmsgLine, msgLine } from '../src/protocol/index.js';

function expected(subject: string, sid: string, reply: string | undefined, hdrLen: number, msg: Buffer): Buffer {
  const line = hdrLen > 0 ? hmsgLine(subject, sid, reply, hdrLen, msg.length) : msgLine(subject, sid, reply, msg.length);
  return Buffer.concat([Buffer.from(line), msg, Buffer.from('\r\n')]);
}

describe('Outbound.writeMsg', () => {
  it('writes the same bytes as the MSG and HMSG lines built as strings', () => {
    const cases: [string, string, string | undefined, number, Buffer][] = [
      ['a', '1', undefined, 0, Buffer.from('hello')],
      ['a.b.c', '12345678901234567890', '_INBOX.x.y', 0, Buffer.alloc(0)],
      ['héllo.wörld', 'ß', 'répönse', 0, Buffer.from('ü')],
      ['h', '9', 'r', 12, Buffer.from('NATS/1.0\r\n\r\nhi')],
      ['big', '1', undefined, 0, Buffer.alloc(100_000, 7)],
      ['big.h', '1', 'r', 10, Buffer.alloc(70_000, 1)],
    ];
    for (const [subject, sid, reply, hdrLen, msg] of cases) {
      const out = new Outbound();
      out.writeMsg(subject, sid, reply, hdrLen, msg);
      const got = Buffer.concat(out.take());
      assert.deepEqual(got, expected(subject, sid, reply, hdrLen, msg), `${subject} ${msg.length}`);
    }
  });

  it('keeps order and byte counts across many messages of random shapes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            subject: fc.string({ minLength: 1, maxLength: 40 }),
            sid: fc.nat().map(String),
            reply: fc.option(fc.string({ minLength: 1, maxLength: 30 }), { nil: undefined }),
            payload: fc.uint8Array({ maxLength: 40_000 }),
          }),
          { maxLength: 40 },
        ),
        (msgs) => {
          const out = new Outbound();
          const want: Buffer[] = [];
          for (const m of msgs) {
            const payload = Buffer.from(m.payload);
            out.writeMsg(m.subject, m.sid, m.reply, 0, payload);
            want.push(expected(m.subject, m.sid, m.reply, 0, payload));
          }
          const total = Buffer.concat(want);
          assert.equal(out.bytes, total.length);
          assert.deepEqual(Buffer.concat(out.take()), total);
        },
      ),
      { numRuns: 100 },
    );
  });
});
