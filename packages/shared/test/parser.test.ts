// The parser is fed each recorded stream whole, byte by byte, and split at every offset: the same operations must
// come out every way (the property the connection code relies on, since TCP splits reads anywhere).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Errors, Parser, type ParserRole } from '../src/protocol/index.js';
import { Recorder, type Event } from './support/recorder.js';

const limits = { maxControlLine: 4096, maxPayload: 1024 * 1024 };

function parseChunks(chunks: Buffer[], role: ParserRole = 'client'): Event[] {
  const rec = new Recorder();
  const p = new Parser(rec, role, { ...limits });
  for (const c of chunks) p.parse(c);
  return rec.events;
}

function splitEverywhere(stream: Buffer, role: ParserRole = 'client'): void {
  const whole = parseChunks([stream], role);
  const bytes = parseChunks([...stream].map((b) => Buffer.from([b])), role);
  assert.deepEqual(bytes, whole, 'byte by byte');
  for (let i = 1; i < stream.length; i++) {
    assert.deepEqual(parseChunks([stream.subarray(0, i), stream.subarray(i)], role), whole, `split at ${i}`);
  }
}

const clientStream = Buffer.from(
  'CONNECT {"verbose":false,"headers":true}\r\n' +
    'SUB foo.* 1\r\n' +
    'sub  bar\tq  2\r\n' +
    'PUB foo.a 5\r\nhello\r\n' +
    'pub foo.b reply.1 0\r\n\r\n' +
    'HPUB foo.h 24 29\r\nNATS/1.0\r\nA: bcdefgh\r\n\r\nworld\r\n' +
    'HPUB foo.h _INBOX.x 12 12\r\nNATS/1.0\r\n\r\n\r\n' +
    'PUB bin 4\r\n\r\n\r\n\r\n' +
    'UNSUB 1 10\r\n' +
    'UNSUB 2\r\n' +
    'PING\r\nPONG\r\nping\r\n',
);

describe('parser', () => {
  it('yields the client operations in order', () => {
    const events = parseChunks([clientStream]);
    assert.deepEqual(events, [
      ['CONNECT', '{"verbose":false,"headers":true}'],
      ['SUB', 'foo.*', undefined, '1'],
      ['SUB', 'bar', 'q', '2'],
      ['PUB', 'foo.a', undefined, 0, 'hello'],
      ['PUB', 'foo.b', 'reply.1', 0, ''],
      ['PUB', 'foo.h', undefined, 24, 'NATS/1.0\r\nA: bcdefgh\r\n\r\nworld'],
      ['PUB', 'foo.h', '_INBOX.x', 12, 'NATS/1.0\r\n\r\n'],
      ['PUB', 'bin', undefined, 0, '\r\n\r\n'],
      ['UNSUB', '1', 10],
      ['UNSUB', '2', undefined],
      ['PING'],
      ['PONG'],
      ['PING'],
    ]);
  });

  it('gives the same operations whole, byte by byte and split at every offset', () => {
    splitEverywhere(clientStream);
  });

  it('hands a handler with onPubAt the same publishes as ranges, split or whole', () => {
    // A Recorder whose PUBs arrive as ranges (the client connection's form): the same events, every way the
    // stream is split, as onPub gives.
    const ranged = (chunks: Buffer[]): Event[] => {
      const rec = new Recorder();
      const withRanges = Object.assign(rec, {
        onPub() {
          throw new Error('onPub called although the handler has onPubAt');
        },
        onPubAt(subject: string, reply: string | undefined, hdrLen: number, buf: Buffer, start: number, end: number) {
          rec.events.push(['PUB', subject, reply, hdrLen, buf.toString('latin1', start, end)]);
        },
      });
      const p = new Parser(withRanges, 'client', { ...limits });
      for (const c of chunks) p.parse(c);
      return rec.events;
    };
    const want = parseChunks([clientStream]);
    assert.deepEqual(ranged([clientStream]), want);
    for (let i = 1; i < clientStream.length; i++) {
      assert.deepEqual(ranged([clientStream.subarray(0, i), clientStream.subarray(i)]), want, `split at ${i}`);
    }
  });

  it('parses server and leafnode operations split at every offset', () => {
    splitEverywhere(
      Buffer.from(
        "INFO {\"server_id\":\"x\"} \r\nMSG a.b 1 5\r\nhello\r\nHMSG a.b 2 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n+OK\r\n-ERR 'Stale Connection'\r\nPING\r\n",
      ),
      'server',
    );
    splitEverywhere(
      Buffer.from('LS+ foo.>\r\nLS+ bar q 3\r\nLS- foo.>\r\nLMSG a r 2\r\nhi\r\nLMSG a + r q1 q2 1\r\nx\r\nLMSG a | q1 0\r\n\r\n'),
      'leaf',
    );
  });

  it('reads a leaf link HMSG as LMSG with headers, in the four shapes nats-server 2.9.10 sends', () => {
    // Captured between two nats-server 2.9.10 (hub and leaf): HMSG on a leaf link carries no sid.
    const stream = Buffer.from(
      'HMSG foo.b 12 15\r\nNATS/1.0\r\n\r\nhdr\r\n' +
        'HMSG foo.c r.x 12 13\r\nNATS/1.0\r\n\r\nz\r\n' +
        'HMSG work | q1 q2 12 14\r\nNATS/1.0\r\n\r\nwh\r\n' +
        'HMSG work + r.wh q1 12 12\r\nNATS/1.0\r\n\r\n\r\n',
    );
    splitEverywhere(stream, 'leaf');
    const rec = new Recorder();
    new Parser(rec, 'leaf', limits).parse(stream);
    assert.deepEqual(rec.events, [
      ['LMSG', 'foo.b', undefined, '', 12, 'NATS/1.0\r\n\r\nhdr'],
      ['LMSG', 'foo.c', 'r.x', '', 12, 'NATS/1.0\r\n\r\nz'],
      ['LMSG', 'work', undefined, 'q1,q2', 12, 'NATS/1.0\r\n\r\nwh'],
      ['LMSG', 'work', 'r.wh', 'q1', 12, 'NATS/1.0\r\n\r\n'],
    ]);
  });

  it('re-chunked random streams of mixed operations parse to the same operations', () => {
    const op = fc.oneof(
      fc.tuple(fc.constantFrom('a', 'a.b', 'x.y.z'), fc.uint8Array({ maxLength: 40 })).map(([s, p]) =>
        Buffer.concat([Buffer.from(`PUB ${s} ${p.length}\r\n`), Buffer.from(p), Buffer.from('\r\n')]),
      ),
      fc.constantFrom('SUB a 1\r\n', 'UNSUB 1\r\n', 'PING\r\n', 'PONG\r\n').map((s) => Buffer.from(s)),
      fc.string({ maxLength: 20 }).map((v) => {
        const hdr = `NATS/1.0\r\nK: ${v.replace(/[\r\n]/g, '')}\r\n\r\n`;
        const h = Buffer.byteLength(hdr);
        return Buffer.from(`HPUB h ${h} ${h + 2}\r\n${hdr}ok\r\n`);
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 10 }), (ops, cuts) => {
        const stream = Buffer.concat(ops);
        const points = [...new Set(cuts.map((c) => (stream.length ? c % stream.length : 0)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(stream.subarray(prev, p));
          prev = p;
        }
        chunks.push(stream.subarray(prev));
        assert.deepEqual(parseChunks(chunks), parseChunks([stream]));
      }),
      { numRuns: 300 },
    );
  });

  it('hands out a payload that stays intact after the read buffer is reused', () => {
    const rec = new Recorder();
    const seen: Buffer[] = [];
    rec.onPub = (_s, _r, _h, msg) => seen.push(msg);
    const p = new Parser(rec, 'client', { ...limits });
    const chunk = Buffer.from('PUB a 3\r\nabc\r\n');
    p.parse(chunk);
    const split = Buffer.from('PUB a 3\r\nxy');
    p.parse(split);
    p.parse(Buffer.from('z\r\n'));
    split.fill(0);
    assert.equal(seen[0]!.toString(), 'abc');
    assert.equal(seen[1]!.toString(), 'xyz');
  });

  describe('errors', () => {
    const cases: [string, string, string][] = [
      ['an unknown operation', 'FOO bar\r\n', Errors.unknownOp.text],
      ['MSG from a client', 'MSG a 1 0\r\n\r\n', Errors.unknownOp.text],
      ['a payload not followed by CRLF', 'PUB a 3\r\nabcd\r\n', Errors.unknownOp.text],
      ['a payload over max_payload', `PUB a ${1024 * 1024 + 1}\r\n`, Errors.maxPayload.text],
      ['a control line over max_control_line', `SUB ${'a'.repeat(5000)} 1\r\n`, Errors.maxControlLine.text],
      ['an endless control line', `SUB ${'a'.repeat(5000)}`, Errors.maxControlLine.text],
      ['PUB without a size', 'PUB a\r\n', 'Protocol Violation'],
      ['PUB with a negative size', 'PUB a -1\r\n', 'Protocol Violation'],
      ['HPUB with headers larger than the message', 'HPUB a 10 5\r\n', 'Protocol Violation'],
      ['a bare SUB', 'SUB\r\n', Errors.unknownOp.text],
      ['SUB with a space but no arguments', 'SUB \r\n', 'Protocol Violation'],
    ];
    for (const [name, input, expected] of cases) {
      it(`reports ${name} once and ignores what follows`, () => {
        const events = parseChunks([Buffer.from(input), Buffer.from('PING\r\n')]);
        assert.deepEqual(events, [['ERROR', expected]]);
      });
    }

    it('rejects a bad operation before its line ends', () => {
      assert.deepEqual(parseChunks([Buffer.from('XYZ')]), [['ERROR', Errors.unknownOp.text]]);
      assert.deepEqual(parseChunks([Buffer.from('PU')]), []);
    });
  });
});
