// The parser is fed each recorded stream whole, byte by byte, and split at every offset: the same operations must
// come out every way (the property the connection code relies on, since TCP splits reads anywhere).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { Errors, Parser, type ParserOptions, type ParserRole } from '../src/protocol/index.js';
import { BUFFER_OBJECT_BYTES } from '@event-broker/test-support/frames';
import { type Event, Recorder } from '@event-broker/test-support/recorder';

const limits = { maxControlLine: 4096, maxPayload: 1024 * 1024 };

function parseChunks(chunks: Buffer[], role: ParserRole = 'client', opts: Partial<ParserOptions> = {}): Event[] {
  const rec = new Recorder();
  const p = new Parser(rec, role, { ...limits, ...opts });
  for (const c of chunks) p.parse(c);
  return rec.events;
}

function splitEverywhere(stream: Buffer, role: ParserRole = 'client', opts: Partial<ParserOptions> = {}): Event[] {
  const whole = parseChunks([stream], role, opts);
  const bytes = parseChunks(
    [...stream].map((b) => Buffer.from([b])),
    role,
    opts,
  );
  assert.deepEqual(bytes, whole, 'byte by byte');
  for (let i = 1; i < stream.length; i++) {
    assert.deepEqual(parseChunks([stream.subarray(0, i), stream.subarray(i)], role, opts), whole, `split at ${i}`);
  }
  return whole;
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
        'INFO {"server_id":"x"} \r\nMSG a.b 1 5\r\nhello\r\nHMSG a.b 2 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n+OK\r\n-ERR \'Stale Connection\'\r\nPING\r\n',
      ),
      'server',
    );
    splitEverywhere(
      Buffer.from(
        'LS+ foo.>\r\nLS+ bar q 3\r\nLS- foo.>\r\nLMSG a r 2\r\nhi\r\nLMSG a + r q1 q2 1\r\nx\r\nLMSG a | q1 0\r\n\r\n',
      ),
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
      fc
        .tuple(fc.constantFrom('a', 'a.b', 'x.y.z'), fc.uint8Array({ maxLength: 40 }))
        .map(([s, p]) => Buffer.concat([Buffer.from(`PUB ${s} ${p.length}\r\n`), Buffer.from(p), Buffer.from('\r\n')])),
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

  // Issue 11: what nats-server does with odd input, and what a hostile peer must not get from us.
  describe('odd and hostile input', () => {
    it('reads PING, PONG and +OK with anything after them up to the line end (nats-server OP_PING), split anywhere', () => {
      const events = splitEverywhere(
        Buffer.from(`PING foo\r\nPINGx\r\npong\tbar\r\n+OKAY\r\nPING ${'z'.repeat(5000)}\r\nPING\r\n`),
      );
      assert.deepEqual(events, [['PING'], ['PING'], ['PONG'], ['+OK'], ['PING'], ['PING']]);
    });

    it('expecting CONNECT, refuses any other first byte at once and reads everything after a CONNECT', () => {
      for (const first of ['P', 'INFO {', 'LMSG foo 999999999999999\r\n', ' CONNECT {}\r\n', '\r\n']) {
        assert.deepEqual(
          parseChunks([Buffer.from(first)], 'client', { expectConnect: true }),
          [['ERROR', Errors.authorizationViolation.text]],
          first,
        );
      }
      assert.deepEqual(parseChunks([Buffer.from('C')], 'client', { expectConnect: true }), [], 'C may begin CONNECT');
      const events = splitEverywhere(Buffer.from('connect {}\r\nPUB a 1\r\nx\r\nPING\r\n'), 'client', {
        expectConnect: true,
      });
      assert.deepEqual(events, [['CONNECT', '{}'], ['PUB', 'a', undefined, 0, 'x'], ['PING']]);
    });

    it('bounds every message size in every role by max_payload and 9 digits before anything is held', () => {
      const over = String(limits.maxPayload + 1);
      const cases: [ParserRole, string, string][] = [
        ['client', `PUB a ${over}\r\n`, Errors.maxPayload.text],
        ['client', `HPUB a 12 ${over}\r\n`, Errors.maxPayload.text],
        ['client', 'PUB a 999999999999999\r\n', 'Protocol Violation'],
        ['client', 'HPUB a 999999999999999 999999999999999\r\n', 'Protocol Violation'],
        ['server', `MSG a 1 ${over}\r\n`, Errors.maxPayload.text],
        ['server', `HMSG a 1 r 12 ${over}\r\n`, Errors.maxPayload.text],
        ['server', 'MSG a 1 1234567890\r\n', 'Protocol Violation'],
        ['leaf', `LMSG a ${over}\r\n`, Errors.maxPayload.text],
        ['leaf', `LMSG a + r q ${over}\r\n`, Errors.maxPayload.text],
        ['leaf', `HMSG a | q 12 ${over}\r\n`, Errors.maxPayload.text],
        ['leaf', 'LMSG a 999999999999999\r\n', 'Protocol Violation'],
        ['leaf', 'HMSG a 99 12\r\n', 'Protocol Violation'],
      ];
      for (const [role, line, expected] of cases) {
        const rec = new Recorder();
        const p = new Parser(rec, role, limits);
        p.parse(Buffer.from(line));
        assert.deepEqual(rec.events, [['ERROR', expected]], `${role} ${line}`);
        assert.equal(p.retainedBytes, 0, `${role} ${line}: nothing held`);
      }
    });

    it('with skipOversize, reads past a message over max_payload without holding it and goes on, split anywhere', () => {
      // A leafnode peer's server may allow more than ours (nats-server checks no size on a leaf link): up to the
      // skip bound such a message is dropped, not the link. Small limits so every split is tried.
      const small = { maxControlLine: 256, maxPayload: 8, skipOversize: 64 };
      const big = 'x'.repeat(20);
      const hdrs = 'NATS/1.0\r\nK: v\r\n\r\n';
      const stream = Buffer.from(
        `LMSG a.big ${big.length}\r\n${big}\r\n` +
          'LMSG a.ok 2\r\nhi\r\n' +
          `HMSG a.hb + r q ${hdrs.length} ${hdrs.length + 12}\r\n${hdrs}${'y'.repeat(12)}\r\n` +
          `LMSG a | q ${64}\r\n${'z'.repeat(64)}\r\n` +
          'LS+ b\r\nPING\r\n',
      );
      const events = splitEverywhere(stream, 'leaf', small);
      assert.deepEqual(events, [
        ['OVERSIZE', 'LMSG', 'a.big', 20],
        ['LMSG', 'a.ok', undefined, '', 0, 'hi'],
        ['OVERSIZE', 'HMSG', 'a.hb', hdrs.length + 12],
        ['OVERSIZE', 'LMSG', 'a', 64],
        ['LS+', 'b', undefined, 0],
        ['PING'],
      ]);
      // Nothing of a skipped message is held, however it arrives.
      const rec = new Recorder();
      const p = new Parser(rec, 'leaf', small);
      let held = 0;
      for (const b of stream) {
        p.parse(Buffer.from([b]));
        held = Math.max(held, p.retainedBytes);
      }
      assert.ok(held <= small.maxControlLine + 2 + 8 + BUFFER_OBJECT_BYTES, `held ${held} bytes`);
      // Past the skip bound, and a skipped payload not followed by CRLF, still end the stream as before.
      assert.deepEqual(parseChunks([Buffer.from('LMSG a 65\r\n')], 'leaf', small), [['ERROR', Errors.maxPayload.text]]);
      assert.deepEqual(splitEverywhere(Buffer.from(`LMSG a 9\r\n${'x'.repeat(9)}XY`), 'leaf', small), [
        ['OVERSIZE', 'LMSG', 'a', 9],
        ['ERROR', Errors.unknownOp.text],
      ]);
      // Without the option a leaf's over-size message ends the stream, as for every other role.
      assert.deepEqual(parseChunks([Buffer.from(`LMSG a 9\r\n`)], 'leaf', { maxControlLine: 256, maxPayload: 8 }), [
        ['ERROR', Errors.maxPayload.text],
      ]);
    });

    it('holds no more of a line than max_control_line however it arrives; only a server INFO read by a leaf or a client library may be longer', () => {
      const small = { maxControlLine: 64, maxPayload: 1024 };
      for (const [role, line, expected] of [
        ['client', `INFO {"x":"${'a'.repeat(100)}"}`, Errors.maxControlLine.text],
        ['client', `SUB ${'a'.repeat(100)} 1`, Errors.maxControlLine.text],
        ['leaf', `LS+ ${'a'.repeat(100)}`, Errors.maxControlLine.text],
        ['server', `INFO {"x":"${'a'.repeat(100)}"}`, 'INFO'],
        ['leaf', `INFO {"x":"${'a'.repeat(100)}"}`, 'INFO'],
      ] as const) {
        const rec = new Recorder();
        const p = new Parser(rec, role, small);
        let held = 0;
        for (const b of Buffer.from(`${line}\r\n`)) {
          p.parse(Buffer.from([b]));
          held = Math.max(held, p.retainedBytes);
        }
        assert.equal(
          rec.events[0]?.[0] === 'INFO' ? 'INFO' : rec.events[0]?.[1],
          expected,
          `${role} ${line.slice(0, 8)}`,
        );
        if (expected !== 'INFO')
          assert.ok(held <= small.maxControlLine + 2 + 8 + BUFFER_OBJECT_BYTES, `${role}: held ${held} bytes`);
      }
      // A server's INFO has a bound of its own (maxInfoLine), past which it is refused like any other line.
      for (const role of ['server', 'leaf'] as const) {
        const events = parseChunks([Buffer.from(`INFO {"x":"${'a'.repeat(100)}"}\r\n`)], role, {
          ...small,
          maxInfoLine: 96,
        });
        assert.deepEqual(events, [['ERROR', Errors.maxControlLine.text]], role);
      }
    });

    it('holds a line trickled one byte per read in one buffer that grows with it and is dropped at its end', () => {
      // Issue 11 review 1a: a buffer per read made a 4 KB CONNECT sent a byte at a time cost ~1.3 MiB of RSS.
      const line = Buffer.from(`CONNECT {"auth_token":"${'a'.repeat(4000)}"}\r\n`);
      for (const step of [1, 2, 3, 7, 64, 1000]) {
        const rec = new Recorder();
        const p = new Parser(rec, 'client', { ...limits, expectConnect: true });
        for (let at = 0; at < line.length - 1; at += step) {
          const fed = Math.min(at + step, line.length - 1);
          p.parse(line.subarray(at, fed));
          // At most twice the bytes read so far (growth by doubling), a small first buffer, one buffer object.
          const most = Math.max(2 * fed, 256) + BUFFER_OBJECT_BYTES;
          assert.ok(
            p.retainedBytes <= most,
            `step ${step}, ${fed} bytes read: held ${p.retainedBytes} (at most ${most})`,
          );
        }
        p.parse(line.subarray(line.length - 1));
        assert.equal(rec.events.length, 1, `step ${step}: the CONNECT`);
        assert.equal(p.retainedBytes, 0, `step ${step}: nothing held once the line ended`);
      }
    });

    it('a control line trickled one byte per read costs about its bytes in memory, not an object per read', (t) => {
      // Measured, not taken from retainedBytes: heap and external memory after a full collection, with 200 parsers each
      // holding a 4,000-byte CONNECT fed one byte per parse() (a buffer per read cost ~537 KiB per parser).
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      const used = (): number => {
        gc();
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.external;
      };
      const COUNT = 200;
      const bytes = [...Buffer.from(`CONNECT {"auth_token":"${'a'.repeat(4000)}`)].map((b) => Buffer.from([b]));
      const rec = new Recorder();
      const keep: Parser[] = [];
      const before = used();
      for (let k = 0; k < COUNT; k++) {
        const p = new Parser(rec, 'client', { ...limits, expectConnect: true });
        for (const b of bytes) p.parse(b);
        keep.push(p);
      }
      const perParserKiB = (used() - before) / COUNT / 1024;
      t.diagnostic(
        `${perParserKiB.toFixed(1)} KiB per parser holding a ${bytes.length}-byte line fed one byte per read`,
      );
      // A parser's own fields (~2 KiB) and its line buffer (at most twice the line); generous for a noisy heap.
      assert.ok(perParserKiB < 16, `${perParserKiB.toFixed(1)} KiB per parser holding ${bytes.length} bytes`);
      assert.deepEqual(rec.events, [], 'every line still partial');
      assert.ok(
        keep.every((p) => p.retainedBytes > 4000),
        'each parser holds its line',
      );
    });

    it('refuses a subject, reply, queue or sid that is not UTF-8, skipping its payload, and goes on', () => {
      const notUtf8 = Buffer.from(
        'SUB a.\xff 1\r\nSUB a q\xfe 2\r\nSUB a \xff\r\nUNSUB \xff\r\nPUB a.\xc0\xaf r 2\r\nhi\r\nPUB a r.\xff 0\r\n\r\n',
        'latin1',
      );
      const events = splitEverywhere(Buffer.concat([notUtf8, Buffer.from('SUB a.é 3\r\nPING\r\n', 'utf8')]));
      assert.deepEqual(events, [
        ['REFUSED', 'SUB', Errors.invalidSubject.text],
        ['REFUSED', 'SUB', Errors.invalidSubject.text],
        ['REFUSED', 'SUB', Errors.invalidSubject.text],
        ['REFUSED', 'UNSUB', Errors.invalidSubject.text],
        ['REFUSED', 'PUB', Errors.invalidPublishSubject.text],
        ['REFUSED', 'PUB', Errors.invalidPublishSubject.text],
        ['SUB', 'a.é', undefined, '3'],
        ['PING'],
      ]);
      const leaf = splitEverywhere(Buffer.from('LS+ \xff\r\nLMSG a | q\xff 1\r\nx\r\nLS- a\r\n', 'latin1'), 'leaf');
      assert.deepEqual(leaf, [
        ['REFUSED', 'LS+', Errors.invalidSubject.text],
        ['REFUSED', 'LMSG', Errors.invalidPublishSubject.text],
        ['LS-', 'a', undefined],
      ]);
    });

    it('keeps what follows a CONNECT unparsed while paused, and parses it in order on resume', () => {
      const rec = new Recorder();
      const p = new Parser(rec, 'client', { ...limits, expectConnect: true });
      rec.onConnect = (json) => {
        rec.events.push(['CONNECT', json]);
        p.pause();
      };
      p.parse(Buffer.from('CONNECT {}\r\nSUB a 1\r\nPUB a 2\r\nh'));
      p.parse(Buffer.from('i\r\nPING\r\n'));
      assert.deepEqual(rec.events, [['CONNECT', '{}']]);
      assert.ok(p.retainedBytes > 0, 'the rest is kept');
      p.resume();
      assert.deepEqual(rec.events, [
        ['CONNECT', '{}'],
        ['SUB', 'a', undefined, '1'],
        ['PUB', 'a', undefined, 0, 'hi'],
        ['PING'],
      ]);
      assert.equal(p.retainedBytes, 0);
    });
  });
});
