// Split reads on the client port, against every target: a fixed stream of client operations (every op kind, case and
// spacing variant, CRLF and op names inside payloads) sent one byte per write, and random streams (fast-check)
// re-chunked at random points, must give the same MSG/HMSG output as each sent whole: no parser state may depend on
// where a read ends. The operations one by one are protocol.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Endpoint, RawPool } from '@event-broker/test-support/raw';
import { pace } from '@event-broker/test-support/wait';
import { rawSuite } from './helpers/raw-suite.js';
import { targets } from './helpers/targets.js';

for (const target of targets()) {
  describe(`client protocol on the wire (${target.name})`, () => {
    const { server, pool } = rawSuite(target);

    describe('split reads', () => {
      const streamArb = opStream();

      it('a stream split at every byte gives the same MSG/HMSG output as sent whole', async () => {
        const whole = await run(server, pool, [FIXED_STREAM]);
        assert.ok(whole.length >= 10, `the fixed stream produces output: ${whole.length} records`);
        assert.deepEqual(await run(server, pool, [...FIXED_STREAM], 0), whole);
      });

      it('a stream re-chunked at random points gives the same MSG/HMSG output as sent whole', async () => {
        await fc.assert(
          fc.asyncProperty(streamArb, fc.array(fc.nat(), { maxLength: 24 }), async (stream, cuts) => {
            const whole = await run(server, pool, [stream]);
            const chunked = await run(server, pool, splitAt(stream, cuts));
            assert.deepEqual(chunked, whole);
            pool.closeAll();
          }),
          { numRuns: 12, includeErrorInReport: true },
        );
      });
    });
  });
}

const pubOp = (op: string, sep: string, args: string, body: string) =>
  `${op}${sep}${args}${sep}${body.length}\r\n${body}\r\n`;
const hpubOp = (op: string, sep: string, args: string, hdr: string, body: string) =>
  `${op}${sep}${args}${sep}${hdr.length}${sep}${hdr.length + body.length}\r\n${hdr}${body}\r\n`;

/** Every op kind, case and spacing variant, CRLF and op names inside payloads, an auto-unsubscribe. */
const FIXED_STREAM = [
  'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n',
  'SUB a 1\r\nsub  a.*\t2\r\nSUB > 3\r\nUNSUB 3 2\r\n',
  pubOp('PUB', ' ', 'a', '#1;x\r\n'),
  pubOp('pub', '  ', 'a.b r', '#2;PING\r\n'),
  hpubOp('HPUB', ' ', 'a', 'NATS/1.0\r\nK: v\r\n\r\n', '\r\n#3;MSG'),
  'PING\r\n',
  hpubOp('hpub', '\t', 'a.b\tr.x', 'NATS/1.0\r\n\r\n', '#4;'),
  'UNSUB 1\r\n',
  pubOp('PUB', ' ', 'a', '#5;'),
  pubOp('PUB', ' ', 'a.b', ''),
  hpubOp('HPUB', ' ', 'a.b', 'NATS/1.0\r\nA: 1\r\nB: 2\r\n\r\n', '#7;\x00\xff '),
  'UNSUB\t2 \r\n',
  pubOp('PUB', ' ', 'a.b', '#8;'),
  'ping\r\n',
].join('');

/** Drops every subscription the streams can make (sids 1..6), so the sentinel message is the only and last output. */
const END = 'UNSUB 1\r\nUNSUB 2\r\nUNSUB 3\r\nUNSUB 4\r\nUNSUB 5\r\nUNSUB 6\r\nSUB __end 999\r\nPUB __end 3\r\nend\r\n';

/**
 * Sends the chunks one write each (waiting for the kernel, then `gapMs`, between them) and returns everything the
 * server sent back, in canonical order (see `canonical`).
 */
async function run(server: Endpoint, pool: RawPool, chunks: string[], gapMs = 1): Promise<string[]> {
  const c = await pool.connect(server);
  for (const chunk of chunks) {
    await c.sendAndDrain(chunk);
    if (gapMs > 0) await pace(gapMs);
    else await new Promise<void>((r) => setImmediate(r));
  }
  await c.sendAndDrain(END);
  const m = await c.expect(/^[^]*MSG __end 999 3\r\nend\r\n$/, 5000);
  c.close();
  return canonical(m[0]);
}

/**
 * Splits server output into records (a PONG, or a MSG/HMSG with its payload). nats-server hands one publish to a
 * connection's matching subscriptions in map order, so records of one publish (same `#n;` payload prefix, adjacent)
 * are sorted among themselves; everything else keeps its order.
 */
function canonical(out: string): string[] {
  const records: { text: string; seq: string | undefined }[] = [];
  let i = 0;
  while (i < out.length) {
    const eol = out.indexOf('\r\n', i);
    assert.ok(eol >= 0, `truncated output at ${i}`);
    const line = out.slice(i, eol);
    i = eol + 2;
    if (line === 'PONG') {
      records.push({ text: line, seq: undefined });
      continue;
    }
    const args = line.split(' ');
    const op = args[0];
    assert.ok(op === 'MSG' || op === 'HMSG', `unexpected line ${JSON.stringify(line)}`);
    const total = Number(args[args.length - 1]);
    const hdr = op === 'HMSG' ? Number(args[args.length - 2]) : 0;
    const body = out.slice(i, i + total);
    assert.equal(out.slice(i + total, i + total + 2), '\r\n', `payload of ${JSON.stringify(line)} ends in CRLF`);
    i += total + 2;
    const seq = /^#(\d+);/.exec(body.slice(hdr))?.[1];
    records.push({ text: `${line}\r\n${body}`, seq });
  }
  const result: string[] = [];
  for (let k = 0; k < records.length;) {
    let end = k + 1;
    const seq = records[k]!.seq;
    if (seq !== undefined) while (end < records.length && records[end]!.seq === seq) end++;
    result.push(
      ...records
        .slice(k, end)
        .map((r) => r.text)
        .sort(),
    );
    k = end;
  }
  return result;
}

function splitAt(s: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((n) => 1 + (n % Math.max(1, s.length - 1))))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const p of points) {
    if (p <= from || p >= s.length) continue;
    out.push(s.slice(from, p));
    from = p;
  }
  out.push(s.slice(from));
  return out;
}

/**
 * CONNECT followed by a mix of SUB, UNSUB, PUB, HPUB and PING, with random op case and argument spacing. Every
 * publish's payload starts with its number `#n;` (see `canonical`).
 */
function opStream(): fc.Arbitrary<string> {
  type Op = (seq: number) => string;
  const ws = fc.constantFrom(' ', '  ', '\t', ' \t ');
  const opName = (name: string) => fc.constantFrom(name, name.toLowerCase());
  const subject = fc.constantFrom('a', 'b', 'a.b', 'c.d.e');
  const subSubject = fc.constantFrom('a', 'b', 'a.b', 'a.*', '*.b', '>', 'c.>');
  const sid = fc.integer({ min: 1, max: 6 }).map(String);
  // Payloads include CRLF and op-like text so a parser that looks for line ends inside payloads fails.
  const payload = fc
    .array(fc.constantFrom('x', 'y', '\r\n', 'PING\r\n', 'MSG', ' ', '\x00', '\xff'), { maxLength: 12 })
    .map((a) => a.join(''));
  const reply = fc.option(fc.constantFrom('r', 'r.x'), { nil: undefined });
  const sub = fc.tuple(opName('SUB'), ws, subSubject, ws, sid).map(
    ([op, s1, subj, s2, id]): Op =>
      () =>
        `${op}${s1}${subj}${s2}${id}\r\n`,
  );
  const unsub = fc.tuple(opName('UNSUB'), ws, sid, fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined })).map(
    ([op, s1, id, max]): Op =>
      () =>
        `${op}${s1}${id}${max === undefined ? '' : ` ${max}`}\r\n`,
  );
  const pub = fc.tuple(opName('PUB'), ws, subject, reply, payload).map(([op, s1, subj, rep, data]): Op => (seq) => {
    const body = `#${seq};${data}`;
    return `${op}${s1}${subj}${rep ? ` ${rep}` : ''} ${body.length}\r\n${body}\r\n`;
  });
  const hpub = fc
    .tuple(opName('HPUB'), subject, reply, fc.constantFrom('', 'K: v\r\n', 'A: 1\r\nB: 2\r\n'), payload)
    .map(([op, subj, rep, fields, data]): Op => (seq) => {
      const hdr = `NATS/1.0\r\n${fields}\r\n`;
      const body = `#${seq};${data}`;
      return `${op} ${subj}${rep ? ` ${rep}` : ''} ${hdr.length} ${hdr.length + body.length}\r\n${hdr}${body}\r\n`;
    });
  const ping = opName('PING').map(
    (op): Op =>
      () =>
        `${op}\r\n`,
  );
  return fc
    .array(fc.oneof(sub, sub, unsub, pub, pub, pub, hpub, hpub, ping), { minLength: 5, maxLength: 30 })
    .map(
      (ops) => `CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n${ops.map((op, i) => op(i + 1)).join('')}`,
    );
}
