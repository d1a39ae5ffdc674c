// Parser micro-benchmark: what one PUB costs the client-role parser, fed 64 KiB chunks of PUB frames (a busy
// publisher's socket reads) with a handler that does nothing, so the figure is the parser's alone. Also a control
// line trickled one byte per read, the hostile path. Any Parser build can be measured, so an old and a new build
// can be compared by alternating runs:
//   node bench/dist/src/parser-bench.js [--parser <path to protocol/parser.js>] [--seconds <n>] [--payload <bytes>]
// It prints one line: ns per PUB (the median of the timed rounds, and the fastest round: less sensitive to other load on
// the machine) and ns per byte of a trickled line.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { Parser as ParserClass, ProtocolHandler } from '@event-broker/shared';

const CHUNK = 64 * 1024;

interface ParserModule {
  Parser: typeof ParserClass;
}

const noop = (): void => {};
const handler: ProtocolHandler = {
  onPubAt: noop,
  onPing: noop,
  onPong: noop,
  onProtocolError: (err, detail) => {
    throw new Error(`bench stream refused: ${err.text} (${detail})`);
  },
};

/**
 * PUB frames on one subject (publishers mostly repeat theirs), cut into 64 KiB chunks: lines and payloads split at
 * the cuts, as a socket's reads split them.
 */
function chunks(payloadBytes: number): { chunks: Buffer[]; pubs: number } {
  const payload = 'x'.repeat(payloadBytes);
  const frames: string[] = [];
  let size = 0;
  let pubs = 0;
  // 16 chunks' worth, so the cuts fall at different places in a frame.
  while (size < 16 * CHUNK) {
    const f = `PUB bench.subject.a ${payloadBytes}\r\n${payload}\r\n`;
    frames.push(f);
    size += f.length;
    pubs++;
  }
  const stream = Buffer.from(frames.join(''), 'latin1');
  const out: Buffer[] = [];
  for (let at = 0; at < stream.length; at += CHUNK) out.push(stream.subarray(at, at + CHUNK));
  return { chunks: out, pubs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      parser: { type: 'string' },
      seconds: { type: 'string', default: '3' },
      payload: { type: 'string', default: '16' },
    },
  });
  const file = values.parser === undefined ? undefined : pathToFileURL(path.resolve(values.parser)).href;
  const { Parser } = (file === undefined ? await import('@event-broker/shared') : await import(file)) as ParserModule;
  const limits = { maxControlLine: 4096, maxPayload: 1024 * 1024 };
  const { chunks: input, pubs } = chunks(Number(values.payload));
  const parser = new Parser(handler, 'client', limits);
  const pass = (): void => {
    for (const c of input) parser.parse(c);
  };
  // Warm-up: let the JIT settle on the hot path.
  const warmEnd = Date.now() + 1000;
  while (Date.now() < warmEnd) pass();
  const rounds: number[] = [];
  const end = Date.now() + Number(values.seconds) * 1000;
  while (Date.now() < end) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 10; k++) pass();
    rounds.push(Number(process.hrtime.bigint() - t0) / (10 * pubs));
  }
  // The hostile path: a 4,000-byte CONNECT one byte per read, on fresh parsers.
  const line = Buffer.from(`CONNECT {"auth_token":"${'a'.repeat(4000)}"}\r\n`);
  const bytes = [...line].map((b) => Buffer.from([b]));
  const trickle = (): number => {
    const p = new Parser({ ...handler, onConnect: noop }, 'client', limits);
    const t0 = process.hrtime.bigint();
    for (const b of bytes) p.parse(b);
    return Number(process.hrtime.bigint() - t0) / bytes.length;
  };
  for (let k = 0; k < 50; k++) trickle();
  const trickled = median(Array.from({ length: 50 }, trickle));
  console.log(
    `parser-bench: ${median(rounds).toFixed(1)} ns per PUB (fastest round ${Math.min(...rounds).toFixed(1)}; ${values.payload}-byte payload, 64 KiB chunks, median of ${rounds.length} rounds); ` +
      `${trickled.toFixed(1)} ns per byte of a line trickled one byte per read; node ${process.version}; ${values.parser ?? 'this build'}`,
  );
}

main().catch((err: Error) => {
  console.error(`parser-bench: ${err.stack ?? err.message}`);
  process.exit(1);
});
