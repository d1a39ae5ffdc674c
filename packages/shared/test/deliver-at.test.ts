// Messages routed as a range of the publisher's read chunk (Broker.publishAt, Conn.deliverAt, Outbound's *At
// writers): every subscriber sees the bytes of the range, whether it takes the range (deliverAt) or a slice
// (deliver), and the range writers put out exactly the bytes their whole-buffer forms write for the slice.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Outbound } from '../src/protocol/index.js';
import { Broker, Subscription, type Conn, type PublisherHandle } from '../src/server/index.js';

const HANDLE: PublisherHandle = { id: 0, pause() {}, resume() {} };

/** A subscriber that records what it was given, as a string, and how (range or slice). */
function recorder(withAt: boolean): Conn & { got: string[] } {
  const got: string[] = [];
  const conn: Conn & { got: string[] } = {
    cid: 1,
    echo: false,
    noResponders: false,
    publisher: HANDLE,
    got,
    deliver: (_s, subject, _r, hdrLen, msg) => got.push(`slice ${subject} ${hdrLen} ${msg.toString('latin1')}`),
    expired() {},
  };
  if (withAt)
    conn.deliverAt = (_s, subject, _r, hdrLen, buf, start, end) =>
      got.push(`range ${subject} ${hdrLen} ${buf.toString('latin1', start, end)}`);
  return conn;
}

describe('routing a range of the read chunk', () => {
  it('gives each subscriber the range: deliverAt the range itself, the others one slice', () => {
    const broker = new Broker(100);
    const ranged = recorder(true);
    const sliced = recorder(false);
    const queued = recorder(false);
    broker.add(new Subscription(ranged, 'a.*', undefined, '1'));
    broker.add(new Subscription(sliced, 'a.b', undefined, '2'));
    broker.add(new Subscription(queued, 'a.b', 'q', '3'));
    const chunk = Buffer.from('xxxxHEADpayloadyyyy', 'latin1');
    assert.equal(broker.publishAt(recorder(false), 'a.b', undefined, 4, chunk, 4, 15), 3);
    const all = [...ranged.got, ...sliced.got, ...queued.got].sort();
    assert.deepEqual(all, ['range a.b 4 HEADpayload', 'slice a.b 4 HEADpayload', 'slice a.b 4 HEADpayload']);
    // A whole buffer goes as it is, to deliver(), even where deliverAt is offered.
    ranged.got.length = 0;
    broker.publish(recorder(false), 'a.c', undefined, 0, Buffer.from('whole'));
    assert.deepEqual(ranged.got, ['slice a.c 0 whole']);
    // Queue groups a leaf names: the others get nothing.
    queued.got.length = 0;
    broker.publishAt(recorder(false), 'a.b', undefined, 0, chunk, 0, 4, []);
    assert.deepEqual(queued.got, []);
  });
});

describe('Outbound range writers', () => {
  const text = fc.stringMatching(/^[a-z.]{1,12}$/);
  it('write what the whole-buffer forms write for the slice', () => {
    fc.assert(
      fc.property(
        text,
        fc.option(text, { nil: undefined }),
        fc.uint8Array({ maxLength: 20_000 }),
        fc.nat({ max: 9 }),
        fc.nat({ max: 9 }),
        fc.uint8Array({ minLength: 1, maxLength: 80 }),
        (subject, reply, payload, before, after, insert) => {
          const msg = Buffer.from(payload);
          const chunk = Buffer.concat([Buffer.alloc(before, 1), msg, Buffer.alloc(after, 2)]);
          const [start, end] = [before, before + msg.length];
          const hdr = Math.min(msg.length, 3);
          const whole = new Outbound();
          const ranged = new Outbound();
          whole.writeMsg(subject, '7', reply, hdr, msg);
          ranged.writeMsgAt(subject, '7', reply, hdr, chunk, start, end);
          const at = Math.min(hdr, 1);
          const ins = Buffer.from(insert);
          whole.writeSplicedLeafMsg(subject, reply, [], hdr, msg, at, 0, ins);
          ranged.writeSplicedLeafMsgAt(subject, reply, [], hdr, chunk, start, end, at, 0, ins);
          assert.deepEqual(Buffer.concat(ranged.take()), Buffer.concat(whole.take()));
        },
      ),
      { seed: 0x16_0003, numRuns: 300 },
    );
  });
});
