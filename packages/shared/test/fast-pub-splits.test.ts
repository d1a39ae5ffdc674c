// Review of issue 16's one-pass PUB reader (fast-pub.ts): whole lines take it, lines cut by a read's end take the
// general path, so a stream cut at every pair of offsets mixes the two at every boundary. Each cut must give the
// operations the stream gives fed one byte per read (general path only), with a CONNECT in the same read as the
// PUBs behind it, with and without CONNECT expected first, and paused at CONNECT as an asynchronous admission does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Parser } from '../src/protocol/index.js';
import { chunkParser } from '@event-broker/test-support/recorder';

const parseChunks = chunkParser(Parser);
/** Small limits, so the streams below reach both: `abcdefghijklmnopqrstuvw 1` is 25 bytes of arguments. */
const LIMITS = { maxControlLine: 24, maxPayload: 8 };

const STREAMS = [
  // Replies, a PING between, a zero size, the op word in lower case, a size with leading zeros.
  'CONNECT {}\r\nPUB foo.bar _INBOX.x 5\r\nhello\r\nPING\r\nPUB foo.bar 0\r\n\r\npub a 007\r\n1234567\r\n',
  // Two blanks and a trailing blank (general path), then a payload longer than its size (closes).
  'CONNECT {}\r\nPUB a 3\r\nabc\r\nPUB a  3\r\nabc\r\nPUB a 3 \r\nabc\r\nPUB a 1\r\nxx\r\n',
  // A size over max_payload, too many arguments, a line over max_control_line (each closes the stream).
  'CONNECT {}\r\nPUB a 1\r\nx\r\nPUB a 9\r\nabc\r\n',
  'CONNECT {}\r\nPUB a 1\r\nx\r\nPUB a b c 1\r\nx\r\n',
  'CONNECT {}\r\nPUB a 1\r\nx\r\nPUB abcdefghijklmnopqrstuvw 1\r\nx\r\n',
  // A size with a sign (malformed: closes without -ERR).
  'CONNECT {}\r\nPUB a 1\r\nx\r\nPUB a +1\r\nx\r\n',
];

describe('fast PUB path under every cut', () => {
  for (const expectConnect of [false, true]) {
    for (const pauseAtConnect of [false, true]) {
      it(`gives the byte-by-byte operations for every two cuts${expectConnect ? ', CONNECT expected first' : ''}${pauseAtConnect ? ', paused at CONNECT' : ''}`, () => {
        const opts = { ...LIMITS, expectConnect, pauseAtConnect };
        for (const text of STREAMS) {
          const stream = Buffer.from(text, 'latin1');
          const bytewise = parseChunks(
            [...stream].map((b) => Buffer.from([b])),
            'client',
            opts,
          ).events;
          // The stream must reach the message path at all: a property of nothing would pass.
          assert.ok(
            bytewise.some((e) => e[0] === 'PUB'),
            JSON.stringify(text),
          );
          for (let i = 0; i <= stream.length; i++) {
            for (let j = i; j <= stream.length; j++) {
              const chunks = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)].filter(
                (c) => c.length > 0,
              );
              assert.deepEqual(
                parseChunks(chunks, 'client', opts).events,
                bytewise,
                `${JSON.stringify(text)} cut at ${i} and ${j}`,
              );
            }
          }
        }
      });
    }
  }
});
