// The identity stamp a gateway puts on its clients' messages (leafnode/auth-stamp.ts): what goes on the wire holds
// exactly one Gateway-Auth header, ours, whatever header block the client wrote (copies of the header in any case,
// hidden behind a bare LF, a block cut short, a status line), however a decoder splits lines; everything else the
// client sent is kept byte for byte. Written through the real Outbound and read back with the leaf-role parser.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AUTH_HEADER,
  AUTH_STAMP_MAX_BYTES,
  authHeaderValues,
  authStamp,
  decodeAuthHeaderValue,
  encodeAuthHeaderValue,
  stampedMessage,
  withoutAuthHeader,
  writeStampedLeafMsg,
} from '../src/leafnode/index.js';
import { decodeHeaders, Outbound, Parser } from '../src/protocol/index.js';
import type { AuthContext } from '../src/server/index.js';
import { chunkParser } from '@event-broker/test-support/recorder';

const parseChunks = chunkParser(Parser);

const ALICE: AuthContext = {
  authtype: 'app_user',
  authid: 'alice',
  authclaims: '{"iss":"event-broker-dev","cert_subject":"CN=dev-client"}',
};
const STAMP = authStamp(ALICE);

/** What the hub reads: the one LMSG/HMSG the writer produced, its header block and payload apart. */
function sent(
  m: { hdrLen: number; msg: Buffer },
  stamp = STAMP,
  hubHeaders = true,
): { hdrLen: number; header: Buffer; payload: Buffer } {
  const out = new Outbound();
  const bytes = writeStampedLeafMsg(
    out,
    { subject: 's', reply: undefined, queues: [], hdrLen: m.hdrLen, msg: m.msg },
    stamp,
    hubHeaders,
  );
  const wire = Buffer.concat(out.take());
  const { events } = parseChunks([wire], 'leaf', { maxControlLine: 4096, maxPayload: 64 * 1024 * 1024 });
  assert.equal(events.length, 1, `one message: ${JSON.stringify(events)}`);
  const [op, , , , hdrLen, body] = events[0]!;
  assert.equal(op, 'LMSG');
  const msg = Buffer.from(body as string, 'latin1');
  assert.equal(bytes, msg.length, 'the byte count returned is what was sent');
  // Both writers agree: the spliced one (no copy) and the copying one (held messages).
  if (hubHeaders) assert.deepEqual(stampedMessage(m.msg, m.hdrLen, stamp), { hdrLen, msg });
  return {
    hdrLen: hdrLen as number,
    header: msg.subarray(0, hdrLen as number),
    payload: msg.subarray(hdrLen as number),
  };
}

/** The header's values as our decoder reads the block (CRLF lines), and as nats.go's textproto does (a bare LF ends a line too). */
function values(header: Buffer): { crlf: string[]; lf: string[] } {
  const crlf = authHeaderValues(decodeHeaders(header).headers);
  const lf = header
    .toString('latin1')
    .split('\n')
    .slice(1)
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => {
      const c = l.indexOf(':');
      return c > 0 && l.slice(0, c).trim().toLowerCase() === AUTH_HEADER.toLowerCase();
    })
    .map((l) => l.slice(l.indexOf(':') + 1).trim());
  return { crlf, lf };
}

function assertOnlyOurs(header: Buffer, auth = ALICE): void {
  const v = values(header);
  const ours = encodeAuthHeaderValue(auth);
  assert.deepEqual(v.crlf, [ours], `CRLF lines: ${JSON.stringify(header.toString('latin1'))}`);
  assert.deepEqual(v.lf, [ours], `LF lines: ${JSON.stringify(header.toString('latin1'))}`);
  assert.ok(
    header.toString('latin1').startsWith('NATS/1.0') || !header.toString('latin1').startsWith('NATS'),
    'the first line is kept',
  );
  assert.ok(header.subarray(-4).equals(Buffer.from('\r\n\r\n')), 'the block ends with a blank line');
}

const block = (s: string) => Buffer.from(s, 'latin1');
const withPayload = (header: string, payload: Buffer | string) => {
  const h = block(header);
  return { hdrLen: h.length, msg: Buffer.concat([h, typeof payload === 'string' ? Buffer.from(payload) : payload]) };
};

describe('the identity stamp', () => {
  it('encodes the AuthContext as one ASCII line of JSON that decodes back to it', () => {
    const auth: AuthContext = {
      authtype: 'app_user',
      authid: 'zoë 😀',
      authclaims: '{"cert_subject":"CN=Łódź\\r\\nX: y"}',
    };
    const v = encodeAuthHeaderValue(auth);
    assert.match(v, /^[\x20-\x7e]+$/, 'printable ASCII only');
    assert.deepEqual(decodeAuthHeaderValue(v), auth);
    assert.equal(authStamp(auth).block.toString('latin1'), `NATS/1.0\r\n${AUTH_HEADER}: ${v}\r\n\r\n`);
    assert.equal(authStamp(auth).tail.toString('latin1'), `${AUTH_HEADER}: ${v}\r\n\r\n`);
  });

  it('stays within AUTH_STAMP_MAX_BYTES: claims dropped first, then a long authid named by its digest', () => {
    const bigClaims = authStamp({
      authtype: 'app_user',
      authid: 'bob',
      authclaims: JSON.stringify({ cert_subject: 'x'.repeat(2000) }),
    });
    assert.ok(bigClaims.block.length <= AUTH_STAMP_MAX_BYTES);
    assert.deepEqual(decodeAuthHeaderValue(values(bigClaims.block).crlf[0]!), { authtype: 'app_user', authid: 'bob' });
    const bigId = authStamp({ authtype: 'app_user', authid: 'y'.repeat(5000) });
    assert.ok(bigId.block.length <= AUTH_STAMP_MAX_BYTES);
    const back = decodeAuthHeaderValue(values(bigId.block).crlf[0]!)!;
    assert.match(back.authid!, /^sha256:[A-Za-z0-9_-]{43}$/);
    assert.notEqual(
      back.authid,
      decodeAuthHeaderValue(values(authStamp({ authtype: 'app_user', authid: 'z'.repeat(5000) }).block).crlf[0]!)!
        .authid,
    );
  });

  it('refuses values that are not an AuthContext', () => {
    for (const v of [
      '',
      'null',
      '[]',
      '{}',
      '{"authtype":"root"}',
      '{"authtype":"app_user","authid":5}',
      '{"authtype":"app_user","authclaims":{}}',
      '{"authtype":',
    ]) {
      assert.equal(decodeAuthHeaderValue(v), undefined, v);
    }
  });

  it('gives a message without headers a header block of its own', () => {
    const s = sent({ hdrLen: 0, msg: Buffer.from('hello') });
    assert.deepEqual(s.header, STAMP.block);
    assert.equal(s.payload.toString(), 'hello');
    assertOnlyOurs(s.header);
  });

  it("adds it after the client's own headers, which are kept as they were, status line included", () => {
    const s = sent(withPayload('NATS/1.0 503\r\nA: 1\r\nB: two words\r\n\r\n', 'pay'));
    assert.equal(
      s.header.toString('latin1'),
      `NATS/1.0 503\r\nA: 1\r\nB: two words\r\n${STAMP.tail.toString('latin1')}`,
    );
    assert.equal(s.payload.toString(), 'pay');
    assertOnlyOurs(s.header);
  });

  it("removes the client's copies, in any case and spacing, and keeps its other headers", () => {
    const forged = '{"authtype":"system","authid":"root"}';
    const cases = [
      `NATS/1.0\r\n${AUTH_HEADER}: ${forged}\r\n\r\n`,
      `NATS/1.0\r\nA: 1\r\ngateway-auth: ${forged}\r\nGATEWAY-AUTH:${forged}\r\nB: 2\r\n\r\n`,
      `NATS/1.0\r\n  Gateway-Auth \t: ${forged}\r\nB: 2\r\n\r\n`,
      // Behind a bare LF: one line for a CRLF decoder, two for textproto.
      `NATS/1.0\r\nA: 1\nGateway-Auth: ${forged}\r\n\r\n`,
      // A block cut short (no blank line), or with no line end at all.
      `NATS/1.0\r\nGateway-Auth: ${forged}`,
      `NATS/1.0\r\nA: 1\r\nGateway-Auth: ${forged}\r\n`,
      // Hidden after a blank line inside the block.
      `NATS/1.0\r\nA: 1\r\n\r\nGateway-Auth: ${forged}\r\n\r\n`,
      // Blanks a CRLF decoder trims from a name: a CR, a LF before the colon.
      `NATS/1.0\r\n\r Gateway-Auth: ${forged}\r\nB: 2\r\n\r\n`,
      `NATS/1.0\r\nGateway-Auth\n: ${forged}\r\nB: 2\r\n\r\n`,
    ];
    for (const c of cases) {
      const s = sent(withPayload(c, 'p'));
      assertOnlyOurs(s.header);
      assert.equal(s.payload.toString(), 'p', c);
      const kept = decodeHeaders(s.header).headers;
      if (c.includes('A: 1\r\n')) assert.equal(kept.A, '1', c);
      if (c.includes('B: 2')) assert.equal(kept.B, '2', c);
    }
  });

  it('keeps a large payload (passed by reference) intact', () => {
    const payload = Buffer.alloc(100_000, 7);
    for (const m of [
      { hdrLen: 0, msg: payload },
      withPayload('NATS/1.0\r\nA: 1\r\n\r\n', payload),
      withPayload('NATS/1.0\r\ngateway-auth: x\r\n\r\n', payload),
    ]) {
      const s = sent(m);
      assert.deepEqual(s.payload, payload);
      assertOnlyOurs(s.header);
    }
  });

  it('sends the payload alone to a hub without headers', () => {
    const s = sent(withPayload('NATS/1.0\r\nA: 1\r\n\r\n', 'p'), STAMP, false);
    assert.equal(s.hdrLen, 0);
    assert.equal(s.payload.toString(), 'p');
  });

  it('holds for any header block a client can send (fast-check, fixed seed)', () => {
    const line = fc.oneof(
      fc.constantFrom(
        'A: 1',
        'Gateway-Auth: {"authtype":"system"}',
        'gateway-AUTH : x',
        ' Gateway-Auth: y',
        'Gateway-Auth',
        ': z',
        // U+3000 (a blank JavaScript's trim removes) in UTF-8, written byte by byte.
        '\xe3\x80\x80Gateway-Auth: w',
        'X: gateway-auth: v',
        'NATS/1.0',
        '',
        'X-Other: v',
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 20 }),
    );
    const sep = fc.constantFrom('\r\n', '\n', '\r', '');
    const blockArb = fc.array(fc.tuple(line, sep), { maxLength: 8 }).map((ls) => ls.map(([l, s]) => l + s).join(''));
    fc.assert(
      fc.property(
        fc.constantFrom('NATS/1.0\r\n', 'NATS/1.0 503\r\n', ''),
        blockArb,
        fc.constantFrom('\r\n\r\n', '\r\n', ''),
        fc.uint8Array({ maxLength: 64 }),
        (first, mid, end, payload) => {
          const header = first + mid + end;
          const m =
            header.length === 0 ? { hdrLen: 0, msg: Buffer.from(payload) } : withPayload(header, Buffer.from(payload));
          const s = sent(m);
          assertOnlyOurs(s.header);
          assert.deepEqual(s.payload, Buffer.from(payload));
        },
      ),
      { numRuns: 2000, seed: 4 },
    );
  });
});

describe('withoutAuthHeader (what comes down to clients)', () => {
  it('returns the message itself when it has no such header', () => {
    const m = withPayload('NATS/1.0\r\nA: 1\r\n\r\n', 'p');
    assert.equal(withoutAuthHeader(m.msg, m.hdrLen).msg, m.msg);
  });

  it('removes every copy and keeps the rest', () => {
    const m = withPayload(`NATS/1.0\r\nA: 1\r\n${STAMP.tail.toString('latin1')}`, 'p');
    const out = withoutAuthHeader(m.msg, m.hdrLen);
    assert.equal(out.msg.subarray(0, out.hdrLen).toString('latin1'), 'NATS/1.0\r\nA: 1\r\n\r\n');
    assert.equal(out.msg.subarray(out.hdrLen).toString(), 'p');
    const only = withoutAuthHeader(STAMP.block, STAMP.block.length);
    assert.equal(only.msg.toString('latin1'), 'NATS/1.0\r\n\r\n');
  });
});
