// writeMsg and writeLeafMsg are the delivery fast paths: their bytes must equal the plainly built MSG/HMSG and
// LMSG forms in every case, including non-ASCII subjects, replies, queue groups, headers, payloads passed by
// reference and buffers that fill up mid-way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Outbound, hmsgLine, leafMsgLine, msgLine } from '../src/protocol/index.js';

/** The fields every random message has; each test adds its own. */
const BASE = {
  subject: fc.string({ minLength: 1, maxLength: 40 }),
  reply: fc.option(fc.string({ minLength: 1, maxLength: 30 }), { nil: undefined }),
  payload: fc.uint8Array({ maxLength: 40_000 }),
};

function expected(subject: string, sid: string, reply: string | undefined, hdrLen: number, msg: Buffer): Buffer {
  const line =
    hdrLen > 0 ? hmsgLine(subject, sid, reply, hdrLen, msg.length) : msgLine(subject, sid, reply, msg.length);
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
    randomMessages(
      fc.record({ ...BASE, sid: fc.nat().map(String) }),
      (out, m, payload) => out.writeMsg(m.subject, m.sid, m.reply, 0, payload),
      (m, payload) => expected(m.subject, m.sid, m.reply, 0, payload),
    );
  });
});

function expectedLeaf(
  subject: string,
  reply: string | undefined,
  queues: readonly string[],
  hdrLen: number,
  msg: Buffer,
): Buffer {
  return Buffer.concat([
    Buffer.from(leafMsgLine(subject, reply, queues, hdrLen, msg.length)),
    msg,
    Buffer.from('\r\n'),
  ]);
}

describe('Outbound.writeLeafMsg', () => {
  it('writes the same bytes as the LMSG line built as a string', () => {
    const cases: [string, string | undefined, string[], number, Buffer][] = [
      ['a', undefined, [], 0, Buffer.from('hello')],
      ['a.b', '_INBOX.r', [], 0, Buffer.alloc(0)],
      ['q.s', undefined, ['workers'], 0, Buffer.from('x')],
      ['q.s', '_INBOX.r', ['w1', 'w2'], 0, Buffer.from('xy')],
      ['héllo', 'répönse', ['grüppe'], 0, Buffer.from('ü')],
      ['h', 'r', [], 12, Buffer.from('NATS/1.0\r\n\r\nhi')],
      ['h.q', undefined, ['g'], 12, Buffer.from('NATS/1.0\r\n\r\nhi')],
      ['big', undefined, ['g'], 0, Buffer.alloc(100_000, 7)],
    ];
    for (const [subject, reply, queues, hdrLen, msg] of cases) {
      const out = new Outbound();
      out.writeLeafMsg(subject, reply, queues, hdrLen, msg);
      assert.deepEqual(
        Buffer.concat(out.take()),
        expectedLeaf(subject, reply, queues, hdrLen, msg),
        `${subject} ${queues.join(',')} ${msg.length}`,
      );
    }
  });

  it('keeps order and byte counts across many messages of random shapes', () => {
    randomMessages(
      fc.record({ ...BASE, queues: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 3 }) }),
      (out, m, payload) => out.writeLeafMsg(m.subject, m.reply, m.queues, 0, payload),
      (m, payload) => expectedLeaf(m.subject, m.reply, m.queues, 0, payload),
    );
  });
});

/**
 * Up to 40 random messages (some payloads past the by-reference size) written one after another: the buffer's bytes
 * and count must be the concatenation of each message's expected form.
 */
function randomMessages<M extends { payload: Uint8Array }>(
  message: fc.Arbitrary<M>,
  write: (out: Outbound, m: M, payload: Buffer) => void,
  want: (m: M, payload: Buffer) => Buffer,
): void {
  fc.assert(
    fc.property(fc.array(message, { maxLength: 40 }), (msgs) => {
      const out = new Outbound();
      const parts: Buffer[] = [];
      for (const m of msgs) {
        const payload = Buffer.from(m.payload);
        write(out, m, payload);
        parts.push(want(m, payload));
      }
      const total = Buffer.concat(parts);
      assert.equal(out.bytes, total.length);
      assert.deepEqual(Buffer.concat(out.take()), total);
    }),
    { numRuns: 100 },
  );
}

describe('Outbound.writeSplicedLeafMsg', () => {
  it('writes what writeLeafMsg writes for the message with the splice made first, inline or by reference', () => {
    fc.assert(
      fc.property(
        fc.record({
          ...BASE,
          queues: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 3 }),
          header: fc.uint8Array({ maxLength: 300 }),
          insert: fc.uint8Array({ maxLength: 2000 }),
          cut: fc.nat(),
          removed: fc.nat(),
        }),
        (m) => {
          const hdrLen = m.header.length;
          const at = hdrLen === 0 ? 0 : m.cut % (hdrLen + 1);
          const removed = m.removed % (hdrLen - at + 1);
          const msg = Buffer.concat([m.header, m.payload]);
          const insert = Buffer.from(m.insert);
          const spliced = Buffer.concat([msg.subarray(0, at), insert, msg.subarray(at + removed)]);
          const outHdr = hdrLen - removed + insert.length;
          const out = new Outbound();
          out.writeSplicedLeafMsg(m.subject, m.reply, m.queues, hdrLen, msg, at, removed, insert);
          // Twice in one buffer: the second starts mid-way through it.
          out.writeSplicedLeafMsg(m.subject, m.reply, m.queues, hdrLen, msg, at, removed, insert);
          const one = expectedLeaf(m.subject, m.reply, m.queues, outHdr, spliced);
          assert.equal(out.bytes, one.length * 2);
          assert.deepEqual(Buffer.concat(out.take()), Buffer.concat([one, one]));
        },
      ),
      { numRuns: 200, seed: 12 },
    );
  });
});

describe('Outbound between turns', () => {
  it('keeps no buffer after a small turn (an idle connection), and the rest of its buffer after a busy one', () => {
    const out = new Outbound();
    out.writeString('INFO {}\r\n');
    out.writeString('PONG\r\n');
    assert.equal(Buffer.concat(out.take()).toString(), 'INFO {}\r\nPONG\r\n');
    assert.equal(out.retainedBytes, 0);
    const payload = Buffer.alloc(100, 0x61);
    for (let i = 0; i < 100; i++) out.writeMsg('busy.subject', '1', undefined, 0, payload);
    const bytes = out.bytes;
    assert.equal(Buffer.concat(out.take()).length, bytes);
    assert.ok(out.retainedBytes > 0, 'a busy turn keeps the rest of its buffer for the next');
    out.writeString('PONG\r\n');
    assert.equal(Buffer.concat(out.take()).toString(), 'PONG\r\n');
    assert.equal(out.retainedBytes, 0);
  });

  it("writes the next turn into the rest of a busy turn's buffer without touching what that turn handed over", () => {
    const out = new Outbound();
    const turn = (fill: number, count: number) => {
      const payload = Buffer.alloc(256, fill);
      for (let i = 0; i < count; i++) out.writeMsg('busy.subject', '1', undefined, 0, payload);
      return out.take();
    };
    const line = (fill: number) => `MSG busy.subject 1 256\r\n${String.fromCharCode(fill).repeat(256)}\r\n`;
    turn(0x61, 40); // sets the size hint: the next buffer holds a turn like it
    const first = turn(0x62, 20);
    const copy = Buffer.concat(first);
    const second = turn(0x63, 10);
    const shared = second.some((c) => first.some((f) => f.buffer === c.buffer));
    assert.ok(shared, "the second turn was written into the rest of the first one's buffer");
    assert.ok(Buffer.concat(first).equals(copy), 'bytes handed over are unchanged by the next turn');
    assert.equal(copy.toString('latin1'), line(0x62).repeat(20));
    assert.equal(Buffer.concat(second).toString('latin1'), line(0x63).repeat(10));
  });
});
