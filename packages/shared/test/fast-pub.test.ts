// The one-pass PUB reader (protocol/fast-pub.ts) against the general path: a stream of PUB lines near every edge the
// fast path gives up at (op word case, blanks, bytes outside printable ASCII, sizes, max_control_line, max_payload,
// line ends, payloads that do not match their size) must give the same operations parsed whole, where whole lines
// take the fast path, as fed one byte per read, where every line is read by the general path (line-reader.ts, then
// dispatchLine). scanPub itself is checked to take the lines it should, so the property does compare two paths.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Parser } from '../src/protocol/index.js';
import {
  REPLY_END,
  REPLY_START,
  SIZE,
  SUBJECT_END,
  SUBJECT_START,
  pubArgs,
  scanPub,
} from '../src/protocol/fast-pub.js';
import { chunkParser } from '@event-broker/test-support/recorder';

const parseChunks = chunkParser(Parser);
const LIMITS = { maxControlLine: 48, maxPayload: 24 };

/** Arguments near the fast path's edges: printable words, and words with a byte it leaves to the general path. */
const word = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-zA-Z0-9._>*-]{1,12}$/) },
  { weight: 1, arbitrary: fc.constantFrom('a\x01b', 'é', 'x\x7f', '\xff', 'a\rb', '~!', 'a\x80') },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{30,50}$/) },
);
const size = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 30 }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('007', '000000000', '0000000001', '999999999', '1234567890', '-1', '1a', ''),
  },
);
const blank = fc.oneof(
  { weight: 8, arbitrary: fc.constant(' ') },
  { weight: 1, arbitrary: fc.constantFrom('  ', '\t', ' \t') },
);
const op = fc.oneof(
  { weight: 6, arbitrary: fc.constant('PUB') },
  { weight: 1, arbitrary: fc.constantFrom('pub', 'Pub', 'PUb', 'PUBX', 'HPUB') },
);
const lineEnd = fc.oneof(
  { weight: 8, arbitrary: fc.constant('\r\n') },
  { weight: 1, arbitrary: fc.constantFrom('\n', '\r\r\n', ' \r\n') },
);

/** One PUB frame: the line, and a payload of its declared size (or one byte off, now and then). */
const frame = fc
  .record({
    op,
    b1: blank,
    subject: word,
    reply: fc.option(fc.tuple(blank, word), { nil: undefined }),
    b2: blank,
    size,
    end: lineEnd,
    off: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1) }),
  })
  .map((f) => {
    const reply = f.reply === undefined ? '' : f.reply[0] + f.reply[1];
    const n = Math.max(0, Math.min(40, (Number.parseInt(f.size, 10) || 0) + f.off));
    return `${f.op}${f.b1}${f.subject}${reply}${f.b2}${f.size}${f.end}${'p'.repeat(n)}\r\n`;
  });

describe('fast PUB path', () => {
  it('parses a stream the same whole (fast path) as byte by byte (general path)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 8, arbitrary: frame }, { weight: 1, arbitrary: fc.constant('PING\r\n') }), {
          minLength: 1,
          maxLength: 12,
        }),
        (frames) => {
          const stream = Buffer.from(frames.join(''), 'latin1');
          const whole = parseChunks([stream], 'client', LIMITS);
          const bytewise = parseChunks(
            [...stream].map((b) => Buffer.from([b])),
            'client',
            LIMITS,
          );
          assert.deepEqual(whole.events, bytewise.events);
        },
      ),
      { seed: 0x16_0001, numRuns: 2000 },
    );
  });

  it('takes a plain PUB, with or without a reply, in any case of the op word', () => {
    const line = Buffer.from('xxpUb foo.bar 12\r\nhello world!\r\n', 'latin1');
    assert.equal(scanPub(line, 2, line.length, 48, 24), 18);
    assert.deepEqual(
      [...pubArgs.subarray(0, 5)].map((v, i) => (i === REPLY_END ? 0 : v)),
      [6, 13, -1, 0, 12],
    );
    const withReply = Buffer.from('PUB foo _INBOX.1 0\r\n\r\n', 'latin1');
    assert.equal(scanPub(withReply, 0, withReply.length, 48, 24), 20);
    assert.equal(withReply.toString('latin1', pubArgs[SUBJECT_START], pubArgs[SUBJECT_END]), 'foo');
    assert.equal(withReply.toString('latin1', pubArgs[REPLY_START], pubArgs[REPLY_END]), '_INBOX.1');
    assert.equal(pubArgs[SIZE], 0);
    // Arguments of exactly max_control_line bytes are allowed (`a 1` is 3).
    const edge = Buffer.from('PUB a 1\r\nx\r\n', 'latin1');
    assert.equal(scanPub(edge, 0, edge.length, 3, 24), 9);
    assert.equal(scanPub(edge, 0, edge.length, 2, 24), -1);
  });

  it('leaves every line it cannot vouch for to the general path', () => {
    const refused = [
      'PUB  foo 1\r\n',
      'PUB foo  1\r\n',
      'PUB\tfoo 1\r\n',
      'PUB foo\t1\r\n',
      'PUB foo 1 \r\n',
      'PUB foo 1\n',
      'PUB fo\xe9 1\r\n',
      'PUB f\x01o 1\r\n',
      'PUB foo bar baz 1\r\n',
      'PUB foo\r\n',
      'PUB foo 1234567890\r\n',
      'PUB foo 25\r\n',
      'PUB foo 1x\r\n',
      'PUB foo 1\r',
      'PUBX foo 1\r\n',
      'HPUB foo 1 1\r\n',
      'SUB foo 1\r\n',
    ];
    for (const l of refused) {
      const b = Buffer.from(l, 'latin1');
      assert.equal(scanPub(b, 0, b.length, 48, 24), -1, JSON.stringify(l));
    }
  });
});
