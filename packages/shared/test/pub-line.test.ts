// The kept PUB line (protocol/pub-line.ts), which lets a repeated line skip the one-pass scan: streams that repeat a
// few lines (the same subject with other sizes, replies and op word cases, a blank more now and then, payloads off by
// one) must give the same operations parsed whole, split at every offset and fed byte by byte (the general path
// only, which never reads a kept line), and with the limits lowered between two reads as a reload does. match()
// itself is checked to find the whole line, its head and neither, so the properties compare two paths.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Parser } from '../src/protocol/index.js';
import { PubLine, PubLineMatch } from '../src/protocol/pub-line.js';
import { Recorder, chunkParser } from '@event-broker/test-support/recorder';

const parseChunks = chunkParser(Parser);
const LIMITS = { maxControlLine: 40, maxPayload: 24 };

// Subjects of lengths either side of the 4-byte words the line is compared in, and one near max_control_line.
const subject = fc.constantFrom(
  'a',
  'ab',
  'foo',
  'f.oo',
  'foo.b',
  'foo.bar',
  'foo.baz',
  'abcdefghijklmnopqrstuvwxyz.0123',
);
const reply = fc.option(fc.constantFrom('r', '_INBOX.1', '_INBOX.12', '_INBOX.123'), { nil: undefined, freq: 2 });
const size = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('0', '1', '2', '5', '16', '20', '24') },
  { weight: 1, arbitrary: fc.constantFrom('007', '25', '1x', '0000000001') },
);
const op = fc.oneof(
  { weight: 6, arbitrary: fc.constant('PUB') },
  { weight: 1, arbitrary: fc.constantFrom('pub', 'PuB') },
);
const blank = fc.oneof(
  { weight: 12, arbitrary: fc.constant(' ') },
  { weight: 1, arbitrary: fc.constantFrom('  ', '\t') },
);
const lineEnd = fc.oneof(
  { weight: 12, arbitrary: fc.constant('\r\n') },
  { weight: 1, arbitrary: fc.constantFrom('\n', ' \r\n') },
);

const frame = fc
  .record({
    op,
    b1: blank,
    subject,
    reply,
    b2: blank,
    size,
    end: lineEnd,
    off: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1) }),
  })
  .map((f) => {
    const n = Math.max(0, Math.min(30, (Number.parseInt(f.size, 10) || 0) + f.off));
    const r = f.reply === undefined ? '' : ` ${f.reply}`;
    return `${f.op}${f.b1}${f.subject}${r}${f.b2}${f.size}${f.end}${'p'.repeat(n)}\r\n`;
  });

/** A few frames, each repeated: the kept line is hit whole, by its head only, and missed. */
const stream = fc
  .array(
    fc.tuple(
      fc.oneof({ weight: 8, arbitrary: frame }, { weight: 1, arbitrary: fc.constant('PING\r\n') }),
      fc.integer({ min: 1, max: 4 }),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((parts) => Buffer.from(parts.map(([f, times]) => f.repeat(times)).join(''), 'latin1'));

const bytes = (b: Buffer) => [...b].map((x) => Buffer.from([x]));

/** Parses `first`, lowers the limits to `later`, parses `second`; each fed as `cut` gives it. */
function withReload(first: Buffer, second: Buffer, later: typeof LIMITS, cut: (b: Buffer) => Buffer[]) {
  const rec = new Recorder();
  const parser = new Parser(rec, 'client', LIMITS);
  for (const c of cut(first)) parser.parse(c);
  parser.limits = later;
  for (const c of cut(second)) parser.parse(c);
  return rec.events;
}

describe('kept PUB line', () => {
  it('parses repeating streams the same whole, split at every offset and byte by byte', () => {
    fc.assert(
      fc.property(stream, (s) => {
        const bytewise = parseChunks(bytes(s), 'client', LIMITS).events;
        assert.deepEqual(parseChunks([s], 'client', LIMITS).events, bytewise);
        for (let i = 1; i < s.length; i++) {
          assert.deepEqual(
            parseChunks([s.subarray(0, i), s.subarray(i)], 'client', LIMITS).events,
            bytewise,
            `cut at ${i}`,
          );
        }
      }),
      { seed: 0x16_0401, numRuns: 300 },
    );
  });

  it('applies limits lowered between reads to a line it kept', () => {
    fc.assert(
      fc.property(
        stream,
        stream,
        fc.record({ maxControlLine: fc.integer({ min: 4, max: 40 }), maxPayload: fc.integer({ min: 0, max: 24 }) }),
        (first, second, later) => {
          assert.deepEqual(
            withReload(first, second, later, (b) => [b]),
            withReload(first, second, later, bytes),
          );
        },
      ),
      { seed: 0x16_0402, numRuns: 1000 },
    );
    // The same line again, past the lowered max_control_line and max_payload: refused as a new line would be.
    const line = Buffer.from('PUB foo.bar 5\r\nhello\r\n', 'latin1');
    for (const later of [
      { maxControlLine: 8, maxPayload: 24 },
      { maxControlLine: 40, maxPayload: 4 },
    ]) {
      const events = withReload(line, line, later, (b) => [b]);
      assert.deepEqual(events, withReload(line, line, later, bytes));
      assert.equal(events.filter((e) => e[0] === 'PUB').length, 1, JSON.stringify(events));
    }
  });

  it('reads a kept line with one byte changed, inserted or dropped, anywhere, as the general path does', () => {
    // Any byte (NUL, tab, CR, LF, wildcards, 0x7f, 0x80-0xff) in the op word, subject, reply, size or line end, with an
    // HPUB or a SUB of the same subject around it: a line that differs from the kept one in one byte is never taken whole.
    const other = fc.constantFrom('', 'HPUB foo.bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n', 'SUB foo.bar 1\r\n');
    fc.assert(
      fc.property(
        frame,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 2 }),
        other,
        fc.nat(),
        (f, at, byte, how, o, cut) => {
          const line = Buffer.from(f, 'latin1');
          const i = at % line.length;
          const changed = Buffer.concat([
            line.subarray(0, i),
            how === 2 ? Buffer.alloc(0) : Buffer.from([byte]),
            line.subarray(how === 1 ? i : i + 1),
          ]);
          const s = Buffer.concat([line, Buffer.from(o, 'latin1'), line, changed, line]);
          const bytewise = parseChunks(bytes(s), 'client', LIMITS).events;
          assert.deepEqual(parseChunks([s], 'client', LIMITS).events, bytewise);
          const c = cut % s.length;
          assert.deepEqual(
            parseChunks([s.subarray(0, c), s.subarray(c)], 'client', LIMITS).events,
            bytewise,
            `cut at ${c}`,
          );
        },
      ),
      { seed: 0x16_0403, numRuns: 2000 },
    );
  });

  it('finds the whole kept line, its head, or neither', () => {
    const kept = new PubLine();
    const at = (text: string) => {
      const b = Buffer.from(text, 'latin1');
      return { b, view: new DataView(b.buffer, b.byteOffset, b.length) };
    };
    const first = at('xxPUB foo.bar _INBOX.1 16\r\n');
    kept.set(first.view, 2, first.b.length, 'PUB foo.bar '.length, 'foo.bar', '_INBOX.1', 16);
    const match = (text: string, limits = LIMITS, len?: number) => {
      const { b, view } = at(text);
      return kept.match(view, b, 0, len ?? b.length, limits.maxControlLine, limits.maxPayload);
    };
    assert.equal(match('PUB foo.bar _INBOX.1 16\r\nrest'), PubLineMatch.Whole);
    assert.equal(match('PUB foo.bar _INBOX.2 16\r\n'), PubLineMatch.Head);
    assert.equal(match('PUB foo.bar 16\r\n'), PubLineMatch.Head);
    // Cut by the read's end after the head: the head alone.
    assert.equal(match('PUB foo.bar _INB'), PubLineMatch.Head);
    assert.equal(match('PUB foo.bar '), PubLineMatch.None);
    // The subject differs inside the last word of the head (byte 10 of 12), in the op word's case, in its length.
    assert.equal(match('PUB foo.baz _INBOX.1 16\r\n'), PubLineMatch.None);
    assert.equal(match('pub foo.bar _INBOX.1 16\r\n'), PubLineMatch.None);
    assert.equal(match('PUB foo.barr _INBOX.1 16\r\n'), PubLineMatch.None);
    // Past limits lowered since: neither (the scan decides).
    assert.equal(match('PUB foo.bar _INBOX.1 16\r\n', { maxControlLine: 18, maxPayload: 24 }), PubLineMatch.None);
    assert.equal(match('PUB foo.bar _INBOX.1 16\r\n', { maxControlLine: 19, maxPayload: 24 }), PubLineMatch.Whole);
    assert.equal(match('PUB foo.bar _INBOX.1 16\r\n', { maxControlLine: 40, maxPayload: 15 }), PubLineMatch.None);
    // A head that ends inside a word (`PUB foo.b ` is 10 bytes): its last bytes are compared one by one.
    const short = at('PUB foo.b 5\r\n');
    kept.set(short.view, 0, short.b.length, 'PUB foo.b '.length, 'foo.b', undefined, 5);
    assert.equal(match('PUB foo.b 5\r\n'), PubLineMatch.Whole);
    assert.equal(match('PUB foo.b 6\r\n'), PubLineMatch.Head);
    assert.equal(match('PUB foo.c 5\r\n'), PubLineMatch.None);
    assert.equal(match('PUB foo.bb 5\r\n'), PubLineMatch.None);
    kept.clear();
    assert.equal(match('PUB foo.b 5\r\n'), PubLineMatch.None);
  });

  it('is what the parser reads a repeated line with', () => {
    const rec = new Recorder();
    const parser = new Parser(rec, 'client', LIMITS);
    parser.parse(Buffer.from('PUB foo.bar 2\r\nhi\r\nPUB foo.bar 2\r\nho\r\n', 'latin1'));
    const kept = (parser as unknown as { pubLine: PubLine }).pubLine;
    assert.equal(kept.length, 'PUB foo.bar 2\r\n'.length);
    assert.equal(kept.subject, 'foo.bar');
    // A line longer than the kept one may be (128 bytes; this one is 129) is read by the scan, and the kept line forgotten.
    const long = `PUB ${'s'.repeat(121)} 2\r\nhi\r\n`;
    const wide = new Parser(rec, 'client', { maxControlLine: 300, maxPayload: 24 });
    wide.parse(Buffer.from(`PUB foo.bar 2\r\nhi\r\n${long}${long}`, 'latin1'));
    assert.equal((wide as unknown as { pubLine: PubLine }).pubLine.length, 0);
    assert.deepEqual(
      rec.events.map((e) => e.slice(0, 2)),
      [
        ['PUB', 'foo.bar'],
        ['PUB', 'foo.bar'],
        ['PUB', 'foo.bar'],
        ['PUB', 's'.repeat(121)],
        ['PUB', 's'.repeat(121)],
      ],
    );
  });
});
