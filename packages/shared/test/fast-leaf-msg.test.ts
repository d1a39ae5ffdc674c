// The one-pass LMSG/HMSG reader (protocol/fast-leaf-msg.ts) against the general path: a stream of leaf message lines
// near every edge the fast path gives up at (op word case, blanks, queue markers and queue lists, bytes outside
// printable ASCII, sizes and header sizes, max_control_line, max_payload and the oversize skip, line ends, payloads
// that do not match their size) must give the same operations parsed whole, where whole lines take the fast path, as
// split at every offset, where the line cut by the split is read by the general path (line-reader.ts, then
// dispatchLine), and as fed one byte per read (every line general). scanLeafMsg itself is checked to take the lines
// it should, so the property does compare two paths.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Parser } from '../src/protocol/index.js';
import {
  LM_HDR,
  LM_REPLY_END,
  LM_REPLY_START,
  LM_SIZE,
  LM_SUBJECT_END,
  LM_SUBJECT_START,
  leafMsgArgs,
  scanLeafMsg,
} from '../src/protocol/fast-leaf-msg.js';
import { chunkParser } from '@event-broker/test-support/recorder';

const parseChunks = chunkParser(Parser);
const LIMITS = { maxControlLine: 48, maxPayload: 24 };
const SKIPPING = { ...LIMITS, skipOversize: 32 };

/** Arguments near the fast path's edges: printable words, queue markers, words it leaves to the general path. */
const word = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-zA-Z0-9._>*-]{1,12}$/) },
  { weight: 1, arbitrary: fc.constantFrom('+', '|', '++', '|x', 'a\x01b', 'é', 'x\x7f', '\xff', 'a\rb', 'a\x80') },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{30,50}$/) },
);
const size = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 34 }).map(String) },
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
  { weight: 6, arbitrary: fc.constantFrom('LMSG', 'HMSG') },
  { weight: 1, arbitrary: fc.constantFrom('lmsg', 'hMsG', 'LMSGX', 'LMS', 'XMSG', 'MSG', 'HPUB') },
);
const lineEnd = fc.oneof(
  { weight: 8, arbitrary: fc.constant('\r\n') },
  { weight: 1, arbitrary: fc.constantFrom('\n', '\r\r\n', ' \r\n') },
);

/** One leaf message frame: the line (0-3 middle arguments: reply, markers, queues), a payload of its size or near. */
const frame = fc
  .record({
    op,
    b1: blank,
    subject: word,
    middle: fc.array(fc.tuple(blank, word), { maxLength: 3 }),
    // A header size of its own, or one at the edges against the total (equal, one over, one under).
    hdr: fc.option(fc.tuple(blank, fc.oneof(size, fc.constantFrom(0, 1, -1))), { nil: undefined }),
    b2: blank,
    size,
    end: lineEnd,
    off: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1) }),
  })
  .map((f) => {
    const middle = f.middle.map(([b, w]) => b + w).join('');
    const total = Number.parseInt(f.size, 10) || 0;
    const h = f.hdr?.[1];
    const hdr = f.hdr === undefined ? '' : f.hdr[0] + (typeof h === 'number' ? String(Math.max(0, total + h)) : h);
    const n = Math.max(0, Math.min(40, (Number.parseInt(f.size, 10) || 0) + f.off));
    return `${f.op}${f.b1}${f.subject}${middle}${hdr}${f.b2}${f.size}${f.end}${'p'.repeat(n)}\r\n`;
  });

const stream = fc
  .array(fc.oneof({ weight: 8, arbitrary: frame }, { weight: 1, arbitrary: fc.constant('PING\r\n') }), {
    minLength: 1,
    maxLength: 8,
  })
  .map((frames) => Buffer.from(frames.join(''), 'latin1'));

describe('fast LMSG/HMSG path', () => {
  it('parses a stream the same whole (fast path), split at every offset and byte by byte (general path)', () => {
    fc.assert(
      fc.property(stream, fc.boolean(), (bytes, skipping) => {
        const limits = skipping ? SKIPPING : LIMITS;
        const whole = parseChunks([bytes], 'leaf', limits);
        const bytewise = parseChunks(
          [...bytes].map((b) => Buffer.from([b])),
          'leaf',
          limits,
        );
        assert.deepEqual(whole.events, bytewise.events);
        for (let at = 1; at < bytes.length; at++) {
          const split = parseChunks([bytes.subarray(0, at), bytes.subarray(at)], 'leaf', limits);
          assert.deepEqual(split.events, whole.events, `split at ${at}`);
        }
      }),
      { seed: 0x16_0002, numRuns: 1500 },
    );
  });

  it('takes LMSG and HMSG without queues, with or without a reply, in any case of the op word', () => {
    const line = Buffer.from('xxlMsG foo.bar 12\r\nhello world!\r\n', 'latin1');
    assert.equal(scanLeafMsg(line, 2, line.length, 48, 24), 19);
    assert.deepEqual([...leafMsgArgs], [7, 14, -1, leafMsgArgs[LM_REPLY_END]!, 0, 12]);
    const withReply = Buffer.from('HMSG foo _INBOX.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n', 'latin1');
    assert.equal(scanLeafMsg(withReply, 0, withReply.length, 48, 24), 25);
    assert.equal(withReply.toString('latin1', leafMsgArgs[LM_SUBJECT_START], leafMsgArgs[LM_SUBJECT_END]), 'foo');
    assert.equal(withReply.toString('latin1', leafMsgArgs[LM_REPLY_START], leafMsgArgs[LM_REPLY_END]), '_INBOX.1');
    assert.deepEqual([leafMsgArgs[LM_HDR], leafMsgArgs[LM_SIZE]], [12, 14]);
    const noReply = Buffer.from('HMSG foo 0 0\r\n\r\n', 'latin1');
    assert.equal(scanLeafMsg(noReply, 0, noReply.length, 48, 24), 14);
    assert.equal(leafMsgArgs[LM_REPLY_START], -1);
    // Arguments of exactly max_control_line bytes are allowed (`a 1` is 3).
    const edge = Buffer.from('LMSG a 1\r\nx\r\n', 'latin1');
    assert.equal(scanLeafMsg(edge, 0, edge.length, 3, 24), 10);
    assert.equal(scanLeafMsg(edge, 0, edge.length, 2, 24), -1);
  });

  it('leaves every line it cannot vouch for to the general path', () => {
    const refused = [
      'LMSG  foo 1\r\n',
      'LMSG foo  1\r\n',
      'LMSG\tfoo 1\r\n',
      'LMSG foo 1 \r\n',
      'LMSG foo 1\n',
      'LMSG fo\xe9 1\r\n',
      'LMSG foo + r q 1\r\n',
      'LMSG foo | q 1\r\n',
      'LMSG foo + 1\r\n',
      'LMSG foo | 1\r\n',
      'HMSG foo + 0 1\r\n',
      'LMSG foo bar baz 1\r\n',
      'HMSG foo bar baz 0 1\r\n',
      'LMSG foo\r\n',
      'HMSG foo 1\r\n',
      'HMSG foo 2 1\r\n',
      'LMSG foo 1234567890\r\n',
      'LMSG foo 25\r\n',
      'LMSG foo 1x\r\n',
      'LMSG foo 1\r',
      'LMSGX foo 1\r\n',
      'MSG foo 1 1\r\n',
      'LS+ foo\r\n',
    ];
    for (const l of refused) {
      const b = Buffer.from(l, 'latin1');
      assert.equal(scanLeafMsg(b, 0, b.length, 48, 24), -1, JSON.stringify(l));
    }
  });

  it('reads LMSG and HMSG from their bytes only in the roles that have them (ops.ts)', () => {
    // The op-word shortcut names LMSG/HMSG in every role; the role's own list must still refuse them.
    const unknown = [['ERROR', 'Unknown Protocol Operation']];
    for (const line of ['LMSG foo 1\r\nx\r\n', 'hMsG foo 0 1\r\nx\r\n']) {
      assert.deepEqual(parseChunks([Buffer.from(line)], 'client', LIMITS).events, unknown, `client ${line}`);
    }
    assert.deepEqual(parseChunks([Buffer.from('lmsg foo 1\r\nx\r\n')], 'server', LIMITS).events, unknown);
    // A client library's HMSG is the MSG form, with a sid.
    assert.deepEqual(parseChunks([Buffer.from('hmsg foo 9 0 1\r\nx\r\n')], 'server', LIMITS).events, [
      ['MSG', 'foo', '9', undefined, 0, 'x'],
    ]);
  });
});
